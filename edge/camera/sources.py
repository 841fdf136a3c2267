"""Live frame sources: the Pi camera (picamera2), USB/V4L2 cameras and network streams (OpenCV),
and a video file played as if it were live.

All are `FrameSource`s yielding BGR uint8 frames. `next_frame` adds an optional small copy of the
same frame for inference (the Pi camera's `lores` stream; the chain falls back to the main frame)
and the camera's metadata. A live source that stops delivering raises `SourceLost`; wrapped in
`Reconnecting`, it is opened again (with retries) without the engine noticing more than a pause.

    open_source("picamera2:0", size=(1280, 720), fps=30)
    open_source("opencv:/dev/video0")        # or opencv:0
    open_source("video:clip.mp4", loop=True)  # paced at the clip's frame rate
    open_source("rtsp://camera.local/stream", timeout=10)

Opening one that may not be there yet, or again once it is lost, is `reopen.py`'s.
"""
from __future__ import annotations

import importlib
import time
from pathlib import Path
from typing import Any, Optional

import cv2
import numpy as np

from ..errors import InputError
from ..media.frames import Frame, FrameSource
from ..media.images import check_video_frames, to_bgr8
from ..media.video import VideoFileSource
from ..model import aspect_matches

Size = Optional[tuple[int, int]]  # (width, height)

LORES_MAX_WIDTH = 640  # inference runs at <= 513 px: a bigger lores only costs copies
DEFAULT_CAMERA_SIZE = (1280, 720)  # picamera2's main stream when no --size is given
URL_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://", "rtmp://", "udp://", "tcp://")
OPEN_TIMEOUT = 10.0  # seconds a network stream gets to answer (and, once open, to deliver each frame)


class SourceLost(InputError):
    """A live source that was open has stopped delivering frames (unplugged, stream dropped)."""


class LiveSource(FrameSource):
    """A FrameSource of a camera or stream: it does not wait, so a frame not taken in time is gone."""

    name: str = "source"
    skips_frames = True


def fit(frame: np.ndarray, size: Size) -> np.ndarray:
    """The frame at `size` (width, height) when one was asked for and it differs."""
    if size is None or (frame.shape[1], frame.shape[0]) == tuple(size):
        return frame
    return cv2.resize(frame, tuple(size), interpolation=cv2.INTER_AREA)


# ---- video file, played as if live ----------------------------------------------------------------

class VideoPlayback(LiveSource):
    """A video file delivered at its frame rate (or `fps`), from the start again with `loop`.

    Never faster than that rate, like a camera; but a file can wait, so when the pipeline is slower
    it plays slower instead of skipping frames (a recording of a clip holds every frame).
    """

    skips_frames = False

    def __init__(self, path: str, size: Size = None, fps: float | None = None, loop: bool = False):
        self._video = VideoFileSource(path)
        self.name = f"video:{path}"
        self.fps = float(fps or self._video.fps)
        self.size = tuple(size) if size else self._video.size
        self.frame_count = 0 if loop else self._video.frame_count
        self.loop = loop
        self._next = 0.0

    def read(self) -> np.ndarray | None:
        frame = self._video.read()
        if frame is None and self.loop:
            self._video.rewind()
            frame = self._video.read()
        if frame is None:
            return None
        # Pace like a camera: a frame is not available before its time, and a late reader
        # does not get a burst of catch-up frames.
        now = time.monotonic()
        due = max(self._next, now)
        if due > now:
            time.sleep(due - now)
        self._next = due + 1.0 / self.fps
        return fit(frame, self.size)

    def close(self) -> None:
        self._video.close()


# ---- OpenCV: USB/V4L2 cameras and network streams -------------------------------------------------

class OpenCVSource(LiveSource):
    """A V4L2 camera (index or /dev/videoN) or a stream URL OpenCV can open."""

    def __init__(self, target: int | str, size: Size = None, fps: float | None = None,
                 timeout: float = OPEN_TIMEOUT):
        self.target = target
        device = isinstance(target, int) or str(target).startswith("/dev/")
        self.name = f"opencv:{target}" if device else str(target)
        # (FFmpeg's and OpenCV's own messages are kept quiet by quiet_native_logs, process-wide: this
        # runs in a worker thread, where swapping file descriptor 2 would race the other threads' logs)
        if device:  # devices through V4L2 directly
            self._cap = cv2.VideoCapture(target, cv2.CAP_V4L2)
        else:
            # URLs through FFmpeg (the network backend of OpenCV's wheels), with bounded waits: its
            # default is to wait ~30 s for a server that accepts and never answers, on every attempt.
            ms = int(timeout * 1000)
            self._cap = cv2.VideoCapture(target, cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms,
                                                                  cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms])
        if not self._cap.isOpened():
            self._cap.release()
            if device:
                raise InputError(f"{self.name}: cannot open (missing, busy, or not a camera OpenCV can read)")
            raise InputError(f"{self.name}: cannot open within {timeout:g} s (no answer, unreachable, or not a "
                             "stream OpenCV can read)")
        if size:
            self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, size[0])
            self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, size[1])
        if fps:
            self._cap.set(cv2.CAP_PROP_FPS, fps)
        first = self._grab()
        if first is None:
            self._cap.release()
            raise InputError(f"{self.name}: opened but delivers no frames (busy or unsupported format)")
        self._pending: np.ndarray | None = first
        self.requested = tuple(size) if size else None
        self.size = self.requested or (first.shape[1], first.shape[0])
        try:  # a stream's size is known only from its first frame: the budget is checked there
            check_video_frames(self.name, self.size)
        except InputError:
            self._cap.release()
            raise
        reported = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = float(fps or (reported if 0.5 <= reported <= 240 else 25.0))

    def _grab(self) -> np.ndarray | None:
        ok, frame = self._cap.read()
        return to_bgr8(frame) if ok and frame is not None and frame.size else None

    def read(self) -> np.ndarray | None:
        frame = self._pending if self._pending is not None else self._grab()
        self._pending = None
        if frame is None:
            raise SourceLost(f"{self.name}: stopped delivering frames (unplugged or stream ended)")
        return fit(frame, self.requested)

    def close(self) -> None:
        self._cap.release()


# ---- picamera2 ------------------------------------------------------------------------------------

def lores_size(main: tuple[int, int], wanted: tuple[int, int] | None = None) -> tuple[int, int] | None:
    """The lores stream's (width, height) for a main stream of `main`, or None to infer on main.

    `wanted` is the model's input size: asked for as it is (rounded down to even, as YUV420 needs)
    when it has main's aspect and is smaller, so the frame reaches the model with no resize on the Pi.
    Otherwise main's aspect at most LORES_MAX_WIDTH wide, width a multiple of 64."""
    width, height = main
    if wanted and aspect_matches((height, width), (wanted[1], wanted[0])):
        even = (wanted[0] // 2 * 2, wanted[1] // 2 * 2)
        return even if even[0] < width and even[1] < height and min(even) >= 16 else None
    lores_w = min(LORES_MAX_WIDTH, width) // 64 * 64
    if lores_w < 64 or lores_w >= width:
        return None
    lores_h = max(2, round(lores_w * height / width / 2) * 2)
    return lores_w, lores_h


def yuv420_to_bgr(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """picamera2's YUV420 array -> BGR of `size` (width, height).

    The array is (height*3/2, stride): the Y plane's rows, then the U and V planes with rows of
    stride/2 bytes, two to an array row; the stride is the width padded (to 64 bytes on a Pi)."""
    width, height = size
    stride = array.shape[1]
    if stride == width:
        return cv2.cvtColor(np.ascontiguousarray(array[: height * 3 // 2]), cv2.COLOR_YUV2BGR_I420)
    y = array[:height, :width]
    chroma = array[height: height * 3 // 2].reshape(height, stride // 2)
    u, v = chroma[: height // 2, : width // 2], chroma[height // 2:, : width // 2]
    packed = np.concatenate([y.reshape(-1), u.reshape(-1), v.reshape(-1)]).reshape(height * 3 // 2, width)
    return cv2.cvtColor(packed, cv2.COLOR_YUV2BGR_I420)


class Picamera2Source(LiveSource):
    """A Raspberry Pi camera: a `main` stream for output and, where it helps, a `lores` one for inference.

    main is "RGB888", which picamera2 lays out as B, G, R bytes: OpenCV's BGR, used as is.
    lores is "YUV420" (the only lores format every Pi supports) and converted with OpenCV.
    """

    def __init__(self, camera: int | None = 0, size: Size = None, fps: float | None = None, module: str = "picamera2",
                 infer_size: Size = None, sensor_model: Any = None):
        # The AI Camera: its IMX500 helper (opened with the model, before the camera) names the camera
        # to open, and takes the camera over before it starts (the network upload's progress bar).
        if sensor_model is not None:
            if camera is not None and camera != sensor_model.camera_num:
                raise InputError(f"--source picamera2:{camera}: the AI Camera is camera {sensor_model.camera_num}")
            camera = sensor_model.camera_num
        camera = camera or 0
        self.name = f"picamera2:{camera}"
        try:
            Picamera2 = importlib.import_module(module).Picamera2
        except ImportError:
            raise InputError(f"{self.name}: picamera2 is not installed (on Raspberry Pi OS: "
                             "sudo apt install python3-picamera2, and a venv made with --system-site-packages)") from None
        cameras = Picamera2.global_camera_info()
        if camera >= len(cameras):
            found = ", ".join(f"{i}: {c.get('Model', '?')}" for i, c in enumerate(cameras)) or "none"
            raise InputError(f"{self.name}: no such camera (cameras found: {found})")
        try:
            self._cam = Picamera2(camera_num=camera)
        except Exception as exc:  # libcamera reports a busy camera as RuntimeError, others vary
            raise InputError(f"{self.name}: cannot open the camera, busy or failing ({_first_line(exc)})") from None
        self.size = tuple(size) if size else DEFAULT_CAMERA_SIZE
        self.fps = float(fps or 30.0)
        self.lores = None if sensor_model is not None else lores_size(self.size, infer_size)  # no CPU inference
        streams = {"main": {"size": self.size, "format": "RGB888"}}
        if self.lores:
            streams["lores"] = {"size": self.lores, "format": "YUV420"}
        try:
            config = self._cam.create_video_configuration(**streams, controls={"FrameRate": self.fps})
            self._cam.configure(config)
            if self.lores:  # libcamera may have adjusted the size it was asked for
                self.lores = tuple(self._cam.camera_config["lores"]["size"])
            if sensor_model is not None:
                sensor_model.attach(self._cam)
            self._cam.start()
        except Exception as exc:
            self._cam.close()
            raise InputError(f"{self.name}: cannot start {self.size[0]}x{self.size[1]} at {self.fps:g} fps "
                             f"({_first_line(exc)})") from None
        self._names = ["main", "lores"] if self.lores else ["main"]
        self._closed = False

    def next_frame(self) -> Frame:
        try:
            arrays, metadata = self._cam.capture_arrays(self._names)
        except Exception as exc:
            raise SourceLost(f"{self.name}: capture failed ({_first_line(exc)})") from None
        main = arrays[0][:, : self.size[0], :3]  # rows may be padded to the stride
        small = yuv420_to_bgr(arrays[1], self.lores) if self.lores else None
        return Frame(np.ascontiguousarray(main), small, metadata=metadata)

    def read(self) -> np.ndarray:
        return self.next_frame().image

    def close(self) -> None:
        if self._closed:  # the pipeline closes a lost camera, then again on exit
            return
        self._closed = True
        try:
            self._cam.stop()
        finally:
            self._cam.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# ---- choosing one ---------------------------------------------------------------------------------

def open_source(spec: str, size: Size = None, fps: float | None = None, loop: bool = False,
                infer_size: Size = None, timeout: float = OPEN_TIMEOUT, sensor_model: Any = None) -> LiveSource:
    """The live source a --source value names. Raises InputError with a one-line reason.
    `infer_size` (width, height): the model's input, for sources with a second, small stream;
    `timeout`: seconds a network stream may take to answer; `sensor_model`: a backend that runs on
    the camera's sensor (the AI Camera), which only that camera can feed."""
    kind, _, rest = spec.partition(":")
    if sensor_model is not None and kind != "picamera2":
        raise InputError(f"--source {spec}: {sensor_model.path.name} runs on the AI Camera's sensor; "
                         "use --source picamera2")
    if spec.startswith(URL_SCHEMES):
        return OpenCVSource(spec, size, fps, timeout)
    if kind == "picamera2":
        if rest and not rest.isdigit():
            raise InputError(f"--source {spec}: expected picamera2 or picamera2:N (a camera number)")
        return Picamera2Source(int(rest) if rest else None, size, fps, infer_size=infer_size,
                               sensor_model=sensor_model)
    if kind == "opencv":
        if rest.isdigit():
            return OpenCVSource(int(rest), size, fps)
        if rest.startswith("/dev/"):
            if not Path(rest).exists():
                raise InputError(f"{spec}: no such device (is the camera plugged in?)")
            return OpenCVSource(rest, size, fps)
        raise InputError(f"--source {spec}: expected opencv:N or opencv:/dev/videoN")
    if kind == "video":
        if not rest:
            raise InputError("--source video: needs a file, e.g. video:clip.mp4")
        return VideoPlayback(rest, size, fps, loop)
    raise InputError(f"--source {spec}: unknown source; use picamera2[:N], opencv:N, opencv:/dev/videoN, "
                     "video:PATH or an rtsp:// or http:// URL")
