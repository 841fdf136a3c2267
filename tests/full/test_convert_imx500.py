"""`pibokeh-convert --target imx500` for real: the depth-0.5 graph through the Keras rebuild, Sony's Model
Compression Toolkit and Sony's imxconv-tf (in the toolchain's own environment, .venv-imx500, which
scripts/test.sh builds and names in $PIBOKEH_IMX500_PYTHON), at the default 321x241; then the converted
network run by `pibokeh camera` on the fake AI Camera, which computes the sensor's class maps with the
converter's CPU twin of the quantized model (tests/fakes/picamera2/devices). What no test here can show:
the network on a real IMX500 (none is attached); packerOut.zip is Sony's converter's real output."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import cv2
import pytest
from pibokeh.model import open_model
from pibokeh.model.card import read_card

from tests.conftest import SHARED, VIDEO, VOC, need
from tests.full.conftest import ROOT, run_tool
from tests.helpers import error_line

pytestmark = [pytest.mark.slow, pytest.mark.tensorflow, pytest.mark.shared_data]
GRAPH = SHARED / "frozen_graphs" / "deeplabv3_mnv2_dm05_pascal.pb"
CALIB = SHARED / "calib"
FAKES = ROOT / "tests" / "fakes"


@pytest.fixture(scope="module")
def toolchain() -> str:
    python = os.environ.get("PIBOKEH_IMX500_PYTHON") or str(ROOT / ".venv-imx500" / "bin" / "python")
    if not Path(python).is_file():
        pytest.skip("the AI Camera toolchain's environment is not built: scripts/setup.sh imx500 "
                    "(scripts/test.sh builds it and sets PIBOKEH_IMX500_PYTHON)")
    return python


@pytest.fixture(scope="module")
def converted(toolchain, tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path_factory.mktemp("imx500") / "mnv2_dm05_imx500"
    proc = run_tool("pibokeh-convert", need(GRAPH), "--target", "imx500", "-o", out, "--calib", need(CALIB),
                    "--eval", need(VOC), "--threads", "2", "--quiet", env={"PIBOKEH_IMX500_PYTHON": toolchain})
    assert proc.returncode == 0, proc.stderr
    return proc, out


def test_it_writes_the_packer_the_card_and_the_memory_report(converted):
    proc, out = converted
    with zipfile.ZipFile(out / "packerOut.zip") as packer:  # Sony's converter's output, as imx500-package takes it
        assert {"dnnParams.xml", "manifest.json", "l2staticData.bin"} <= set(packer.namelist())
    card = read_card(out / "network.rpk")  # the runtime reads it beside the packaged network
    assert card["target"] == "imx500" and card["file"] == "network.rpk" and card["output_stride"] == 16
    assert (card["input"]["width"], card["input"]["height"]) == (321, 241)
    assert card["input"]["quantization"] == {"scale": 0.0078125, "zero_point": 0}  # (x - 127.5) / 127.5 as int8
    assert card["output"]["kind"] == "labels" and card["output"]["shape"] == [241, 321]
    chip = card["imx500"]
    assert chip["fits"] is True and chip["memory_report"]["Fit In Chip"] is True
    assert 0 < chip["memory_usage_mb"] <= chip["chip_mb"] == 8.0 and chip["input_persistent"] is False
    assert chip["packer"]["size_bytes"] == (out / "packerOut.zip").stat().st_size
    assert (out / "network_MemoryReport.json").is_file() and (out / "dnnParams.xml").is_file()
    assert card["converter"]["model-compression-toolkit"] and card["converter"]["imx500-converter"]
    assert "sensor memory" in proc.stdout and "fits" in proc.stdout
    assert "imx500-package -i mnv2_dm05_imx500/packerOut.zip" in proc.stdout


def test_the_rebuild_labels_like_the_graph_and_the_quantized_model_keeps_its_accuracy(converted):
    _, out = converted
    v = json.loads((out / "network.json").read_text())["validation"]
    assert v["images"] == 31 and v["cropped_to_aspect"]["aspect"] == "321x241"
    assert v["rebuild"]["agreement_with_graph"] >= 0.995  # the Keras rebuild is the graph
    assert v["miou_drop_points"] <= 1.5  # the goal: MCT int8 within 1.5 mIoU points of float
    assert v["model"]["miou"] > 0.45 and v["model"]["person_iou"] > 0.6 and v["agreement"] > 0.95
    picture = cv2.imread(str(out / v["picture"]))
    assert picture is not None and picture.shape[1] == 4 * 256  # image | float | quantized | disagreement


def test_the_cpu_twin_is_the_quantized_model_on_the_edge_runtime(converted):
    _, out = converted
    twin = open_model(out / "network_cpu.tflite", threads=2)  # ai_edge_litert, as a Pi would run it
    assert twin.input_size == (241, 321) and twin.output_kind == "labels"
    cpu = json.loads((out / "network.json").read_text())["validation"]["cpu_twin"]
    assert cpu["agreement_with_quantized"] > 0.95


def test_camera_runs_the_converted_network_on_the_fake_ai_camera(converted, tmp_path):
    """What the Pi does after deploying it: imx500-package makes network.rpk (the stand-in copies the
    zip, as the fake helper reads its dnnParams.xml), and `pibokeh camera --source picamera2` runs it."""
    _, out = converted
    shutil.copyfile(out / "packerOut.zip", out / "network.rpk")
    record = tmp_path / "rec.mp4"
    env = os.environ | {"PYTHONPATH": str(FAKES), "FAKE_PICAMERA2_MODEL": "imx500",
                        "FAKE_PICAMERA2_VIDEO": str(need(VIDEO)), "PIBOKEH_HOME": str(tmp_path)}
    proc = subprocess.run([str(Path(sys.executable).with_name("pibokeh")), "camera", "--source", "picamera2",
                           "--model", str(out / "network.rpk"), "--size", "640x480", "--max-frames", "15",
                           "--record", str(record), "--background", "#00ff00"],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "converted by pibokeh for the AI Camera" in proc.stderr and "on imx500" in proc.stderr
    cap = cv2.VideoCapture(str(record))
    frames = []
    while (ok := cap.read())[0]:
        frames.append(ok[1])
    assert len(frames) >= 13
    f = frames[-1].astype(int)
    green = (f[..., 1] > 180) & (f[..., 0] < 90) & (f[..., 2] < 90)
    # the person of the clip kept, the rest replaced: at 4:3 the close-up person fills most of the view
    # (Coral's DeepLab on the CPU calls 79 % of such a frame "person", the converted network 85 %)
    assert 0.05 < green.mean() < 0.5, green.mean()


def test_without_the_toolchain_it_says_what_to_install(tmp_path):
    for python, expected in ((str(tmp_path / "nowhere" / "python"), "no such Python"),
                             (sys.executable, "does not have it: scripts/setup.sh imx500")):
        proc = run_tool("pibokeh-convert", need(GRAPH), "--target", "imx500", "-o", tmp_path / "m",
                        "--calib", CALIB, "--eval", VOC, env={"PIBOKEH_IMX500_PYTHON": python})
        assert proc.returncode == 2 and expected in error_line(proc.stderr), proc.stderr
    assert not (tmp_path / "m").exists()
