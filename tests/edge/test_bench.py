"""`pibokeh bench`: short real runs (few frames) so the benchmark cannot rot; structure and sanity only,
never timing thresholds."""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import pibokeh
from pibokeh import bench
from pibokeh import styles
from pibokeh.chain import Chain, Recipe
from pibokeh.model import open_model
from pibokeh.options import frame_size

from tests.conftest import CORAL, CORAL_DM05, FLOAT257, TINY, TINY_LABELS, VIDEO, need
from tests.helpers import iou, one_line_error, scene


def run_json(pibokeh, *args) -> tuple[dict, float]:
    """`pibokeh bench --json ARGS`: its result, and how long the process took."""
    start = time.monotonic()
    proc = pibokeh("bench", "--json", *args)
    seconds = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), seconds


def check_run(run: dict, seconds: float) -> None:
    """The figures of one run of a `pibokeh bench` process that took `seconds`, wall clock."""
    assert list(run["stages"]) == list(bench.STAGES)
    assert all(stage["median_ms"] > 0 for stage in run["stages"].values())  # every stage was timed
    # every stage is part of the frame, so the frame takes longer than each stage (frame by frame,
    # hence also in the median)
    e2e = run["end_to_end"]
    assert e2e["median_ms"] >= max(s["median_ms"] for s in run["stages"].values())
    # the timed frames fit in the time the whole process ran
    assert 0 < run["frames"] / run["fps"] < seconds
    assert run["postprocess_ratio"] > 0 and run["non_inference_ratio"] > run["postprocess_ratio"]
    assert 20 < run["peak_rss_mb"] < 4000


def test_several_models_and_thread_counts_in_one_run(pibokeh):
    out, seconds = run_json(pibokeh, "-m", need(CORAL), "-m", need(FLOAT257), "--threads", "1,2",
                            "--frames", "2", "--warmup", "0")
    assert [(Path(r["model"]).name, r["threads"]) for r in out["runs"]] == [
        (CORAL.name, 1), (CORAL.name, 2), (FLOAT257.name, 1), (FLOAT257.name, 2)]
    assert [r["input_size"] for r in out["runs"]] == [[513, 513]] * 2 + [[257, 257]] * 2
    assert {r["backend"] for r in out["runs"]} == {"ai_edge_litert"}
    for run in out["runs"]:
        check_run(run, seconds)
        assert run["frames"] == 2
    assert sum(run["frames"] / run["fps"] for run in out["runs"]) < seconds  # the runs came one after another
    assert out["size"] == [640, 480] and out["input"] == "synthetic frames"
    assert out["failed"] == [] and out["peak_rss_mb"] >= max(r["peak_rss_mb"] for r in out["runs"])
    assert out["host"]["cpus"] >= 1


def test_video_frames_at_a_given_size_find_the_person(pibokeh):
    out, seconds = run_json(pibokeh, "-m", need(CORAL_DM05), "--input", need(VIDEO), "--size", "320x240",
                            "--frames", "3", "--threads", "1")
    assert out["size"] == [320, 240] and "video" in out["input"]
    run = out["runs"][0]
    check_run(run, seconds)
    # a person fills part of every frame of this clip: the timed pipeline really segments it
    assert 0.05 < run["foreground"] < 0.98


def test_images_and_tflite_runtime_and_exact_blur(pibokeh, tmp_path):
    images = [tmp_path / "a.jpg", tmp_path / "b.jpg"]
    for t, image in enumerate(images):
        cv2.imwrite(str(image), scene((300, 200), t)[0])
    out, seconds = run_json(pibokeh, "-m", TINY, "--input", *images, "--frames", "2", "--threads", "1",
                            "--backend", "tflite_runtime", "--exact", "--blur-kernel", "51")
    assert out["runs"][0]["backend"] == "tflite_runtime"
    assert out["background"] == "exact blur 51"
    first = cv2.imread(str(images[0]))
    assert out["size"] == [first.shape[1], first.shape[0]]
    check_run(out["runs"][0], seconds)
    # the red block of scene() is a third of the width and half the height: 1/6 of each picture
    assert out["runs"][0]["foreground"] == pytest.approx(1 / 6, abs=0.03)


def test_table_for_people(pibokeh):
    proc = pibokeh("bench", "-m", TINY, "-m", TINY_LABELS, "--frames", "1", "--threads", "1",
                   "--size", "160x120")
    assert proc.returncode == 0, proc.stderr
    for label in bench.STAGE_LABELS.values():
        assert label in proc.stdout
    assert "160x120" in proc.stdout and "fps" in proc.stdout and "peak RSS" in proc.stdout
    assert TINY.name in proc.stdout and TINY_LABELS.name in proc.stdout
    assert proc.stdout.count("end to end") == 2
    assert "infer ms" in proc.stdout  # the comparison table of several runs


@pytest.mark.parametrize("style", [styles.Style(), styles.Style(exact=True, feather=9),
                                   styles.Style(styles.Color((0, 255, 0))), styles.Style(styles.Transparent(), feather=5)],
                         ids=["blur", "exact-feather", "colour", "transparent"])
def test_timed_stages_are_the_blur_pipeline(style):
    """The bench times the chain `pibokeh blur` runs, every stage of it: the same mask and output frame
    as the Python API's (which the command calls), and a time for each stage."""
    seg = open_model(TINY, threads=1)
    frame, truth = scene((480, 270), 2)
    clock = bench.StageClock()
    times, mask, out = bench.time_stages(Chain(seg, Recipe((15,), style), clock.record), frame, clock)
    assert len(times) == len(bench.STAGES) - 1 and all(t > 0 for t in times)
    assert np.array_equal(mask, pibokeh.mask(frame, seg, exact=style.exact)) and iou(mask, truth) > 0.9
    assert np.array_equal(out, pibokeh.blur(frame, seg, background=style.background, feather=style.feather,
                                            exact=style.exact))


def test_synthetic_frames_are_deterministic_pictures():
    a, b = bench.synthetic_frame((64, 48), 3), bench.synthetic_frame((64, 48), 3)
    assert a.shape == (48, 64, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, bench.synthetic_frame((64, 48), 4))
    assert a.std() > 10  # texture, not a flat card


def test_parse_size():
    assert frame_size("1920x1080") == (1920, 1080)
    for bad in ("1920", "x", "0x10", "10x-1", "axb", "99999x10"):
        with pytest.raises(argparse.ArgumentTypeError, match="WIDTHxHEIGHT"):
            frame_size(bad)


@pytest.mark.parametrize("args, words", [
    (["--size", "1920"], "WIDTHxHEIGHT"),
    (["--threads", "1,0"], "a thread count from 1 to 64"),
    (["--frames", "0"], "positive"),
    (["--input", "/no/such/file.jpg"], "no such file"),
    (["--threads", "1,999"], "from 1 to 64"),
    (["--classes", "unicorn"], "unicorn"),
    (["--warmup", "-1"], "warmup"),
])
def test_bad_arguments_one_line(pibokeh_main, args, words):
    line = one_line_error(pibokeh_main("bench", "-m", TINY, "--frames", "1", *args))
    assert words in line and "\n" not in line


def test_a_bad_model_is_reported_and_the_others_still_run(pibokeh, tmp_path):
    bad = tmp_path / "broken.tflite"
    bad.write_bytes(b"not a model at all")
    before = bad.read_bytes()
    proc = pibokeh("bench", "--json", "-m", bad, "-m", TINY, "--frames", "1", "--threads", "1")
    assert proc.returncode == 1, proc.stderr
    out = json.loads(proc.stdout)
    assert [Path(r["model"]).name for r in out["runs"]] == [TINY.name]
    assert out["failed"][0]["model"] == str(bad) and "TFL3" in out["failed"][0]["reason"]
    assert "broken.tflite" in proc.stderr and "Traceback" not in proc.stderr
    assert bad.read_bytes() == before
    only_bad = pibokeh("bench", "-m", bad, "--frames", "1")
    line = one_line_error(only_bad)
    assert "broken.tflite" in line and "\n" not in line
