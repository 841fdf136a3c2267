"""scripts/bench_models.py: a short real run on the tiny DeepLab-shaped graph (converted at output
stride 8 and 16, 513x513 and 513x289, with --eval), both interpreters, and the real reference
graph at 1080p, so the fast-model benchmark cannot rot. Structure and sanity only, never timing
thresholds."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, SHARED, need

SCRIPT = ROOT / "scripts" / "bench_models.py"
GRAPH = SHARED / "frozen_graphs" / "deeplabv3_mnv2_dm10_pascal_weightquant.pb"
sys.path.insert(0, str(ROOT / "scripts"))
import bench_models  # noqa: E402


def run(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=1200)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("bench-models")


@pytest.fixture(scope="module")
def measured(workdir, tiny_pb, photos, clip) -> dict:
    """The recommended shape (stride 16, 513x289) and the default (stride 8, 513x513) of the tiny graph."""
    proc = run("--json", "--workdir", workdir, "--graph", f"1.0={tiny_pb}", "--models", "1.0:8:513x513,1.0:16:513x289",
               "--calib", photos, "--calib-count", "6", "--voc", photos,
               "--video", clip, "--reference-graph", need(GRAPH), "--threads", "1", "--rounds", "1",
               "--frames", "1")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_every_model_is_converted_described_and_scored(measured):
    rows = {(r["stride"], r["width"], r["height"]): r for r in measured["models"]}
    assert set(rows) == {(8, 513, 513), (16, 513, 289)}
    assert measured["failed"] == []
    for (stride, width, height), r in rows.items():
        assert r["output_stride"] == stride and r["input"] == [height, width] and r["macs"] > 0
        assert Path(r["path"]).is_file() and r["size_mb"] > 0
        acc = r["accuracy"]
        assert 0 < acc["miou"] <= 1 and 0 < acc["baseline_miou"] <= 1 and acc["images"] == 12
        # a frame-shaped model is judged on the images cropped to its aspect, the square one as they are
        assert (acc["cropped"] is not None) == (width != height)
    # compute follows the shape: stride 16 and the 16:9 input cost less than the default
    assert rows[(16, 513, 289)]["macs"] < rows[(8, 513, 513)]["macs"]


def test_latency_with_both_interpreters_and_ratios_to_the_default(measured):
    for r in measured["models"]:
        assert set(r["latency"]) == {"ai_edge_litert 1", "tflite_runtime 1"}
        assert all(ms > 0 for ms in r["latency"].values())
        assert set(r["latency_ratio"]) == set(r["latency"])
    default = next(r for r in measured["models"] if (r["stride"], r["width"]) == (8, 513) and r["height"] == 513)
    assert all(v == 1.0 for v in default["latency_ratio"].values())


def test_end_to_end_against_the_reference_at_1080p(measured):
    for r in measured["models"]:
        assert r["frames"] == "1920x1080"
        e2e = r["e2e"]["1920x1080"]
        assert e2e["speedup"] > 0 and e2e["reference_ms"] > e2e["ms"] > 0 and 0 <= e2e["agreement"] <= 1
    targets = measured["targets"]
    assert [t["goal"] for t in targets] == [">= 15x", ">= 97 %", "within 2.5 points"]
    assert all(isinstance(t["met"], bool) for t in targets)


def test_pi_estimate_is_the_published_figure_scaled_by_compute(measured):
    published = bench_models.PUBLISHED
    for r in measured["models"]:
        for pi, ms in published["ms"].items():
            assert r["pi"][pi] == pytest.approx(ms / published["gmacs"] * r["macs"] / 1e9, abs=0.06)
    assert "Raspberry Pi 4" in measured["which_model"] and "Raspberry Pi 5" in measured["which_model"]


def test_the_page_section_and_the_readme_table(measured):
    page = bench_models.section(measured)
    assert "## Fast models" in page and "an estimate, not a measurement" in page
    assert "**depth 1.0, stride 16, 513x289**" in page and "Where the time goes at 1920x1080" in page
    assert published_source_named(page)
    readme = bench_models.readme_table(measured)
    assert readme.count("\n") == 1 + 2  # header, rule, the default and the 513x289 model


def published_source_named(text: str) -> bool:
    return "aallan/benchmarking-ml-on-the-edge" in text and "82.7 ms" in text and "16.9 ms" in text


def test_a_second_run_converts_nothing(measured, workdir, tiny_pb, photos):
    specs = bench_models.matrix({"1.0": tiny_pb}, (16,), ((513, 289),))
    made, failed = bench_models.convert(specs, workdir, photos, photos, 6)
    assert failed == [] and [m["name"] for m in made] == ["mnv2_dm10_os16_513x289_int8"]
    assert made[0]["card"]["output_stride"] == 16


def test_missing_data_is_one_line(tmp_path):
    proc = run("--graph", f"1.0={tmp_path / 'none.pb'}", "--workdir", tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("bench_models: error:")
