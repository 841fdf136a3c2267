"""The engine's figures, in one place: the chain and the engine's stages update a `Stats`; /stats
(JSON), /metrics (Prometheus) and a file job's summary all read it, so they never disagree.

Each timed stage keeps a recent average (what a person reads on the page) and cumulative histogram
buckets (what Prometheus needs for quantiles over any window).
"""
from __future__ import annotations

import bisect
import collections
import threading
import time
from dataclasses import dataclass, field

from .chain import STAGES as CHAIN_STAGES

# The stages timed per frame (seconds), in pipeline order: the chain's (chain.STAGES, the same names
# `pibokeh bench` prints), then what only a running engine has:
#   decode      waiting for and reading the source's frame (a camera's capture, a file's decode)
#   preprocess  the frame fitted to the model's input        (chain)
#   inference   the model                                    (chain)
#   mask        class mask -> frame size -> Gaussian -> Otsu, and smoothing   (chain)
#   background  the look's background (the blur, by default) (chain)
#   blend       alpha and blend                              (chain)
#   encode      a JPEG of the live preview (once per output frame, in the viewers' thread), or a video
#               file's encoder (in its own thread)
#   output      handing the frame to every output
#   record      the recording's encoder (in its own thread)
#   latency     read -> written, end to end
STAGES = CHAIN_STAGES + ("output", "record", "latency")
# Upper bounds (seconds) of the histogram buckets: 1 ms (a blend) to 10 s (a model on a cold Pi Zero).
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Rate:
    """Events per second over the last `window` seconds (ticked by a stage, read by /stats)."""

    def __init__(self, window: float = 2.0) -> None:
        self.window = window
        self._times: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()

    def _forget(self, now: float) -> None:
        while self._times and now - self._times[0] > self.window:
            self._times.popleft()

    def tick(self, now: float) -> None:
        with self._lock:
            self._times.append(now)
            self._forget(now)

    def per_second(self, now: float) -> float:
        with self._lock:
            self._forget(now)
            if len(self._times) < 2:
                return 0.0
            span = max(now - self._times[0], self._times[-1] - self._times[0])
            return (len(self._times) - 1) / span if span > 0 else 0.0


class Timing:
    """The durations of one stage: a recent average in ms, and histogram counts since the start."""

    def __init__(self) -> None:
        self.recent_ms = 0.0
        self.count = 0
        self.sum = 0.0
        self._buckets = [0] * (len(BUCKETS) + 1)  # the last one: above the highest bound
        self._lock = threading.Lock()

    def observe(self, seconds: float) -> None:
        with self._lock:
            # An exponential average: steady enough to read, recent enough to show a change within a second.
            ms = seconds * 1000.0
            self.recent_ms = ms if self.count == 0 else 0.8 * self.recent_ms + 0.2 * ms
            self.count += 1
            self.sum += seconds
            self._buckets[bisect.bisect_left(BUCKETS, seconds)] += 1

    def histogram(self) -> tuple[list[tuple[float, int]], int, float]:
        """(cumulative (upper bound, count) pairs ending with +Inf, count, sum of seconds)."""
        with self._lock:
            total, pairs = 0, []
            for bound, n in zip(BUCKETS + (float("inf"),), self._buckets):
                total += n
                pairs.append((bound, total))
            return pairs, self.count, self.sum


@dataclass
class Stats:
    """Counters and timings the stages update, and /stats and /metrics report."""
    frames_in: int = 0
    frames_out: int = 0
    inferences: int = 0
    inferences_skipped: int = 0  # frames due for inference that reused the mask: the scene was still
    reconnects: int = 0
    reloads: int = 0          # reloads applied
    reloads_failed: int = 0   # reloads refused (bad config or model): the old settings kept running
    adjustments: int = 0      # changes of infer-every made by --target-fps
    timings: dict[str, Timing] = field(default_factory=lambda: {name: Timing() for name in STAGES})
    started: float = field(default_factory=time.monotonic)
    last_output: float = 0.0
    rate_in: Rate = field(default_factory=Rate)
    rate_out: Rate = field(default_factory=Rate)

    def record(self, stage: str, seconds: float) -> None:
        """One duration of `stage`: one of STAGES, or a new name (it then shows in /stats and /metrics too)."""
        timing = self.timings.get(stage)
        if timing is None:
            timing = self.timings.setdefault(stage, Timing())
        timing.observe(seconds)

    @property
    def ms(self) -> dict[str, float]:
        """Recent ms per stage."""
        return {name: timing.recent_ms for name, timing in list(self.timings.items())}
