"""`pibokeh camera --virtual-camera [/dev/videoN]`: the output as a camera other programs can open.

Frames go to a v4l2loopback device through pyvirtualcam, so a video-call app (or a browser) picks
"pibokeh" like any webcam. Loading the kernel module is the user's step (`sudo modprobe
v4l2loopback exclusive_caps=1`; exclusive_caps makes Chrome and others list the device); without
it, or without pyvirtualcam, the command stops at start with one line that says so.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..errors import InputError
from ..media.frames import FrameSink
from ..media.images import to_bgr8

MODPROBE = "sudo modprobe v4l2loopback exclusive_caps=1"


class VirtualCameraSink(FrameSink):
    """Frames (BGR, resized to `size` if needed) sent to a v4l2loopback device."""

    def __init__(self, device: str | None, fps: float, size: tuple[int, int]):
        try:
            import pyvirtualcam
        except ImportError:
            raise InputError("--virtual-camera needs pyvirtualcam (pip install 'pibokeh[virtualcam]') and a "
                             f"v4l2loopback device ({MODPROBE})") from None
        self.size = (int(size[0]), int(size[1]))
        self.frames = 0
        wanted = None if device in (None, "", "auto") else device
        try:
            self._cam = pyvirtualcam.Camera(width=self.size[0], height=self.size[1], fps=fps or 30.0,
                                            fmt=pyvirtualcam.PixelFormat.BGR, device=wanted)
        except (RuntimeError, OSError, ValueError) as exc:
            # pyvirtualcam's own words ("No v4l2 loopback device found at /dev/video[0-99]...") plus the fix
            words = (str(exc).splitlines() or [type(exc).__name__])[0].replace("'v4l2loopback' backend: ", "")
            words = words.split(" Did you run")[0].split(" See also")[0].rstrip(". ")
            raise InputError(f"--virtual-camera {device or 'auto'}: {words}; load the module with: {MODPROBE}") from None
        self.device = self._cam.device

    def write(self, frame: np.ndarray, pts: int | None = None) -> None:
        frame = to_bgr8(frame)
        if (frame.shape[1], frame.shape[0]) != self.size:
            frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
        self._cam.send(np.ascontiguousarray(frame))
        self.frames += 1

    def close(self) -> None:
        if self._cam is not None:
            self._cam.close()
            self._cam = None
