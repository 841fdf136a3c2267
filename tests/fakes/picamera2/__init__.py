"""A stand-in for picamera2 on machines without a Pi camera: only the calls pibokeh makes.

Same call shapes and array formats as picamera2's documentation (manual, appendix A):
`Picamera2.global_camera_info()`, `Picamera2(camera_num=0)`, `create_video_configuration(main=,
lores=, controls=)`, `configure`, `start`, `capture_arrays(names) -> ([arrays], metadata)`,
`stop`, `close`. Arrays: "RGB888" (h, w, 3) bytes B,G,R; "BGR888" R,G,B; "XBGR8888" (h, w, 4)
R,G,B,255; "XRGB8888" B,G,R,255; "YUV420" (h*3/2, stride) uint8, the Y plane then U and V planes,
each row padded to a stride that is a multiple of 64 bytes (the U and V rows to half of it), as
libcamera lays out YUV420 buffers on the Pi; YUV420 sizes must be even.

Put tests/fakes first on sys.path (PYTHONPATH) to use it. Environment knobs:
  FAKE_PICAMERA2_VIDEO=path   frames come from this video (looped) instead of a synthetic scene
  FAKE_PICAMERA2_CAMERAS=N    how many cameras are attached (default 1)
  FAKE_PICAMERA2_BUSY=1       opening a camera fails as when another process holds it
  FAKE_PICAMERA2_FAIL_AFTER=N the camera is unplugged after N frames: captures raise, and it is
                              no longer listed
  FAKE_PICAMERA2_MODEL=imx500 the cameras are Raspberry Pi AI Cameras (Sony IMX500, 4056x3040): with
                              a network loaded by the fake `picamera2.devices.IMX500`, each capture
                              renders the whole sensor, shows its `ScalerCrop` in main and puts the
                              network's output into the metadata, as libcamera does (devices/imx500)
"""
from __future__ import annotations

import os
import time

import cv2
import numpy as np

FORMATS = ("RGB888", "BGR888", "XBGR8888", "XRGB8888", "YUV420")
_state = {"frames": 0}


def _unplugged() -> bool:
    limit = os.environ.get("FAKE_PICAMERA2_FAIL_AFTER")
    return limit is not None and _state["frames"] >= int(limit)


class Picamera2:
    @staticmethod
    def global_camera_info() -> list[dict]:
        if _unplugged():
            return []
        count = int(os.environ.get("FAKE_PICAMERA2_CAMERAS", "1"))
        model = os.environ.get("FAKE_PICAMERA2_MODEL", "imx708")
        return [{"Model": model, "Location": 2, "Rotation": 180, "Num": n,
                 "Id": f"/base/soc/i2c0mux/i2c@{n}/{model}@1a"} for n in range(count)]

    def __init__(self, camera_num: int = 0, verbose_console=None, tuning=None, allocator=None):
        cameras = self.global_camera_info()
        if camera_num >= len(cameras):
            raise IndexError("list index out of range")  # what picamera2 raises for a missing camera
        if os.environ.get("FAKE_PICAMERA2_BUSY"):
            raise RuntimeError("Failed to acquire camera: Device or resource busy")
        self.camera_num = camera_num
        model = cameras[camera_num]["Model"]
        self.sensor_resolution = (4056, 3040) if model == "imx500" else (4608, 2592)
        self.camera_properties = {"Model": model, "PixelArraySize": self.sensor_resolution}
        self.camera_config: dict | None = None
        self.started = False
        self.closed = False
        self._video = None
        self._next = 0.0

    def create_video_configuration(self, main: dict | None = None, lores: dict | None = None, raw=None,
                                   transform=None, colour_space=None, buffer_count: int = 6,
                                   controls: dict | None = None, display: str | None = "main",
                                   encode: str | None = "main", queue: bool = True,
                                   sensor: dict | None = None, use_case: str = "video") -> dict:
        main = {"format": "XBGR8888", "size": (1280, 720), **(main or {})}
        config = {"use_case": use_case, "buffer_count": buffer_count, "main": main,
                  "lores": dict(lores) if lores else None, "raw": raw,
                  "controls": {"NoiseReductionMode": 1, "FrameDurationLimits": (33333, 33333), **(controls or {})},
                  "display": display, "encode": encode}
        if config["lores"]:
            config["lores"].setdefault("format", "YUV420")
        return config

    def configure(self, camera_config: dict) -> None:
        if self.started:
            raise RuntimeError("Camera must be stopped before configuring")
        for name in ("main", "lores"):
            stream = camera_config.get(name)
            if not stream:
                continue
            if stream["format"] not in FORMATS:
                raise RuntimeError(f"Format {stream['format']} not supported by this fake")
            width, height = stream["size"]
            if width % 2 or height % 2:
                raise RuntimeError(f"{name} size {stream['size']} must be even")
        lores = camera_config.get("lores")
        if lores:
            main_w, main_h = camera_config["main"]["size"]
            if lores["size"][0] > main_w or lores["size"][1] > main_h:
                raise RuntimeError("lores stream dimensions may not exceed main stream")
            if lores["format"] not in ("YUV420",):  # the Pi 4 and earlier ISP: lores is YUV only
                raise RuntimeError("lores stream must be YUV")
        self.camera_config = camera_config

    def start(self, config=None, show_preview=False) -> None:
        if self.camera_config is None:
            raise RuntimeError("Camera has not been configured")
        path = os.environ.get("FAKE_PICAMERA2_VIDEO")
        if path:
            self._video = cv2.VideoCapture(path)
        self.started = True

    def capture_arrays(self, names=["main"], wait=None, signal_function=None):  # noqa: B006 - picamera2's signature
        if not self.started:
            raise RuntimeError("Camera is not running")
        if _unplugged():
            raise RuntimeError("Camera frontend has timed out!")  # how a pulled ribbon cable shows up
        self._pace()
        network = _state.get("imx500")
        metadata = {"SensorTimestamp": time.monotonic_ns(), "FrameDuration": 33333, "ExposureTime": 10000}
        if network is not None and network.camera_num == self.camera_num:
            # the AI Camera: main shows the ScalerCrop of the whole sensor, the network sees its ROI
            sensor = self._scene((1014, 760))  # the 4056x3040 pixel array at a quarter of its size
            crop = network.view(self.camera_config["main"]["size"])
            scene = network.cut(sensor, crop)
            metadata.update(network.metadata(sensor, crop))
        else:
            scene = self._scene()
        _state["frames"] += 1
        arrays = [_to_format(scene, self.camera_config[name]) for name in names]
        return arrays, metadata

    def capture_array(self, name="main", wait=None, signal_function=None) -> np.ndarray:
        return self.capture_arrays([name])[0][0]

    def stop(self) -> None:
        self.started = False

    def close(self) -> None:
        self.stop()
        if self._video is not None:
            self._video.release()
        self.closed = True

    # ---- the scene ----

    def _pace(self) -> None:
        # A camera delivers a frame per frame period: block like capture does on the real one.
        rate = float(self.camera_config["controls"].get("FrameRate", 30.0))
        now = time.monotonic()
        due = max(self._next, now)
        if due > now:
            time.sleep(due - now)
        self._next = due + 1.0 / rate

    def camera_configuration(self) -> dict | None:
        return self.camera_config

    def _scene(self, size: tuple[int, int] | None = None) -> np.ndarray:
        """The sensor's picture as BGR at `size` (width, height; default: the main stream's)."""
        width, height = size or self.camera_config["main"]["size"]
        if self._video is not None:
            ok, frame = self._video.read()
            if not ok:
                self._video.set(cv2.CAP_PROP_POS_FRAMES, 0)
                ok, frame = self._video.read()
            if ok:
                return cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
        # A gradient with a red square moving across it.
        ramp = np.linspace(40, 200, width, dtype=np.uint8)
        frame = np.dstack([np.tile(ramp, (height, 1))] * 3).copy()
        side = max(8, height // 4)
        x = (_state["frames"] * 7) % max(1, width - side)
        frame[height // 3:height // 3 + side, x:x + side] = (0, 0, 255)
        return frame


def _to_format(bgr: np.ndarray, stream: dict) -> np.ndarray:
    """The scene (BGR) scaled to a stream and laid out in its pixel format."""
    width, height = stream["size"]
    image = cv2.resize(bgr, (width, height), interpolation=cv2.INTER_AREA)
    fmt = stream["format"]
    if fmt == "RGB888":
        return image  # bytes B, G, R: OpenCV's order
    if fmt == "BGR888":
        return image[..., ::-1].copy()
    alpha = np.full((height, width, 1), 255, np.uint8)
    if fmt == "XRGB8888":
        return np.concatenate([image, alpha], axis=2)
    if fmt == "XBGR8888":
        return np.concatenate([image[..., ::-1], alpha], axis=2)
    if width % 2 or height % 2:
        raise RuntimeError(f"YUV420 stream size {width}x{height} must be even")
    planes = cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420).reshape(-1)  # Y, U, V without padding
    stride = -(-width // 64) * 64
    out = np.zeros((height * 3 // 2, stride), np.uint8)
    y = planes[: width * height].reshape(height, width)
    u = planes[width * height: width * height * 5 // 4].reshape(height // 2, width // 2)
    v = planes[width * height * 5 // 4:].reshape(height // 2, width // 2)
    out[:height, :width] = y
    for index, plane in enumerate((u, v)):  # chroma rows of stride/2 bytes, two to an array row
        rows = out[height + index * height // 4: height + (index + 1) * height // 4].reshape(height // 2, stride // 2)
        rows[:, : width // 2] = plane
    return out
