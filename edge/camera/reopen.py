"""Opening a live source that may not be there yet, and opening it again when it is lost.

Opening can block (a network stream that accepts and never answers; a camera that hangs), so
`open_with_retries` runs each attempt in a worker thread that the caller can abandon when asked to
stop: SIGTERM never waits for a stalled stream. `Reconnecting` wraps an open source and reopens it
when it stops delivering, so the engine sees a pause, not an end.
"""
from __future__ import annotations

import threading
from typing import Callable

import numpy as np

from ..errors import InputError
from ..media.frames import Frame
from ..media.video import UnreadableVideo
from ..stats import Stats
from .sources import LiveSource, SourceLost

MAX_RETRY_WAIT = 30.0  # seconds: a camera plugged back in is found within half a minute


class OpenAbandoned(InputError):
    """Opening a source was given up because the command was asked to stop (SIGTERM, Ctrl-C)."""


def open_with_retries(open_fn: Callable[[], LiveSource], retries: int, stop: threading.Event,
                      backoff: float = 0.5, log: Callable[[str], None] = lambda message: None) -> LiveSource:
    """open_fn(), tried again up to `retries` times with doubling waits from `backoff` seconds
    (at most MAX_RETRY_WAIT) while it raises InputError (a camera still booting, busy, or being plugged back in).
    Raises the last InputError; gives up early once `stop` is set (OpenAbandoned while an attempt
    is still blocked: that attempt's thread is left to finish on its own and close what it opened)."""
    delay = backoff
    for attempt in range(1, retries + 2):
        try:
            return open_abandonable(open_fn, stop)
        except (OpenAbandoned, UnreadableVideo):  # stopping; or a file no retry will make a video
            raise
        except InputError as exc:
            if attempt > retries or stop.is_set():
                raise
            log(f"{exc}; retrying in {delay:g} s ({attempt}/{retries})")
            if stop.wait(delay):
                raise
            delay = min(2 * delay, MAX_RETRY_WAIT)
    raise AssertionError("unreachable")


def open_abandonable(open_fn: Callable[[], LiveSource], stop: threading.Event, poll: float = 0.05) -> LiveSource:
    """open_fn() in a worker thread, waited for until it returns or `stop` is set.

    A blocked open (a stream that never answers, a hanging driver) cannot be interrupted from Python;
    waiting for it here instead would keep SIGTERM waiting too. An abandoned attempt closes the source
    it opens late, so nothing stays open.
    """
    done = threading.Event()
    lock = threading.Lock()
    result: dict[str, object] = {}

    def attempt() -> None:
        try:
            source = open_fn()
        except BaseException as exc:  # handed to the waiting thread, which raises it there
            with lock:
                result["error"] = exc
        else:
            with lock:
                result["source"] = source
                abandoned = result.get("abandoned", False)
            if abandoned:
                source.close()
        finally:
            done.set()

    threading.Thread(target=attempt, name="pibokeh-open", daemon=True).start()
    while not done.wait(poll):
        if stop.is_set():
            with lock:
                if "source" not in result and "error" not in result:
                    result["abandoned"] = True
                    raise OpenAbandoned("stopped while opening the source")
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    return result["source"]  # type: ignore[return-value]


class Reconnecting(LiveSource):
    """A live source that opens itself again when it is lost (unplugged, stream dropped): up to
    `retries` attempts with doubling waits from `backoff` seconds, then `SourceLost` with the reason.
    `stats.reconnects` counts the times it came back; `interrupt` gives up waiting (stopping never hangs)."""

    def __init__(self, source: LiveSource, reopen: Callable[[], LiveSource] | None, retries: int = 3,
                 backoff: float = 0.5, log: Callable[[str], None] = lambda message: None,
                 stats: Stats | None = None):
        self.source = source
        self.reopen = reopen
        self.retries = retries
        self.backoff = backoff
        self.log = log
        self.stats = stats or Stats()
        self._stop = threading.Event()

    # what the engine and /stats read is the current source's
    name = property(lambda self: self.source.name)  # type: ignore[assignment]
    size = property(lambda self: self.source.size)  # type: ignore[assignment]
    fps = property(lambda self: self.source.fps)  # type: ignore[assignment]
    skips_frames = property(lambda self: self.source.skips_frames)  # type: ignore[assignment]
    frame_count = property(lambda self: self.source.frame_count)  # type: ignore[assignment]

    def next_frame(self) -> Frame | None:
        while True:
            try:
                return self.source.next_frame()
            except SourceLost as exc:
                self.source = self._reconnect(str(exc))

    def read(self) -> np.ndarray | None:
        frame = self.next_frame()
        return None if frame is None else frame.image

    def _reconnect(self, reason: str) -> LiveSource:
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

    def interrupt(self) -> None:
        self._stop.set()
        self.source.interrupt()

    def close(self) -> None:
        self.source.close()
