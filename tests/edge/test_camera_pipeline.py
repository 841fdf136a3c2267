"""The threaded pipeline: latest-frame-wins, --infer-every, --smooth, live updates, reconnects, limits."""
from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest
from pibokeh import core
from pibokeh.camera.pipeline import END, Latest, LiveSettings, Pipeline, binarize, smooth_mask
from pibokeh.camera.snapshots import SnapshotSink
from pibokeh.camera.sources import LiveSource, SourceLost
from pibokeh.errors import InputError
from pibokeh.frames import FrameSink
from pibokeh.model import Segmenter
from pibokeh.video import VideoFileSink

from tests.conftest import TINY


class Synthetic(LiveSource):
    """Grey frames at `fps`; frame i has level i % 200. Raises SourceLost after `lose_after` frames."""

    def __init__(self, fps: float = 100.0, size=(160, 120), frames: int = 0, lose_after: int = 0):
        self.fps, self.size, self.name = fps, size, "synthetic"
        self.frames, self.lose_after, self.count = frames, lose_after, 0
        self.closed = False

    def read(self):
        if self.frames and self.count >= self.frames:
            return None
        if self.lose_after and self.count >= self.lose_after:
            raise SourceLost("synthetic: unplugged")
        time.sleep(1.0 / self.fps)
        self.count += 1
        return np.full((self.size[1], self.size[0], 3), self.count % 200, np.uint8)

    def close(self):
        self.closed = True


class Collect(FrameSink):
    def __init__(self, delay: float = 0.0):
        self.frames: list[np.ndarray] = []
        self.delay = delay

    def write(self, frame):
        time.sleep(self.delay)
        self.frames.append(frame)


@pytest.fixture(scope="module")
def segmenter():
    return Segmenter(TINY, threads=1)


def run(pipeline: Pipeline, timeout: float = 60.0) -> Pipeline:
    pipeline.start()
    assert pipeline.wait(timeout), "pipeline did not finish"
    pipeline.join()
    return pipeline


# ---- building blocks --------------------------------------------------------------------------------

def test_latest_keeps_only_the_newest_and_counts_drops():
    box = Latest()
    for i in range(5):
        box.put(i)
    assert box.get(0) == 4 and box.dropped == 4
    assert box.get(0.01) is None  # nothing new
    box.put(END)
    box.put(7)  # nothing overtakes the end of the stream
    assert box.get(0) is END


def test_latest_get_wakes_on_close():
    box = Latest()
    threading.Timer(0.05, box.close).start()
    assert box.get(5.0) is None


def test_smoothing_stops_a_flickering_edge():
    steady = np.zeros((4, 4), np.uint8)
    steady[:, :2] = 255
    flicker = steady.copy()
    flicker[:, 2] = 255  # one column that comes and goes
    average, shown = None, []
    for i in range(20):
        average = smooth_mask(average, flicker if i % 2 else steady, keep=0.7)
        shown.append(binarize(average, shown[-1] if shown else None))
    assert all(np.array_equal(m, shown[-1]) for m in shown[2:])  # no flicker once settled
    raw = [flicker if i % 2 else steady for i in range(20)]
    assert not all(np.array_equal(m, raw[-1]) for m in raw[2:])  # while the input does flicker
    mask = shown[-1]
    for _ in range(10):  # a real change still comes through: the person steps right
        average = smooth_mask(average, flicker, keep=0.7)
        mask = binarize(average, mask)
    assert np.array_equal(mask, flicker)


# ---- the pipeline --------------------------------------------------------------------------------

def test_max_frames_gives_exactly_that_many_composited_frames(segmenter, tmp_path):
    green = LiveSettings(style=core.Style(background=core.Color((0, 255, 0))))
    sink = VideoFileSink(tmp_path / "out.mp4", 25, (160, 120))
    collect = Collect()
    source = Synthetic()
    pipeline = run(Pipeline(source, segmenter, green, [sink, collect], max_frames=12))
    sink.close()
    assert pipeline.error is None and pipeline.stats.frames_out == 12 and len(collect.frames) == 12
    # a grey frame holds no person: every pixel is background, painted green
    assert all(np.all(f == (0, 255, 0)) for f in collect.frames)
    cap = cv2.VideoCapture(str(tmp_path / "out.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
    assert source.closed


def test_finite_source_ends_the_pipeline(segmenter):
    collect = Collect()
    pipeline = run(Pipeline(Synthetic(frames=6, fps=30), segmenter, LiveSettings(), [collect]))
    assert pipeline.error is None and 1 <= len(collect.frames) <= 6
    assert pipeline.snapshot()["state"] == "finished"


def test_a_slow_output_drops_frames_instead_of_building_latency(segmenter):
    slow = Collect(delay=0.08)
    pipeline = run(Pipeline(Synthetic(fps=100), segmenter, LiveSettings(), [slow], duration=1.5))
    stats = pipeline.snapshot()
    assert stats["dropped"] > stats["frames_out"]  # most frames were skipped, not queued
    assert stats["frames_in"] > 2 * stats["frames_out"]
    # latency stays about one frame per stage, not the length of a queue (1.5 s of frames)
    assert stats["ms"]["latency"] < 600
    levels = [int(f[0, 0, 0]) for f in slow.frames]
    assert levels == sorted(levels) and len(set(levels)) == len(levels)  # newest frames, in order


def test_infer_every_reuses_the_mask(segmenter):
    collect = Collect()
    pipeline = run(Pipeline(Synthetic(fps=40), segmenter, LiveSettings(infer_every=4), [collect], max_frames=20))
    stats = pipeline.snapshot()
    segmented = stats["frames_in"] - pipeline._frames.dropped
    assert stats["inferences"] <= -(-segmented // 4) + 1
    assert stats["inferences"] < stats["frames_out"]


def test_update_changes_the_look_without_stopping(segmenter):
    collect = Collect()
    pipeline = Pipeline(Synthetic(fps=50), segmenter, LiveSettings(style=core.Style(background=core.Color((0, 0, 255)))),
                        [collect], max_frames=60)
    pipeline.start()
    while len(collect.frames) < 10:
        time.sleep(0.01)
    pipeline.update(LiveSettings(style=core.Style(background=core.Color((255, 0, 0)))))
    assert pipeline.wait(60)
    pipeline.join()
    assert np.all(collect.frames[0] == (0, 0, 255)) and np.all(collect.frames[-1] == (255, 0, 0))
    assert pipeline.stats.reloads == 1 and pipeline.stats.frames_out == 60


def test_a_lost_source_is_reopened(segmenter):
    logs: list[str] = []
    reopened = []

    def reopen():
        if not reopened:
            reopened.append("failed")
            raise InputError("synthetic: not back yet")
        reopened.append("ok")
        return Synthetic()
    first = Synthetic(lose_after=5)
    pipeline = run(Pipeline(first, segmenter, LiveSettings(), [Collect()], reopen=reopen, max_frames=15,
                            backoff=0.01, log=logs.append))
    assert pipeline.error is None and pipeline.stats.frames_out == 15
    assert pipeline.stats.reconnects == 1 and reopened == ["failed", "ok"] and first.closed
    assert any("not back yet" in line for line in logs)


def test_a_source_lost_for_good_ends_with_an_error(segmenter, tmp_path):
    sink = VideoFileSink(tmp_path / "kept.mp4", 25, (160, 120))

    def reopen():
        raise InputError("synthetic: no such camera")
    pipeline = run(Pipeline(Synthetic(lose_after=8), segmenter, LiveSettings(), [sink], reopen=reopen,
                            retries=2, backoff=0.01, log=lambda m: None))
    sink.close()
    assert "gave up after 2 reconnect attempts" in pipeline.error
    assert pipeline.snapshot()["state"] == "failed"
    cap = cv2.VideoCapture(str(tmp_path / "kept.mp4"))  # what was recorded before is kept and playable
    frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    assert 1 <= frames <= 8 and frames == pipeline.stats.frames_out


def test_stop_from_outside_finishes(segmenter):
    pipeline = Pipeline(Synthetic(fps=50), segmenter, LiveSettings(), [Collect()])
    pipeline.start()
    time.sleep(0.3)
    pipeline.join()
    assert pipeline.error is None and pipeline.stats.frames_out > 0
    assert all(not t.is_alive() for t in pipeline._threads)


def test_snapshots_on_request_and_interval(tmp_path):
    sink = SnapshotSink(tmp_path / "snaps")
    frame = np.full((40, 60, 3), 90, np.uint8)
    sink.write(frame)
    assert sink.saved == []
    sink.request()
    sink.write(frame)
    sink.write(frame)
    assert len(sink.saved) == 1 and cv2.imread(str(sink.saved[0])).shape == (40, 60, 3)
    timed = SnapshotSink(tmp_path / "timed", every=0.05)
    for _ in range(4):
        timed.write(frame)
        time.sleep(0.06)
    assert len(timed.saved) == 4 and len({p.name for p in timed.saved}) == 4
