"""Adaptive load (`--target-fps F`): choose `infer-every` so the output holds F frames per second.

The segment stage runs the model on every k-th frame and passes the others through with the last
mask. With a camera delivering a frame every T = 1/source fps and a model taking I > T, a cycle of
k frames is the inference, the frame that came meanwhile (at once), and k-2 more frames at the
camera's pace, the first of them half an interval away on average:

    fps(k) = min(source fps, 1 / per-frame work, k / max(k T, I + (k - 1.5) T))    (k >= 2)
    fps(1) = min(source fps, 1 / per-frame work, 1 / max(T, I))

`next_infer_every` is a pure function of measured rates: it predicts fps(k) from the measured
inference time, scales the prediction by how well it matched the measured output rate at the
current k, and picks the smallest k that reaches the target. It raises k at once when the output
falls short, lowers it one step at a time and only with a margin (no oscillation between two
values), and while the SoC is throttled it raises k by one per call (up to THROTTLED_MAX) and
never lowers it: fewer inferences are less heat.
"""
from __future__ import annotations

from dataclasses import dataclass

LOWEST = 1
HIGHEST = 30  # a mask older than a second at 30 fps is not worth saving work for
SHORTFALL = 0.08  # raise k when the output is more than this share below the target
MARGIN = 0.12  # lower k only when the prediction for k-1 clears the target by this share
HOLD_S = 2.5  # after a change, wait this long: the measured rates must settle first
THROTTLED_MAX = 8  # how far heat alone raises infer-every (at 30 fps: ~4 new masks a second)


@dataclass(frozen=True)
class Measured:
    """What the pipeline saw over the last seconds."""
    source_fps: float  # frames per second the source delivers (its nominal rate)
    fps_out: float  # frames per second written
    inference_s: float  # seconds per inference (model + mask), recent average
    frame_s: float  # seconds of per-frame work after the mask (background, blend, outputs)
    throttled: bool = False  # the SoC is running below its speed now (heat or under-voltage)
    since_change_s: float = float("inf")  # seconds since infer-every last changed


def predicted_fps(k: int, m: Measured) -> float:
    """The output rate the pipeline can reach inferring every k-th frame (see the module doc)."""
    limits = []
    if m.source_fps > 0:
        limits.append(m.source_fps)
    if m.frame_s > 0:
        limits.append(1.0 / m.frame_s)
    interval = 1.0 / m.source_fps if m.source_fps > 0 else 0.0
    if k == 1:
        cycle = max(interval, m.inference_s)
    else:
        cycle = max(k * interval, m.inference_s + (k - 1.5) * interval)
    if cycle > 0:
        limits.append(k / cycle)
    return min(limits) if limits else 0.0


def next_infer_every(current: int, target_fps: float, m: Measured,
                     lowest: int = LOWEST, highest: int = HIGHEST) -> int:
    """The infer-every to use next, given the one in use and what was measured with it."""
    current = max(lowest, min(highest, current))
    if target_fps <= 0 or m.inference_s <= 0 or m.fps_out <= 0 or m.since_change_s < HOLD_S:
        return current  # off, or not enough measured yet, or the last change has not settled
    chosen = _for_rate(current, target_fps, m, lowest, highest)
    if m.throttled:  # never lower while hot; step up towards THROTTLED_MAX
        chosen = max(chosen, min(current + 1, max(current, min(highest, THROTTLED_MAX))))
    return chosen


def _for_rate(current: int, target_fps: float, m: Measured, lowest: int, highest: int) -> int:
    expected = predicted_fps(current, m)
    best = predicted_fps(highest, m)
    # How well the prediction matched what really came out (threads, the GIL, a busy machine).
    efficiency = min(1.2, max(0.3, m.fps_out / expected)) if expected > 0 else 1.0
    # A target beyond what the source (or the per-frame work) can give is reached as far as it can be.
    goal = min(target_fps, best * efficiency)

    def reaches(k: int, share: float) -> bool:
        return predicted_fps(k, m) * efficiency >= goal * share

    if m.fps_out < target_fps * (1 - SHORTFALL):
        if best <= expected * 1.02:
            return current  # skipping more would not help: the source or the per-frame work is the limit
        # the smallest k that comes within half the shortfall band: the rate is then centred in the band
        return next(k for k in range(current + 1, highest + 1) if reaches(k, 1 - SHORTFALL / 2) or k == highest)
    if current > lowest and m.fps_out >= target_fps and reaches(current - 1, 1 + MARGIN):
        return current - 1
    return current
