"""Adaptive load (--target-fps): the controller as a pure function of measured rates, closed loops
run against its own model, and the real pipeline with a model slowed by a sleep."""
from __future__ import annotations

import time

import numpy as np
import pytest
from pibokeh.camera.adaptive import HIGHEST, HOLD_S, SHORTFALL, THROTTLED_MAX, Measured, next_infer_every, predicted_fps
from pibokeh import thermal
from pibokeh.camera.governor import Governor
from pibokeh.camera.sources import LiveSource
from pibokeh.camera.status import LiveStatus
from pibokeh.engine import Engine, Settings
from pibokeh.media.frames import FrameSink
from pibokeh.model import TFLiteBackend, open_model

from tests.conftest import TINY

SETTLED = HOLD_S + 0.1


def measured(k: int, inference_s: float = 0.12, source_fps: float = 30.0, frame_s: float = 0.005,
             throttled: bool = False, fps_out: float | None = None) -> Measured:
    """What a pipeline behaving exactly like the model would measure at infer-every k."""
    m = Measured(source_fps=source_fps, fps_out=0.0, inference_s=inference_s, frame_s=frame_s,
                 throttled=throttled, since_change_s=SETTLED)
    return Measured(**{**m.__dict__, "fps_out": predicted_fps(k, m) if fps_out is None else fps_out})


def settle(start: int, target: float, steps: int = 30, **kwargs) -> list[int]:
    """The infer-every values a closed loop goes through, one controller call per settled step."""
    values = [start]
    for _ in range(steps):
        values.append(next_infer_every(values[-1], target, measured(values[-1], **kwargs)))
    return values


def test_the_model_of_the_pipeline():
    m = measured(1)
    assert predicted_fps(1, m) == pytest.approx(1 / 0.12)  # every frame waits for the model
    # one inference per 3 frames: the model's 120 ms, the frame that came meanwhile, one more 1.5 intervals on
    assert predicted_fps(3, m) == pytest.approx(3 / (0.12 + 1.5 / 30))
    assert predicted_fps(3, measured(3, inference_s=0.01)) == pytest.approx(30)  # a fast model: the camera's rate
    assert predicted_fps(HIGHEST, m) <= 30  # never faster than the source
    assert predicted_fps(4, measured(4, frame_s=0.1)) == pytest.approx(10)  # nor than the per-frame work


def test_off_or_unsettled_or_unmeasured_keeps_the_value():
    assert next_infer_every(2, 0, measured(2)) == 2  # no target: adaptive load is off
    early = Measured(source_fps=30, fps_out=6, inference_s=0.12, frame_s=0.005, since_change_s=1.0)
    assert next_infer_every(1, 15, early) == 1  # the last change has not settled yet
    assert next_infer_every(1, 15, measured(1, inference_s=0.0)) == 1  # no inference measured yet


def test_a_slow_model_raises_infer_every_at_once_to_the_smallest_value_that_reaches_the_target():
    assert next_infer_every(1, 15, measured(1)) == 2  # 8.3 fps at 1; 2 gives 14.6 (within 4 %), 3 gives 17.6
    # and it stays there: neither 1 (short) nor 3 (more than needed)
    assert settle(1, 15)[1:] == [2] * 30
    assert next_infer_every(1, 15, measured(1, inference_s=0.2)) == 5  # 4 gives 14.1, 5 gives 15.8


def test_room_lowers_it_again_one_step_at_a_time():
    values = settle(6, 15, inference_s=0.01)  # a fast model: every k gives the source's 30 fps
    assert values[:6] == [6, 5, 4, 3, 2, 1] and set(values[6:]) == {1}


def test_no_oscillation_near_the_boundary():
    for inference_s in np.linspace(0.03, 0.4, 38):
        values = settle(1, 15, steps=40, inference_s=float(inference_s))
        assert len(set(values[-20:])) == 1, (inference_s, values)  # settled on one value
        k = values[-1]
        assert predicted_fps(k, measured(k, inference_s=float(inference_s))) >= 15 * (1 - SHORTFALL) or k == HIGHEST


def test_a_target_beyond_the_source_or_the_per_frame_work_is_not_chased():
    # the camera gives 10 fps: more skipping cannot reach 15; use what reaches the 10 it can
    values = settle(1, 15, inference_s=0.05, source_fps=10)
    assert values[-1] <= 2 and predicted_fps(values[-1], measured(values[-1], inference_s=0.05, source_fps=10)) >= 9
    # compositing alone takes 100 ms a frame: skipping inferences does not help at all
    assert next_infer_every(3, 15, measured(3, inference_s=0.02, frame_s=0.1)) == 3


def test_a_throttled_soc_raises_it_step_by_step_and_never_lowers_it():
    values = [1]
    for _ in range(12):
        values.append(next_infer_every(values[-1], 15, measured(values[-1], inference_s=0.01, throttled=True)))
    assert values[:THROTTLED_MAX] == list(range(1, THROTTLED_MAX + 1)) and max(values) == THROTTLED_MAX
    # hot *and* short of the target: the rate decides (a bigger step), heat never lowers it
    assert next_infer_every(1, 15, measured(1, inference_s=0.2, throttled=True)) == 5
    assert next_infer_every(12, 15, measured(12, inference_s=0.01, throttled=True)) == 12
    # cooled down: it comes back down
    assert next_infer_every(THROTTLED_MAX, 15, measured(THROTTLED_MAX, inference_s=0.01)) == THROTTLED_MAX - 1


def test_a_measured_rate_below_the_prediction_is_corrected_for():
    # the pipeline reaches only 70 % of what the model predicts (a busy machine): aim higher
    m = measured(2)
    short = Measured(**{**m.__dict__, "fps_out": 0.7 * predicted_fps(2, m)})
    assert next_infer_every(2, 15, short) > 2


# ---- the real pipeline, with a model slowed by a sleep ----------------------------------------------

class SlowSegmenter(TFLiteBackend):
    """The tiny model behind the backend interface, taking `delay` seconds more per frame
    (like a big model on a Pi: the sleep holds no CPU, so a busy test machine barely changes it)."""

    def __init__(self, delay: float):
        super().__init__(TINY, threads=1)
        self.delay = delay

    def infer(self, rgb: np.ndarray) -> np.ndarray:
        time.sleep(self.delay)
        return super().infer(rgb)


class Camera(LiveSource):
    """A live source at a steady `fps`, like a camera: frames are due on a clock, late ones skipped."""

    def __init__(self, fps: float = 30.0, size=(160, 120)):
        self.fps, self.size, self.name = fps, size, "paced"
        self._next = 0.0

    def read(self):
        now = time.monotonic()
        self._next = max(self._next + 1.0 / self.fps, now)
        time.sleep(self._next - now)
        return np.full((self.size[1], self.size[0], 3), 90, np.uint8)


class Count(FrameSink):
    def __init__(self):
        self.frames = 0

    def write(self, frame, pts=None):
        self.frames += 1


def output_fps(sink: Count, seconds: float) -> float:
    before, start = sink.frames, time.monotonic()
    time.sleep(seconds)
    return (sink.frames - before) / (time.monotonic() - start)


def wait_until(predicate, timeout: float) -> float:
    start = time.monotonic()
    while not predicate():
        assert time.monotonic() - start < timeout, "timed out"
        time.sleep(0.05)
    return time.monotonic() - start


@pytest.mark.slow
def test_target_fps_raises_infer_every_for_a_slow_model_then_holds_the_rate_and_lowers_it_with_room():
    sink = Count()
    logs: list[str] = []
    engine = Engine(Camera(30), SlowSegmenter(0.12), [sink], Settings(target_fps=15))
    pipeline = LiveStatus(engine)
    governor = Governor(engine, thermal.Monitor(), logs.append)
    engine.start()
    governor.start()
    try:
        took = wait_until(lambda: pipeline.snapshot()["infer_every"] >= 2, timeout=15)
        assert took < 8, f"infer-every rose only after {took:.1f} s"  # "within a few seconds"
        time.sleep(HOLD_S)  # let the rates settle on the new value
        fps = output_fps(sink, 3.0)
        assert 15 * 0.8 <= fps <= 15 * 1.2, (fps, logs)
        stats = pipeline.snapshot()
        assert stats["target_fps"] == 15 and stats["adjustments"] >= 1
        assert any(line.startswith("target 15 fps: infer every") for line in logs)
        # the model becomes fast (a reload to a smaller model): there is room, infer-every comes down
        engine.update(models=open_model(TINY, threads=1))
        wait_until(lambda: pipeline.snapshot()["infer_every"] == 1, timeout=30)
    finally:
        governor.stop()
        engine.join()
    assert engine.error is None


def test_without_a_target_infer_every_stays_as_given():
    sink = Count()
    engine = Engine(Camera(30), SlowSegmenter(0.1), [sink], Settings(infer_every=2))
    governor = Governor(engine, thermal.Monitor())
    engine.start()
    governor.start()
    time.sleep(HOLD_S + 1.5)
    governor.stop()
    engine.join()
    stats = LiveStatus(engine).snapshot()
    assert stats["infer_every"] == 2 and stats["adjustments"] == 0 and stats["target_fps"] is None
