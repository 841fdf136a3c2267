"""scripts.benchmarks.fast_models: a short real run on the tiny DeepLab-shaped graph (converted at
output stride 8 and 16, 513x513 and 513x289, with --eval), both interpreters, and the real reference
graph at 1080p, so the fast-model benchmark cannot rot. Checked against what is known apart from the
code (the compute of a shape, the published Pi figures), never timing thresholds."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.benchmarks import fast_models, model_matrix
from tests.conftest import ROOT, SHARED, need
from tests.helpers import one_line_error

pytestmark = [pytest.mark.slow, pytest.mark.tensorflow]
GRAPH = SHARED / "frozen_graphs" / "deeplabv3_mnv2_dm10_pascal_weightquant.pb"


def run(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scripts.benchmarks.fast_models", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, timeout=1200)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("bench-models")


@pytest.fixture(scope="module")
def measured(workdir, tiny_pb, photos, clip) -> dict:
    """The recommended shape (stride 16, 513x289) and the default (stride 8, 513x513) of the tiny graph."""
    proc = run("--json", "--workdir", workdir, "--graph", f"1.0={tiny_pb}", "--models", "1.0:8:513x513,1.0:16:513x289",
               "--calib", photos, "--calib-count", "6", "--voc", photos, "--video", clip,
               "--reference-graph", need(GRAPH), "--threads", "1", "--rounds", "1", "--frames", "1")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_every_model_is_converted_described_and_scored(measured, photos):
    rows = {(r["stride"], r["width"], r["height"]): r for r in measured["models"]}
    assert set(rows) == {(8, 513, 513), (16, 513, 289)}
    assert measured["failed"] == []
    for (stride, width, height), r in rows.items():
        # what `pibokeh info` read from each converted file is what was asked of the converter
        assert r["output_stride"] == stride and r["input"] == [height, width]
        acc = r["accuracy"]
        assert acc["images"] == len(list(photos.glob("*_gt.png")))
        # a frame-shaped model is judged on the images cropped to its aspect, the square one as they are
        assert (acc["cropped"] is not None) == (width != height)
    # the same layers on 289/513 of the area cost 289/513 of the work; stride 16 then runs the deeper
    # layers at half the resolution: less than that
    assert rows[(16, 513, 289)]["macs"] < 289 / 513 * rows[(8, 513, 513)]["macs"]


def test_latency_with_both_interpreters_and_ratios_to_the_default(measured):
    for r in measured["models"]:
        assert set(r["latency"]) == {"ai_edge_litert 1", "tflite_runtime 1"}
        assert set(r["latency_ratio"]) == set(r["latency"])
    default = next(r for r in measured["models"] if (r["stride"], r["width"], r["height"]) == (8, 513, 513))
    assert all(v == 1.0 for v in default["latency_ratio"].values())


def test_end_to_end_against_the_reference_at_1080p(measured):
    for r in measured["models"]:
        assert r["frames"] == "1920x1080" and r["e2e"]["1920x1080"]["frames"] == 1
    comparisons = measured["comparisons"]
    assert {(Path(c["model"]).name, tuple(c["size"])) for c in comparisons} == {
        (f"{r['name']}.tflite", (1920, 1080)) for r in measured["models"]}
    assert [t["goal"] for t in measured["targets"]] == [">= 15x", ">= 97 %", "within 2.5 points"]


def test_the_section_and_the_readme_table(measured):
    page = fast_models.render(measured)
    assert "## Fast models" in page and "an estimate, not a measurement" in page
    assert "**depth 1.0, stride 16, 513x289**" in page and "Where the time goes at 1920x1080" in page
    assert "aallan/benchmarking-ml-on-the-edge" in page and "82.7 ms" in page and "16.9 ms" in page
    readme = fast_models.readme_table(measured)
    assert readme.count("\n") == 1 + 2  # header, rule, the default and the 513x289 model


def test_a_second_run_converts_nothing(measured, workdir, tiny_pb, photos):
    specs = model_matrix.matrix({"1.0": tiny_pb}, (16,), ((513, 289),))
    model = workdir / "mnv2_dm10_os16_513x289_int8.tflite"
    before = model.stat().st_mtime_ns
    made, failed = model_matrix.convert(specs, workdir, photos, photos, 6)
    assert failed == [] and [m["name"] for m in made] == ["mnv2_dm10_os16_513x289_int8"]
    assert model.stat().st_mtime_ns == before and made[0]["card"]["output_stride"] == 16


def test_missing_data_is_one_line(tmp_path):
    line = one_line_error(run("--graph", f"1.0={tmp_path / 'none.pb'}", "--workdir", tmp_path))
    assert line.startswith("fast_models: error:") and "none.pb" in line
