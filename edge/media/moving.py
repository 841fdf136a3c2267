"""Moving backgrounds: a video, an animated GIF or an animated WebP played behind the foreground.

One frame per `next()`, looping at the end, decoded as it is needed: a video or GIF through the
video reader (PyAV: one frame in memory at a time), an animated WebP through OpenCV's animation
reader (FFmpeg cannot decode animated WebP) a few frames at a time. So a long clip costs no more
memory than a short one. The chain keeps one player per output stream and asks it for the next
frame as it composes each output frame; a still output (a photo) gets the first frame.
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError
from .images import to_bgr8
from .inputs import is_video
from .video import VideoFileSource

WEBP_CHUNK = 8  # animated WebP frames decoded at a time


def is_moving(path: str | os.PathLike) -> bool:
    """True for a video file, a GIF, or a WebP holding more than one frame (an animation)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".gif" or is_video(path):
        return True
    if suffix == ".webp":
        return len(_webp_frames(path, 0, 2)) > 1
    return False


def _webp_frames(path: Path, start: int, count: int) -> list[np.ndarray]:
    try:
        ok, animation = cv2.imreadanimation(str(path), start, count)
    except cv2.error:
        return []
    return [to_bgr8(frame) for frame in animation.frames] if ok else []


class MovingPicture:
    """The frames of a moving picture, in order and looped; the first one is decoded on opening
    (so a file that cannot play fails there, with a one-line InputError)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.webp = self.path.suffix.lower() == ".webp"
        self.shown = 0  # frames handed out
        self._source = None if self.webp else VideoFileSource(self.path)
        self._chunk: list[np.ndarray] = []  # WebP frames decoded ahead, the next one last
        self._position = 0  # the WebP frame to decode next
        self._pending = self._read()  # the first frame, decoded now to fail early
        if self._pending is None:
            self.close()
            raise InputError(f"{self.path}: no frame could be decoded")

    def _read(self) -> np.ndarray | None:
        """The next frame of the file, or None at its end."""
        if self._source is not None:
            return self._source.read()
        if not self._chunk:
            self._chunk = _webp_frames(self.path, self._position, WEBP_CHUNK)[::-1]
            self._position += len(self._chunk)
        return self._chunk.pop() if self._chunk else None

    def _rewind(self) -> None:
        if self._source is not None:
            self._source.rewind()
        self._chunk, self._position = [], 0

    def next(self) -> np.ndarray:
        """The next frame (BGR, 8-bit); after the last one, the first again."""
        frame, self._pending = self._pending, None
        if frame is None:
            frame = self._read()
        if frame is None:  # the end: from the start again
            self._rewind()
            frame = self._read()
        if frame is None:
            raise InputError(f"{self.path}: no frame could be decoded after looping")
        self.shown += 1
        return frame

    def close(self) -> None:
        if self._source is not None:
            self._source.close()


def open_moving(path: str | os.PathLike) -> MovingPicture:
    """A player of the moving picture at `path` (raises InputError if it cannot play)."""
    return MovingPicture(path)
