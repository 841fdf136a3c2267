"""The engine: latest-frame-wins for cameras, --infer-every, --smooth, live updates, reconnects, limits,
threaded outputs."""
from __future__ import annotations

import threading
import time
import weakref

import cv2
import numpy as np
import pytest
from pibokeh.camera.reopen import Reconnecting
from pibokeh.camera.snapshots import SnapshotSink
from pibokeh.camera.sources import LiveSource, SourceLost
from pibokeh.camera.status import LiveStatus
from pibokeh.chain import Recipe
from pibokeh.core import binarize, smooth_mask
from pibokeh.engine import END, Engine, Latest, Settings, ThreadedSink
from pibokeh.errors import InputError, OutputError
from pibokeh.media.frames import FrameSink, FrameSource
from pibokeh.media.video import VideoFileSink
from pibokeh.styles import Color, Style


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

    def write(self, frame, pts=None):
        time.sleep(self.delay)
        self.frames.append(frame)


def look(bgr) -> Settings:
    return Settings(Recipe(style=Style(background=Color(bgr))))


def run(pipeline: Engine, timeout: float = 60.0) -> Engine:
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


def test_latest_lets_go_of_an_item_once_it_is_taken():
    box = Latest()
    frame = np.zeros((1080, 1920, 3), np.uint8)
    gone = weakref.ref(frame)
    box.put(frame)
    del frame
    taken = box.get(0)
    assert taken is not None
    del taken
    assert gone() is None  # nothing in the mailbox keeps 6 MB alive


class Counted(FrameSource):
    """A file-like source (it waits for the pipeline) of `frames` frames that counts how many of the
    frames it made are still alive each time it makes one."""
    skips_frames = False

    def __init__(self, frames: int):
        self.frames, self.count, self.alive, self.most_alive = frames, 0, 0, 0

    def _gone(self) -> None:
        self.alive -= 1

    def read(self):
        if self.count >= self.frames:
            return None
        self.count += 1
        frame = np.full((90, 160, 3), self.count % 200, np.uint8)
        self.alive += 1
        self.most_alive = max(self.most_alive, self.alive)
        weakref.finalize(frame, self._gone)
        return frame


def test_frames_in_flight_are_bounded_whatever_the_length(segmenter):
    """Every frame of a long input is processed, and at most five are alive at once (one being read,
    one per mailbox and stage): the memory of `pibokeh blur` does not grow with the video's length."""
    source, slow = Counted(300), Collect(delay=0.002)
    slow.frames = _Counter()
    sink = ThreadedSink(slow)
    engine = run(Engine(source, segmenter, [sink]))
    sink.close()
    assert engine.failure is None and source.count == 300 and slow.frames.count == 300
    assert source.most_alive <= 5, source.most_alive


class _Counter:
    """Counts what is appended to it, keeping none of it."""

    def __init__(self):
        self.count = 0

    def append(self, item) -> None:
        self.count += 1


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
    green = look((0, 255, 0))
    sink = VideoFileSink(tmp_path / "out.mp4", 25, (160, 120))
    collect = Collect()
    source = Synthetic()
    pipeline = run(Engine(source, segmenter, [sink, collect], green, max_frames=12))
    sink.close()
    assert pipeline.error is None and pipeline.stats.frames_out == 12 and len(collect.frames) == 12
    # a grey frame holds no person: every pixel is background, painted green
    assert all(np.all(f == (0, 255, 0)) for f in collect.frames)
    cap = cv2.VideoCapture(str(tmp_path / "out.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
    assert source.closed


def test_finite_source_ends_the_pipeline(segmenter):
    collect = Collect()
    pipeline = run(Engine(Synthetic(frames=6, fps=30), segmenter, [collect], Settings()))
    assert pipeline.error is None and 1 <= len(collect.frames) <= 6
    assert LiveStatus(pipeline).snapshot()["state"] == "finished"


def test_a_slow_output_drops_frames_instead_of_building_latency(segmenter):
    slow = Collect(delay=0.08)
    pipeline = run(Engine(Synthetic(fps=100), segmenter, [slow], Settings(), duration=1.5))
    stats = LiveStatus(pipeline).snapshot()
    assert stats["dropped"] > stats["frames_out"]  # most frames were skipped, not queued
    assert stats["frames_in"] > 2 * stats["frames_out"]
    # latency stays about one frame per stage, not the length of a queue (1.5 s of frames)
    assert stats["ms"]["latency"] < 600
    levels = [int(f[0, 0, 0]) for f in slow.frames]
    assert levels == sorted(levels) and len(set(levels)) == len(levels)  # newest frames, in order


def test_infer_every_reuses_the_mask(segmenter):
    collect = Collect()
    pipeline = run(Engine(Synthetic(fps=40), segmenter, [collect], Settings(infer_every=4), max_frames=20))
    stats = LiveStatus(pipeline).snapshot()
    segmented = stats["frames_in"] - pipeline._frames.dropped
    assert stats["inferences"] <= -(-segmented // 4) + 1
    assert stats["inferences"] < stats["frames_out"]


def test_update_changes_the_look_without_stopping(segmenter):
    collect = Collect()
    pipeline = Engine(Synthetic(fps=50), segmenter, [collect], look((0, 0, 255)), max_frames=60)
    pipeline.start()
    while len(collect.frames) < 10:
        time.sleep(0.01)
    pipeline.update(look((255, 0, 0)))
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
    source = Reconnecting(first, reopen, backoff=0.01, log=logs.append)
    pipeline = run(Engine(source, segmenter, [Collect()], Settings(), stats=source.stats, max_frames=15))
    assert pipeline.error is None and pipeline.stats.frames_out == 15
    assert pipeline.stats.reconnects == 1 and reopened == ["failed", "ok"] and first.closed
    assert any("not back yet" in line for line in logs)


def test_a_source_lost_for_good_ends_with_an_error(segmenter, tmp_path):
    sink = VideoFileSink(tmp_path / "kept.mp4", 25, (160, 120))

    def reopen():
        raise InputError("synthetic: no such camera")
    source = Reconnecting(Synthetic(lose_after=8), reopen, retries=2, backoff=0.01)
    pipeline = run(Engine(source, segmenter, [sink], Settings()))
    sink.close()
    assert "gave up after 2 reconnect attempts" in pipeline.error
    assert LiveStatus(pipeline).snapshot()["state"] == "failed"
    cap = cv2.VideoCapture(str(tmp_path / "kept.mp4"))  # what was recorded before is kept and playable
    frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    assert 1 <= frames <= 8 and frames == pipeline.stats.frames_out


def test_stop_from_outside_finishes(segmenter):
    pipeline = Engine(Synthetic(fps=50), segmenter, [Collect()], Settings())
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


# ---- files: every frame, in order; the threaded run is the serial one, overlapped ---------------------

class Numbered(LiveSource):
    """A source that waits (like a file): frame i has level 2*i and timestamp 1000 + 3*i."""
    skips_frames = False

    def __init__(self, frames: int = 40):
        self.size, self.name, self.frames, self.count = (96, 64), "numbered", frames, 0

    def read(self):
        if self.count >= self.frames:
            return None
        self.count += 1
        self.pts = 1000 + 3 * (self.count - 1)
        image = np.full((64, 96, 3), 2 * (self.count - 1), np.uint8)
        image[16:48, 24:48] = (20, 20, 230)  # a red block: "person" to the tiny model
        return image


class Stamped(FrameSink):
    def __init__(self, delay: float = 0.0):
        self.frames: list[tuple[int, np.ndarray]] = []
        self.delay = delay

    def write(self, frame, pts=None):
        time.sleep(self.delay)
        self.frames.append((pts, frame.copy()))


def test_a_source_that_waits_gets_every_frame_in_order_even_behind_a_slow_output(segmenter):
    sink = Stamped(delay=0.01)
    pipeline = run(Engine(Numbered(40), segmenter, [ThreadedSink(sink)], Settings()))
    pipeline.outputs[0].close()
    assert pipeline.error is None and pipeline.dropped == 0
    assert [pts for pts, _ in sink.frames] == [1000 + 3 * i for i in range(40)]
    assert [int(frame[0, 0, 0]) for _, frame in sink.frames] == [2 * i for i in range(40)]


def test_threaded_and_serial_runs_write_the_same_frames_and_timestamps(segmenter):
    serial, threaded = Stamped(), Stamped()
    Engine(Numbered(30), segmenter, [serial], look((0, 255, 0))).run_serial()
    run(Engine(Numbered(30), segmenter, [ThreadedSink(threaded)], look((0, 255, 0)))).outputs[0].close()
    assert len(serial.frames) == 30
    assert [pts for pts, _ in threaded.frames] == [pts for pts, _ in serial.frames]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(threaded.frames, serial.frames))
    # and the chain did its work: the red block kept, the rest painted green
    assert np.all(serial.frames[5][1][30, 30] == (20, 20, 230)) and np.all(serial.frames[5][1][2, 2] == (0, 255, 0))


class Broken(FrameSink):
    def __init__(self, after: int):
        self.after, self.count, self.aborted = after, 0, False

    def write(self, frame, pts=None):
        self.count += 1
        if self.count > self.after:
            raise OutputError("out.mp4: cannot write (No space left on device)")

    def abort(self):
        self.aborted = True


def test_a_threaded_output_that_fails_ends_the_engine_with_its_error(segmenter):
    broken = Broken(after=5)
    writer = ThreadedSink(broken)
    pipeline = run(Engine(Numbered(40), segmenter, [writer], Settings()))
    assert isinstance(pipeline.failure, OutputError) and "No space left" in pipeline.error
    assert pipeline.stats.frames_out < 40  # it stopped, not wrote on into a failed file
    with pytest.raises(OutputError, match="No space left"):
        writer.close()  # closing what failed raises the failure again, and discards the output
    assert broken.count == 6 and broken.aborted


def test_a_live_threaded_output_lets_a_few_frames_wait_then_counts_what_it_skips():
    slow = Stamped(delay=0.05)
    writer = ThreadedSink(slow, skips=True, depth=3)
    frame = np.zeros((8, 8, 3), np.uint8)
    for i in range(20):  # written at once: far faster than the sink's 20 frames a second
        writer.write(frame, i)
    writer.close()
    written = [pts for pts, _ in slow.frames]
    # the 3 that may wait (and the one the writer may already hold), the first ones, in order
    assert len(written) + writer.dropped == 20 and 3 <= len(written) <= 4
    assert written == list(range(len(written)))
