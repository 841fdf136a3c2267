"""Video files: frames decoded from a file, and frames encoded into one (atomically)."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from .errors import InputError, OutputError
from .files import temp_beside
from .frames import FrameSink, FrameSource
from .images import to_bgr8


class VideoFileSource(FrameSource):
    """Frames of a video file, decoded by OpenCV."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"{self.path}: no such file")
        if self.path.stat().st_size == 0:
            raise InputError(f"{self.path}: empty file")
        self._cap = cv2.VideoCapture(str(self.path))
        if not self._cap.isOpened():
            raise InputError(f"{self.path}: not a readable video")
        width = int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        # Some containers report nonsense rates (0, 1000, 90000); fall back to a common one.
        self.fps = fps if 0.5 <= fps <= 240 else 25.0
        self.size = (width, height)
        self.frame_count = max(int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
        if width <= 0 or height <= 0:
            self.close()
            raise InputError(f"{self.path}: not a readable video (no video stream)")

    def read(self) -> np.ndarray | None:
        ok, frame = self._cap.read()
        if not ok or frame is None:
            return None
        return to_bgr8(frame)

    def rewind(self) -> None:
        self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)

    def close(self) -> None:
        self._cap.release()


class VideoFileSink(FrameSink):
    """An MP4 file (MPEG-4 Part 2, the codec OpenCV's wheels can always write).

    Frames go to a hidden temporary file next to `path`; `close` renames it into place, so an
    interrupted run never leaves a truncated file under the final name. A sink that got no frame
    leaves no file.
    """

    FOURCC = "mp4v"

    def __init__(self, path: str | os.PathLike, fps: float, size: tuple[int, int]):
        self.path = Path(path)
        self.size = size
        self.frames = 0
        self._tmp = temp_beside(self.path, ".part.mp4")
        self._writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter_fourcc(*self.FOURCC), fps, size)
        if not self._writer.isOpened():
            self._tmp.unlink(missing_ok=True)
            raise OutputError(f"{self.path}: cannot open a video writer ({size[0]}x{size[1]} at {fps:g} fps)")

    def write(self, frame: np.ndarray) -> None:
        if (frame.shape[1], frame.shape[0]) != self.size:
            frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
        self._writer.write(frame)
        self.frames += 1

    @property
    def bytes_written(self) -> int | None:
        """Bytes in the file so far (the temporary one while recording), None once gone."""
        for path in (self._tmp, self.path) if self._writer is not None else (self.path,):
            try:
                return path.stat().st_size
            except OSError:
                continue
        return None

    def close(self) -> None:
        if self._writer is None:
            return
        self._writer.release()
        self._writer = None
        if self.frames:
            os.replace(self._tmp, self.path)
        else:
            self._tmp.unlink(missing_ok=True)

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        self._tmp.unlink(missing_ok=True)
