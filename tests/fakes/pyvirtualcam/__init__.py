"""A stand-in for pyvirtualcam on machines without v4l2loopback (it cannot be loaded here): the
calls pibokeh makes, with the real module's shapes and checks.

`Camera(width, height, fps, *, fmt=PixelFormat.RGB, device=None, backend=None, print_fps=False)`,
`send(frame)` (a C-contiguous uint8 array of shape (height, width, 3) for RGB/BGR, else ValueError),
`close()`, `device`, `width`, `height`, `fps`, `fmt`; also a context manager.

Put tests/fakes first on PYTHONPATH to use it. FAKE_PYVIRTUALCAM_OUT=DIR: on close, the camera
writes DIR/camera.json (device, size, fps, fmt, frames sent) and DIR/last.npy (the last frame).
"""
from __future__ import annotations

import json
import os
from enum import Enum
from pathlib import Path

import numpy as np


class PixelFormat(Enum):
    RGB = "raw "
    BGR = "24BG"
    RGBA = "ABGR"
    GRAY = "J400"
    I420 = "I420"
    NV12 = "NV12"
    YUYV = "YUY2"
    UYVY = "UYVY"


class Camera:
    def __init__(self, width: int, height: int, fps: float, *, fmt: PixelFormat = PixelFormat.RGB,
                 device: str | None = None, backend: str | None = None, print_fps: bool = False, **kw):
        if fmt not in (PixelFormat.RGB, PixelFormat.BGR):
            raise ValueError(f"the fake supports RGB and BGR only, not {fmt}")
        if device is not None and not device.startswith("/dev/video"):
            raise RuntimeError(f"'v4l2loopback' backend: Device {device} does not exist.")
        self.width, self.height, self.fps, self.fmt = width, height, fps, fmt
        self.device = device or "/dev/video10"
        self.frames_sent = 0
        self._last: np.ndarray | None = None
        self._closed = False

    def send(self, frame: np.ndarray) -> None:
        if self._closed:
            raise RuntimeError("the camera is closed")
        if frame.dtype != np.uint8 or frame.shape != (self.height, self.width, 3):
            raise ValueError(f"mismatching frame: expected uint8 {(self.height, self.width, 3)}, "
                             f"got {frame.dtype} {frame.shape}")
        if not frame.flags.c_contiguous:
            raise ValueError("frame must be C-contiguous")
        self.frames_sent += 1
        self._last = frame.copy()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        out = os.environ.get("FAKE_PYVIRTUALCAM_OUT")
        if out:
            Path(out).mkdir(parents=True, exist_ok=True)
            info = {"device": self.device, "width": self.width, "height": self.height, "fps": self.fps,
                    "fmt": self.fmt.name, "frames": self.frames_sent}
            Path(out, "camera.json").write_text(json.dumps(info))
            if self._last is not None:
                np.save(Path(out, "last.npy"), self._last)

    def __enter__(self) -> "Camera":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
