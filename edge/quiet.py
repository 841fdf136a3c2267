"""Native libraries' chatter (TFLite delegates, TensorFlow, FFmpeg, libpng) kept off the user's stderr.

Native code writes straight to file descriptor 2, past Python's `sys.stderr`. `native_stderr_silenced`
points that descriptor at /dev/null while Python's own `sys.stderr` (messages, progress bars,
warnings) keeps writing to the real one. PIBOKEH_VERBOSE=1 keeps everything, for debugging a crash.
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading
from typing import Iterator

_lock = threading.Lock()
_depth = 0  # nested or concurrent uses share the one redirection


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    global _depth
    if os.environ.get("PIBOKEH_VERBOSE"):
        yield
        return
    with _lock:
        _depth += 1
        outer = _depth == 1
    try:
        if outer:
            with _redirected():
                yield
        else:
            yield
    finally:
        with _lock:
            _depth -= 1


@contextlib.contextmanager
def _redirected() -> Iterator[None]:
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no usable stderr (closed, or embedded)
        yield
        return
    python_stderr = sys.stderr
    devnull = os.open(os.devnull, os.O_WRONLY)
    sys.stderr = _lasting_copy(saved)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        sys.stderr = python_stderr
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


_copies: dict[tuple[int, int], object] = {}


def _lasting_copy(fd: int):  # type: ignore[no-untyped-def]
    """A text stream on a duplicate of `fd` that is never closed: another thread may still be writing
    a log line to it after the redirection ended (closing it made that thread's print raise)."""
    info = os.fstat(fd)
    key = (info.st_dev, info.st_ino)
    if key not in _copies:
        _copies[key] = os.fdopen(os.dup(fd), "w", buffering=1)
    return _copies[key]


def quiet_native_logs() -> None:
    """Ask OpenCV to keep FFmpeg's per-frame decoder messages ("[mjpeg @ 0x..] No JPEG data found")
    and its own warnings to itself: a damaged video is our one line, not a screenful. Call it before
    the first video is opened (OpenCV reads these once). PIBOKEH_VERBOSE=1 keeps them."""
    if not os.environ.get("PIBOKEH_VERBOSE"):
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET, read when FFmpeg starts
        import cv2  # OpenCV read OPENCV_LOG_LEVEL when it was imported; its warnings are set here
        if hasattr(cv2, "setLogLevel"):
            cv2.setLogLevel(2)  # LOG_LEVEL_ERROR: no "[ WARN:0@...] Stream timeout triggered" lines
