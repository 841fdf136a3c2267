"""Frame sources: image files, folders and video files behind one small interface.

Every source yields BGR uint8 frames (OpenCV's order). Live sources (cameras, streams) subclass
`FrameSource` too, so a pipeline never knows which one it has.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Iterator

import cv2
import numpy as np

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg", ".wmv"})


class InputError(Exception):
    """An input that cannot be used; the message is one line meant for the user."""


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def expand_inputs(inputs: Iterable[str | os.PathLike], exclude: Path | None = None
                  ) -> tuple[list[tuple[Path, Path]], list[tuple[Path, str]]]:
    """(file, output name) pairs for the given files and folders, and the inputs that cannot be used.

    Folders are searched recursively for images only (a video in a photo folder is rarely meant to be
    converted with it); their files keep their path relative to the folder as output name, so
    equal names in subfolders do not collide. Files named explicitly are kept whatever their suffix,
    so a mislabelled file gets a clear decode error instead of silently vanishing. Files under
    `exclude` (the output folder) are skipped, so a second run does not process its own outputs.
    """
    excluded = exclude.resolve() if exclude else None
    pairs: list[tuple[Path, Path]] = []
    problems: list[tuple[Path, str]] = []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and is_image(p)
                           and not (excluded and excluded in p.resolve().parents))
            if not found:
                problems.append((path, "folder holds no images"))
            pairs.extend((p, p.relative_to(path)) for p in found)
        elif path.is_file():
            pairs.append((path, Path(path.name)))
        elif path.exists():
            problems.append((path, "not a regular file"))
        else:
            problems.append((path, "no such file or folder"))
    seen: set[Path] = set()
    unique = []
    for path, name in pairs:
        if path.resolve() not in seen:
            seen.add(path.resolve())
            unique.append((path, name))
    return unique, problems


def read_image(path: str | os.PathLike) -> np.ndarray:
    """The image: 8- or 16-bit, 1, 3 or 4 channels (BGR order), JPEGs upright by their EXIF tag.

    Raises InputError for missing, empty, truncated or undecodable files.
    """
    path = Path(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if data.size == 0:
        raise InputError(f"{path}: empty file")
    # Phone JPEGs are often stored sideways with an EXIF orientation tag; outputs carry no EXIF, so
    # apply it. Other formats are read unchanged to keep alpha and 16 bits.
    is_jpeg = data[:2].tobytes() == b"\xff\xd8"
    flags = cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH if is_jpeg else cv2.IMREAD_UNCHANGED
    image = cv2.imdecode(data, flags)
    if image is None or image.size == 0:
        raise InputError(f"{path}: not a readable image (corrupt, truncated or unknown format)")
    if image.dtype not in (np.uint8, np.uint16):
        image = _to_uint16(image)
    return image


def _to_uint16(image: np.ndarray) -> np.ndarray:
    # 32-bit float/int TIFFs: rescale into 16 bits rather than refuse them.
    lo, hi = float(image.min()), float(image.max())
    scale = 65535.0 / (hi - lo) if hi > lo else 0.0
    return ((image.astype(np.float64) - lo) * scale).astype(np.uint16)


def to_bgr8(image: np.ndarray) -> np.ndarray:
    """Any image `read_image` returns, as the 3-channel uint8 BGR frame the model expects."""
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


class FrameSource:
    """A stream of BGR uint8 frames. Subclasses implement `read` (None at the end) and `close`."""

    fps: float = 0.0
    size: tuple[int, int] = (0, 0)  # (width, height)
    frame_count: int = 0  # 0 when unknown (live sources)

    def read(self) -> np.ndarray | None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __iter__(self) -> Iterator[np.ndarray]:
        while (frame := self.read()) is not None:
            yield frame

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
