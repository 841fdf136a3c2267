"""The fallback where PyAV cannot be installed (32-bit Raspberry Pi OS has no wheel for it): video
frames decoded and encoded by OpenCV. Its wheels write only MPEG-4 Part 2 (`mp4v`), which browsers
do not play, and know no timestamps, sound or alpha: `encoders.choose` warns when this is used."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from ..errors import InputError, OutputError
from ..files import reason


def open_capture(path: Path) -> tuple[cv2.VideoCapture, float, tuple[int, int], int]:
    """(capture, fps, (width, height), frame count) of a video file. Raises InputError."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise InputError(f"{path}: not a readable video")
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    if size[0] <= 0 or size[1] <= 0:
        cap.release()
        raise InputError(f"{path}: not a readable video (no video stream)")
    return cap, float(cap.get(cv2.CAP_PROP_FPS) or 0.0), size, max(int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), 0)


def captured_frames(cap: cv2.VideoCapture) -> Iterator[np.ndarray]:
    while True:
        ok, frame = cap.read()
        if not ok or frame is None:
            return
        yield frame


class OpenCVWriter:
    """Frames (BGR, exactly `size`) into `path` with OpenCV's MPEG-4 Part 2 writer."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int]):
        self.path = path
        self._writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        if not self._writer.isOpened():
            raise OutputError(f"{path}: cannot open a video writer ({size[0]}x{size[1]} at {fps:g} fps)")

    def write(self, frame: np.ndarray) -> None:
        self._writer.write(frame)

    def close(self) -> None:
        # OpenCV reports no write errors; an empty or missing file after release is the only sign.
        self._writer.release()
        try:
            empty = os.path.getsize(self.path) == 0
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot write ({reason(exc)})") from None
        if empty:
            raise OutputError(f"{self.path}: cannot write (the video writer wrote nothing)")
