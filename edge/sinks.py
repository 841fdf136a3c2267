"""Frame sinks: image files and video files, always written atomically (temp file + rename).

Live outputs (recording, the MJPEG preview) follow the same small interface: `write(frame)`,
`close()`, and `abort()` to drop what was written.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np


class OutputError(Exception):
    """An output that cannot be written; the message is one line meant for the user."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp makes its files private (0600); a finished output gets what any new file would.
_FILE_MODE = 0o666 & ~_umask()


def temp_beside(path: Path, suffix: str) -> Path:
    """A new empty hidden file next to `path` (same file system, so a rename can replace `path`)."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix, dir=path.parent)
    except OSError as exc:
        raise OutputError(f"{path.parent}: cannot write here ({exc.strerror or exc})") from None
    os.fchmod(fd, _FILE_MODE)
    os.close(fd)
    return Path(tmp)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside `path` that replaces it only if the block succeeds.

    Readers never see a half-written file, and a failure leaves any earlier file untouched.
    """
    path = Path(path)
    tmp_path = temp_beside(path, f".part{path.suffix}")
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def encode_image(image: np.ndarray, suffix: str, quality: int = 95) -> bytes:
    """The image encoded for a file suffix (".jpg", ".png", ...)."""
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if suffix.lower() in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(suffix, image, params)
    if not ok:
        raise OutputError(f"cannot encode a {image.shape} {image.dtype} image as {suffix}")
    return buf.tobytes()


def write_image(path: str | os.PathLike, image: np.ndarray, quality: int = 95) -> None:
    """Encode by the path's suffix and write atomically."""
    path = Path(path)
    data = encode_image(image, path.suffix, quality)
    with atomic_path(path) as tmp:
        try:
            tmp.write_bytes(data)
        except OSError as exc:
            raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from None


class FrameSink:
    """Somewhere frames go. `close` finishes the output; `abort` discards it."""

    def write(self, frame: np.ndarray) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def abort(self) -> None:
        self.close()

    def __enter__(self) -> "FrameSink":
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


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
