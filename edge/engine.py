"""The engine: frames from a source through the chain into outputs, one thread per stage.

    read (decode) -> segment (preprocess, inference, mask) -> compose (background, blend) -> outputs

Cameras and video files both run on it. Stages hand over through one-slot mailboxes (`Latest`).
A live source (`skips_frames`) does not wait: a new item replaces an unread one, so a slow stage
drops frames instead of queueing them and latency stays bounded by one frame per stage. A source
that can wait (a video file) gets the no-skip mode: each stage waits for the next one, so every
frame is processed, in order, and at most one frame per stage is in memory whatever the input's
length. An output that is slow to write (a video encoder) is wrapped in a `ThreadedSink`, so the
encode overlaps the next frame's work.

The segment stage runs the model on every `infer_every`-th frame and reuses the last mask in
between; with `skip_still`, also on a frame due for inference that is nearly the same as the one the
model last saw (`still.is_still`: PSNR of small grey copies above `skip_still` dB). `run_serial`
runs the same stage code one frame at a time in the caller's thread: the reference the threaded run
is compared with.
"""
from __future__ import annotations

import collections
import dataclasses
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from .chain import Chain, Recipe, Record
from .errors import PibokehError
from .media.frames import Frame, FrameSink, FrameSource
from .model import Backend, ModelSet
from .stats import Stats
from .still import is_still, thumbnail

END = object()  # what the read stage posts when a finite source is over


@dataclass(frozen=True)
class Settings:
    """What can change while running (a camera's reload): the recipe, how often the model runs, the
    output rate the camera's governor aims for (0: keep `infer_every` as it is), and the PSNR (dB)
    above which a still scene reuses the last mask (0: off)."""
    recipe: Recipe = field(default_factory=Recipe)
    infer_every: int = 1
    target_fps: float = 0.0
    skip_still: float = 0.0


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

    def wait_taken(self) -> None:
        """Wait until the item posted last was taken (or the mailbox closed)."""
        with self._cond:
            self._cond.wait_for(lambda: not self._fresh or self._closed)

    def get(self, timeout: float | None = None) -> Any:
        """The newest unread item, or None on timeout or when closed."""
        with self._cond:
            self._cond.wait_for(lambda: self._fresh or self._closed, timeout)
            if not self._fresh:
                return None
            item, self._fresh = self._item, False
            if item is not END:
                self._item = None  # not kept alive here once taken: a 1080p frame is 6 MB
            self._cond.notify_all()
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed


@dataclass
class _Masked:
    frame: Frame
    mask: np.ndarray
    read_at: float


class Engine:
    """Runs a source through the chain into outputs until the source ends, a frame or time limit is
    reached, `stop()` is called, or a stage fails (`failure` then holds the error, `error` its line).

    `masks`: the outputs get the mask itself instead of the composed frame (`pibokeh mask`)."""

    def __init__(self, source: FrameSource, models: ModelSet | Backend, outputs: Sequence[FrameSink],
                 settings: Settings = Settings(), *, stats: Stats | None = None, max_frames: int = 0,
                 duration: float = 0.0, masks: bool = False):
        self.source = source
        self.outputs = list(outputs)
        self.settings = settings
        self.stats = stats or Stats()
        self.max_frames = max_frames
        self.duration = duration
        self.masks = masks
        self.failure: BaseException | None = None
        self.changed = time.monotonic()  # when the settings last changed (the governor lets rates settle)
        self._chain = Chain(models, settings.recipe, self.stats.record)
        self._frames = Latest()
        self._masked = Latest()
        self._stop = threading.Event()
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    # ---- control ----

    def start(self) -> "Engine":
        for name, loop in (("read", self._read_loop), ("segment", self._segment_loop),
                           ("compose", self._compose_loop)):
            thread = threading.Thread(target=self._guard, args=(loop,), name=f"pibokeh-{name}", daemon=True)
            self._threads.append(thread)
            thread.start()
        return self

    def run_serial(self) -> "Engine":
        """Every stage in this thread, one frame at a time (the same code as the threaded run)."""
        def serial() -> None:
            state = _SegmentState()
            while not self._stop.is_set():
                item = self._read_one()
                if item is None:
                    return self._finish()
                if not self._emit(self._segment_one(item, state)):
                    return
        self._guard(serial)
        return self

    def stop(self) -> None:
        self._stop.set()
        self._frames.close()
        self._masked.close()
        self.source.interrupt()

    def wait(self, timeout: float | None = None) -> bool:
        """True once the engine has finished (all frames written, outputs not yet closed)."""
        return self._done.wait(timeout)

    def join(self, read_timeout: float | None = None) -> None:
        """Stop, wait for the stages, close the source. Outputs are the caller's to close.

        A read stage blocked in a stalled source is waited for at most `read_timeout` seconds and then
        left behind, so that stopping never hangs on a stream; its source is then not closed under it
        (the process is ending anyway)."""
        self.stop()
        reader, others = self._threads[:1], self._threads[1:]
        for thread in others:
            thread.join()
        for thread in reader:
            thread.join(read_timeout)
        if not any(thread.is_alive() for thread in reader):
            self.source.close()

    @property
    def running(self) -> bool:
        return not self._done.is_set()

    @property
    def error(self) -> str | None:
        """The one-line reason the engine failed, or None."""
        if self.failure is None:
            return None
        if isinstance(self.failure, PibokehError):
            return str(self.failure)
        return f"{type(self.failure).__name__}: {self.failure}"

    @property
    def models(self) -> ModelSet:
        with self._lock:
            return self._chain.models

    @property
    def dropped(self) -> int:
        return self._frames.dropped + self._masked.dropped

    def update(self, settings: Settings | None = None, models: ModelSet | Backend | None = None) -> None:
        """Swap settings and/or the models; the next frame uses them, nothing is restarted."""
        with self._lock:
            if settings is not None:
                self.settings = settings
            if models is not None:
                self._chain = Chain(models, self.settings.recipe, self.stats.record)
            self.stats.reloads += 1
            self.changed = time.monotonic()

    def adjust(self, seen: Settings, infer_every: int) -> bool:
        """Set `infer_every` unless the settings changed since `seen` was read (a reload wins)."""
        with self._lock:
            if self.settings is not seen:
                return False
            self.settings = dataclasses.replace(seen, infer_every=infer_every)
            self.changed = time.monotonic()
            return True

    def current(self) -> tuple[Settings, Chain]:
        """The settings and chain in use, read together under the lock."""
        with self._lock:
            return self.settings, self._chain

    # ---- stages ----

    def _guard(self, stage: Callable[[], None]) -> None:
        # A failing stage ends the whole engine with its error rather than leaving it hanging.
        try:
            stage()
        except Exception as exc:  # noqa: BLE001 - a bug or a library error must still end cleanly
            if self.failure is None and not self._stop.is_set():  # cut short by stop(): not a failure
                self.failure = exc
            self._finish()

    def _finish(self) -> None:
        self._done.set()
        self.stop()

    def _read_one(self) -> tuple[Frame, float] | None:
        start = time.monotonic()
        frame = self.source.next_frame()
        if frame is None:
            return None
        now = time.monotonic()
        stats = self.stats
        stats.record("decode", now - start)
        stats.frames_in += 1
        stats.rate_in.tick(now)
        return frame, now

    def _read_loop(self) -> None:
        wait = not self.source.skips_frames
        while not self._stop.is_set():
            if wait:  # decode the next frame once the last one was taken, not before: one frame less in memory
                self._frames.wait_taken()
            item = self._read_one()
            if item is None:
                self._frames.put(END, wait=wait)
                return
            self._frames.put(item, wait=wait)
            if self.duration and item[1] - self.stats.started >= self.duration:
                self._frames.put(END, wait=wait)
                return

    def _segment_one(self, item: tuple[Frame, float], state: "_SegmentState") -> _Masked:
        frame, read_at = item
        settings, chain = self.current()
        size = frame.image.shape[:2]
        state.inferred = (state.mask is None or state.mask.shape != size
                          or state.count % settings.infer_every == 0)
        thumb = thumbnail(frame.image) if settings.skip_still else None
        same_maker = state.made_by is not None and state.made_by[0] is chain and state.made_by[1] is settings.recipe
        if state.inferred and same_maker and thumb is not None and is_still(thumb, state.seen, settings.skip_still):
            state.inferred = False  # the scene has not changed since the model last saw it: its mask holds
            self.stats.inferences_skipped += 1
        if state.inferred:
            labels = chain.segment(frame.image, frame.small, frame.metadata)
            state.mask = chain.mask(labels, size, settings.recipe)
            state.seen, state.made_by = thumb, (chain, settings.recipe)
            self.stats.inferences += 1
        state.count += 1
        return _Masked(frame, state.mask, read_at)

    def _segment_loop(self) -> None:
        state = _SegmentState()
        wait = not self.source.skips_frames
        while not self._stop.is_set():
            item = self._frames.get(timeout=0.5)
            if item is None:
                continue
            if item is END:
                self._masked.put(END, wait=wait)
                return
            # After an inference the next frame is often already waiting (it came during the model run):
            # posting it at once would replace the inferred frame, the one whose mask fits exactly, before
            # the compose stage took it. So the frame after an inference waits for that hand-over.
            hold = state.inferred
            self._masked.put(self._segment_one(item, state), wait=hold or wait)

    def _emit(self, item: _Masked) -> bool:
        """Compose a frame and write it to every output; False once the frame limit is reached."""
        settings, chain = self.current()
        frame = item.frame
        out = item.mask if self.masks else chain.compose(frame.image, item.mask, settings.recipe)
        started = time.monotonic()
        for output in self.outputs:
            output.write(out, frame.pts)
        now = time.monotonic()
        stats = self.stats
        stats.record("output", now - started)
        stats.record("latency", now - item.read_at)
        stats.frames_out += 1
        stats.rate_out.tick(now)
        stats.last_output = now
        if self.max_frames and stats.frames_out >= self.max_frames:
            self._finish()
            return False
        return True

    def _compose_loop(self) -> None:
        while not self._stop.is_set():
            item = self._masked.get(timeout=0.5)
            if item is None:
                continue
            if item is END or not self._emit(item):
                self._finish()
                return


@dataclass
class _SegmentState:
    """What the segment stage carries from frame to frame: the last mask, the thumbnail of the frame
    it was made from, and the chain and recipe that made it."""
    mask: np.ndarray | None = None
    count: int = 0
    inferred: bool = False
    seen: np.ndarray | None = None
    made_by: tuple[Any, Recipe] | None = None


class ThreadedSink(FrameSink):
    """A sink written from a thread of its own, so a slow encoder overlaps the engine's work.

    Up to `depth` frames wait for it. `skips`: a live output drops a frame when that many are already
    waiting (the engine keeps its rate; `dropped` counts them); otherwise `write` waits, and every frame
    is written in order. A failure of the sink is raised by the next `write` or by `close`. Its write
    time is recorded as `stage`."""

    def __init__(self, sink: FrameSink, skips: bool = False, stage: str = "encode", record: Record | None = None,
                 depth: int = 1):
        self.sink = sink
        self.skips = skips
        self.stage = stage
        self.depth = depth
        self.record = record or (lambda name, seconds: None)
        self.failure: BaseException | None = None
        self.dropped = 0
        self._waiting: collections.deque[tuple[np.ndarray, int | None]] = collections.deque()
        self._cond = threading.Condition()
        self._closing = self._aborted = False
        self._thread = threading.Thread(target=self._work, name=f"pibokeh-{stage}", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._waiting or self._closing or self._aborted)
                if self._aborted or not self._waiting:
                    return  # aborted, or closing with nothing left to write
                item = self._waiting.popleft()
                self._cond.notify_all()
            start = time.monotonic()
            try:
                self.sink.write(*item)
            except BaseException as exc:  # noqa: BLE001 - handed to the engine's thread
                with self._cond:
                    self.failure = exc
                    self._cond.notify_all()
                return
            self.record(self.stage, time.monotonic() - start)

    def write(self, frame: np.ndarray, pts: int | None = None) -> None:
        with self._cond:
            if self.skips and len(self._waiting) >= self.depth and self.failure is None:
                self.dropped += 1
                return
            self._cond.wait_for(lambda: len(self._waiting) < self.depth or self.failure is not None or self._aborted)
            if self.failure is not None:
                raise self.failure
            self._waiting.append((frame, pts))
            self._cond.notify_all()

    def close(self) -> None:
        """Write what is waiting, then finish the sink (a failure of either is raised)."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join()
        if self.failure is not None:
            self.sink.abort()
            raise self.failure
        self.sink.close()

    def abort(self) -> None:
        with self._cond:
            self._aborted = True
            self._cond.notify_all()
        self._thread.join()
        self.sink.abort()
