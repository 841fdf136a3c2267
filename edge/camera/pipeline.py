"""The live pipeline: capture -> segment -> compose -> outputs, one thread per stage.

Stages hand over through one-slot mailboxes (`Latest`): a new item replaces an unread one, so a
slow stage drops frames instead of queueing them and latency stays bounded by one frame per stage.
Sources that are not really live (a video file) say so with `skips_frames = False`: then each stage
waits for the next instead, and the clip plays slower rather than losing frames.
The segment stage infers every `infer_every`-th frame and reuses the last mask in between;
`smooth` blends each new mask with the previous ones to stop the edge from flickering.
With `target_fps`, a watch thread adjusts `infer_every` to hold that output rate (adaptive.py),
raising it also while the SoC is throttled (thermal.py, which /stats and /metrics show).
"""
from __future__ import annotations

import collections
import sys
import threading
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

import numpy as np

from .. import core, thermal
from ..errors import InputError, PibokehError
from ..frames import FrameSink
from ..model import Segmenter
from .adaptive import Measured, next_infer_every
from .sources import LiveSource, SourceLost, open_with_retries
from .stats import Stats

END = object()  # what the capture stage posts when a finite source is over
WATCH_INTERVAL = 1.0  # seconds between looks at the frame rate and the heat (with target_fps)


@dataclass(frozen=True)
class LiveSettings:
    """What can change while running (SIGHUP): classes, look, inference rate, smoothing."""
    class_ids: tuple[int, ...] = (15,)
    style: core.Style = core.Style()
    infer_every: int = 1
    smooth: float = 0.0  # share of the previous mask kept: 0 = off, 0.5 = half, 0.9 = very steady
    target_fps: float = 0.0  # > 0: adjust infer_every to hold this output rate (0 = keep it fixed)


def smooth_mask(average: np.ndarray | None, mask: np.ndarray, keep: float) -> np.ndarray:
    """Running average (float32, 0-255) of binary masks: `keep` of the old one, the rest new."""
    new = mask.astype(np.float32)
    if average is None or keep <= 0 or average.shape != new.shape:
        return new
    return keep * average + (1.0 - keep) * new


def binarize(average: np.ndarray, previous: np.ndarray | None = None, band: float = 42.5) -> np.ndarray:
    """The binary uint8 mask of a running average, with hysteresis against flicker: a pixel turns on
    above 127.5 + band and off below 127.5 - band; in between it keeps its `previous` state."""
    on = average >= 127.5 + band
    if previous is not None and previous.shape == average.shape:
        on |= (previous > 0) & (average > 127.5 - band)
    return np.where(on, 255, 0).astype(np.uint8)


class Latest:
    """A one-item mailbox: `put` replaces an unread item (counted in `dropped`), `get` waits for a new one."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: Any = None
        self._fresh = False
        self._closed = False
        self.dropped = 0

    def put(self, item: Any, wait: bool = False) -> None:
        """Post `item`; with `wait`, first wait until the previous one was taken (no frame skipped)."""
        with self._cond:
            if wait:
                self._cond.wait_for(lambda: not self._fresh or self._closed)
            if self._closed:
                return  # nobody will read it: not a drop, the pipeline is over
            if self._fresh and self._item is not END:
                self.dropped += 1
            if self._item is END and self._fresh:
                return  # the end stays the end
            self._item, self._fresh = item, True
            self._cond.notify_all()

    def get(self, timeout: float | None = None) -> Any:
        """The newest unread item, or None on timeout or when closed."""
        with self._cond:
            self._cond.wait_for(lambda: self._fresh or self._closed, timeout)
            if not self._fresh:
                return None
            self._fresh = False
            self._cond.notify_all()
            return self._item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class Pipeline:
    """Runs a live source through a segmenter into outputs until the source ends, a frame or time
    limit is reached, `stop()` is called, or the source is lost for good.

    `reopen` builds the source again after it was lost; up to `retries` attempts with doubling
    waits from `backoff` seconds. `error` holds the one-line reason when it ended by failure.
    `recording` is the output that records (for /stats: its state and size), if any.
    """

    def __init__(self, source: LiveSource, segmenter: Segmenter, settings: LiveSettings,
                 outputs: Sequence[FrameSink], *, reopen: Callable[[], LiveSource] | None = None,
                 max_frames: int = 0, duration: float = 0.0, retries: int = 3, backoff: float = 0.5,
                 log: Callable[[str], None] = lambda message: print(f"pibokeh: {message}", file=sys.stderr),
                 recording: FrameSink | None = None, heat: thermal.Monitor | None = None):
        self.source = source
        self.segmenter = segmenter
        self.settings = settings
        self.outputs = list(outputs)
        self.reopen = reopen
        self.max_frames = max_frames
        self.duration = duration
        self.retries = retries
        self.backoff = backoff
        self.log = log
        self.stats = Stats()
        self.recording = recording
        self.heat = heat or thermal.Monitor()
        self.error: str | None = None
        self._changed = time.monotonic()  # when infer_every last changed (adaptive load waits for rates to settle)
        self._frames = Latest()
        self._masked = Latest()
        self._stop = threading.Event()
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    # ---- control ----

    def start(self) -> "Pipeline":
        for name, target in (("capture", self._capture), ("segment", self._segment), ("compose", self._compose),
                             ("watch", self._watch)):
            thread = threading.Thread(target=self._guard, args=(target,), name=f"pibokeh-{name}", daemon=True)
            self._threads.append(thread)
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._frames.close()
        self._masked.close()

    def wait(self, timeout: float | None = None) -> bool:
        """True once the pipeline has finished (all frames written, outputs not yet closed)."""
        return self._done.wait(timeout)

    def join(self, capture_timeout: float | None = None) -> None:
        """Stop, wait for the stages, close the source. Outputs are the caller's to close.

        A capture stage blocked in a stalled source (or reopening one) is waited for at most
        `capture_timeout` seconds and then left behind, so that stopping never hangs on a stream;
        its source is then not closed under it (the process is ending anyway)."""
        self.stop()
        capture, others = self._threads[:1], self._threads[1:]
        for thread in others:
            thread.join()
        for thread in capture:
            thread.join(capture_timeout)
        if not any(thread.is_alive() for thread in capture):
            self.source.close()

    @property
    def running(self) -> bool:
        return not self._done.is_set()

    def update(self, settings: LiveSettings | None = None, segmenter: Segmenter | None = None) -> None:
        """Swap settings and/or the model; the next frame uses them, nothing is restarted."""
        with self._lock:
            if settings is not None:
                self.settings = settings
            if segmenter is not None:
                self.segmenter = segmenter
            self.stats.reloads += 1
            self._changed = time.monotonic()

    def snapshot(self) -> dict[str, Any]:
        """The figures /stats serves (and /metrics exposes): the one view of `stats` and the state."""
        now = time.monotonic()
        stats = self.stats
        with self._lock:
            settings, segmenter = self.settings, self.segmenter
        return {
            "state": "running" if self.running else ("failed" if self.error else "finished"),
            "error": self.error,
            "source": self.source.name,
            "size": list(self.source.size),
            "source_fps": round(self.source.fps, 2),
            "model": str(segmenter.path),
            "family": segmenter.family,
            "backend": segmenter.backend,
            "threads": segmenter.threads,
            "input_size": list(segmenter.input_size),
            "fps_in": round(stats.rate_in.per_second(now), 2),
            "fps_out": round(stats.rate_out.per_second(now), 2),
            "frames_in": stats.frames_in,
            "frames_out": stats.frames_out,
            "dropped": self._frames.dropped + self._masked.dropped,
            "inferences": stats.inferences,
            "infer_every": settings.infer_every,
            "target_fps": settings.target_fps or None,
            "adjustments": stats.adjustments,
            "ms": {k: round(v, 2) for k, v in stats.ms.items()},
            "reconnects": stats.reconnects,
            "reloads": stats.reloads,
            "reloads_failed": stats.reloads_failed,
            "recording": self._recording_state(),
            "thermal": self.heat.read().as_dict(),
            "uptime_s": round(now - stats.started, 1),
            "last_output_age_s": round(now - stats.last_output, 2) if stats.last_output else None,
        }

    def _recording_state(self) -> dict[str, Any] | None:
        if self.recording is None:
            return None
        path = getattr(self.recording, "path", None)
        return {"path": None if path is None else str(path), "active": self.running,
                "frames": getattr(self.recording, "frames", None),
                "bytes": getattr(self.recording, "bytes_written", None)}

    # ---- stages ----

    def _guard(self, stage: Callable[[], None]) -> None:
        # A failing stage ends the whole pipeline with a message rather than leaving it hanging.
        try:
            stage()
        except PibokehError as exc:
            self._fail(str(exc))
        except Exception as exc:  # a bug or an unexpected library error: still end cleanly
            self._fail(f"{threading.current_thread().name}: {type(exc).__name__}: {exc}")

    def _fail(self, message: str) -> None:
        if self.error is None and not self._stop.is_set():  # a stage cut short by stop() has not failed
            self.error = message
        self._finish()

    def _finish(self) -> None:
        self._done.set()
        self.stop()

    def _capture(self) -> None:
        while not self._stop.is_set():
            start = time.monotonic()
            try:
                pair = self.source.read_frames()
            except SourceLost as exc:
                self.source = self._reconnect(str(exc))
                continue
            if pair is None:
                self._frames.put(END, wait=not self.source.skips_frames)
                return
            now = time.monotonic()
            self.stats.record("capture", now - start)
            self.stats.frames_in += 1
            self.stats.rate_in.tick(now)
            self._frames.put((pair[0], pair[1], now), wait=not self.source.skips_frames)
            if self.duration and now - self.stats.started >= self.duration:
                self._frames.put(END, wait=not self.source.skips_frames)
                return

    def _reconnect(self, reason: str) -> LiveSource:
        """The source opened again, or SourceLost once `retries` attempts have failed."""
        self.log(f"{reason}; reconnecting")
        try:
            self.source.close()
        except Exception:  # a vanished device may fail to close too; nothing left to release
            pass
        if self.reopen is None or self.retries < 1 or self._stop.wait(self.backoff):
            raise SourceLost(reason)
        try:
            source = open_with_retries(self.reopen, self.retries - 1, self._stop, 2 * self.backoff, self.log)
        except InputError as exc:
            raise SourceLost(f"{reason}; gave up after {self.retries} reconnect attempts ({exc})") from None
        self.stats.reconnects += 1
        self.log(f"{source.name}: reconnected")
        return source

    def _segment(self) -> None:
        mask: np.ndarray | None = None
        average: np.ndarray | None = None
        count = 0
        # After an inference the next frame is often already waiting (it came during the model run):
        # posting it at once would replace the inferred frame, the one whose mask fits exactly, before
        # the compose stage took it. So the frame after an inference waits for that hand-over.
        hold = False
        while not self._stop.is_set():
            item = self._frames.get(timeout=0.5)
            if item is None:
                continue
            if item is END:
                self._masked.put(END, wait=not self.source.skips_frames)
                return
            frame, small, captured = item
            with self._lock:
                settings, segmenter = self.settings, self.segmenter
            size = frame.shape[:2]
            inferred_now = mask is None or mask.shape != size or count % settings.infer_every == 0
            if inferred_now:
                start = time.monotonic()
                labels = segmenter.predict(small if small is not None else frame)
                inferred = time.monotonic()
                new = core.frame_mask(labels, settings.class_ids, size)
                if settings.smooth > 0:
                    average = smooth_mask(average, new, settings.smooth)
                    new = binarize(average, mask)
                else:
                    average = None
                mask = new
                self.stats.record("inference", inferred - start)
                self.stats.record("mask", time.monotonic() - inferred)
                self.stats.inferences += 1
            count += 1
            self._masked.put((frame, mask, captured), wait=hold or not self.source.skips_frames)
            hold = inferred_now

    def _compose(self) -> None:
        while not self._stop.is_set():
            item = self._masked.get(timeout=0.5)
            if item is None:
                continue
            if item is END:
                self._finish()
                return
            frame, mask, captured = item
            style = self.settings.style
            # core.compose's two steps, timed apart (the blur and the blend cost very differently)
            start = time.monotonic()
            background = core.background_of(frame, mask, style)
            drawn = time.monotonic()
            out = core.blend(frame, background, core.alpha_of(mask, style))
            composed = time.monotonic()
            for output in self.outputs:
                output.write(out)
            now = time.monotonic()
            stats = self.stats
            stats.record("background", drawn - start)
            stats.record("blend", composed - drawn)
            stats.record("output", now - composed)
            stats.record("latency", now - captured)
            stats.frames_out += 1
            stats.rate_out.tick(now)
            stats.last_output = now
            if self.max_frames and stats.frames_out >= self.max_frames:
                self._finish()
                return


    def _watch(self) -> None:
        """With a target frame rate: adjust infer_every to it, once a second."""
        # (time, frames out) once a tick: the controller's output rate is averaged over up to 5 s since
        # the last change (steadier than the 2-s rate of /stats, which would make it chase noise)
        samples: collections.deque[tuple[float, int]] = collections.deque(maxlen=6)
        while not self._stop.wait(WATCH_INTERVAL):
            now = time.monotonic()
            stats, ms = self.stats, self.stats.ms
            samples.append((now, stats.frames_out))
            with self._lock:
                settings = self.settings
            if settings.target_fps <= 0:
                continue  # the heat is read when /stats or /metrics ask (vcgencmd is a process start)
            reading = self.heat.read()
            settled = [sample for sample in samples if sample[0] >= self._changed + 0.5]
            span = settled[-1][0] - settled[0][0] if settled else 0.0
            fps_out = (settled[-1][1] - settled[0][1]) / span if span > 0 else stats.rate_out.per_second(now)
            measured = Measured(source_fps=self.source.fps or stats.rate_in.per_second(now), fps_out=fps_out,
                                inference_s=(ms["inference"] + ms["mask"]) / 1000.0,
                                frame_s=(ms["background"] + ms["blend"] + ms["output"]) / 1000.0,
                                throttled=reading.slowed, since_change_s=now - self._changed)
            chosen = next_infer_every(settings.infer_every, settings.target_fps, measured)
            if chosen == settings.infer_every:
                continue
            with self._lock:
                if self.settings is not settings:
                    continue  # a reload came in between: its settings win
                self.settings = replace(settings, infer_every=chosen)
                self._changed = now
            stats.adjustments += 1
            self.log(f"target {settings.target_fps:g} fps: infer every {chosen} (was {settings.infer_every}; "
                     f"{measured.fps_out:.1f} fps out, inference {1000 * measured.inference_s:.0f} ms"
                     f"{', throttled' if measured.throttled else ''})")
