"""The Raspberry Pi AI Camera (Sony IMX500) backend: the network runs on the image sensor.

`pibokeh-convert --target imx500` makes `packerOut.zip`; on the Pi, `imx500-package` makes it a
`network.rpk` (its card, `network.json`, goes beside it). Given that file, this backend opens
picamera2's IMX500 helper (`picamera2.devices.IMX500(rpk)`), which must exist before the camera is
opened: it finds the AI Camera, gives the network to the sensor's driver, which uploads it when the
camera starts (minutes the first time; the camera's own flash caches it after that), and names the
camera to open (`camera_num`). The camera source then opens that camera and hands it over (`attach`),
which shows the upload's progress. From then on every frame's metadata
carries the sensor's output: the class map of the inference region (`get_outputs`), which this
backend maps onto the frame (`from_metadata`). The CPU does no inference at all.

Where the class map lies: the sensor infers on a region of its full pixel array (the ROI, set here
to the model's aspect, centred: `set_inference_aspect_ratio`), while the main stream shows another
(`ScalerCrop` in each frame's metadata, both in full-sensor pixels). `sensor_window` cuts (or pads
with background) the class map to the frame's view: the geometry picamera2's
`convert_inference_coords` applies to a box, applied to the whole map.

Verified only against the fake in tests/fakes/picamera2 (same calls, same metadata): no AI Camera here.
"""
from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np

from ..errors import ModelError
from .backend import Backend
from .card import read_card
from .devices import open_helper
from .labels import LABELS

INSTALL = "sudo apt install imx500-all python3-picamera2 (Raspberry Pi OS), and a venv made with --system-site-packages"
Box = Sequence[float]  # (x, y, width, height)
FW_NETWORK_STAGE = 2  # picamera2's imx500.py: the firmware stage of the network's own upload


def sensor_window(labels: np.ndarray, roi: Box, crop: Box) -> np.ndarray:
    """The class map of the sensor's inference region `roi` cut to the frame's view `crop` (both
    (x, y, w, h) in full-sensor pixels) at the map's own pixel density; background (0) where the
    frame shows what the sensor did not infer on."""
    height, width = labels.shape[:2]
    rx, ry, rw, rh = (float(v) for v in roi)
    cx, cy, cw, ch = (float(v) for v in crop)
    if min(rw, rh, cw, ch) <= 0:
        raise ModelError(f"AI Camera: empty inference region {tuple(roi)} or frame view {tuple(crop)}")
    sx, sy = width / rw, height / rh  # map pixels per sensor pixel
    out_w, out_h = max(1, round(cw * sx)), max(1, round(ch * sy))
    if (out_w, out_h) == (width, height) and abs(cx - rx) * sx < 0.5 and abs(cy - ry) * sy < 0.5:
        return labels  # the usual case: the model has the frame's aspect
    # output pixel centre u -> sensor x = cx + (u + 0.5) * cw / out_w -> map x = (x - rx) * sx - 0.5
    ax, ay = cw / out_w * sx, ch / out_h * sy
    matrix = np.float32([[ax, 0, (cx - rx) * sx + 0.5 * ax - 0.5], [0, ay, (cy - ry) * sy + 0.5 * ay - 0.5]])
    return cv2.warpAffine(labels, matrix, (out_w, out_h), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def as_class_map(output: np.ndarray, input_size: tuple[int, int], classes: int) -> np.ndarray:
    """The sensor's arg-max output (float class ids, (h, w) or (w, h)) as a uint8 class map (h, w)."""
    out = np.squeeze(np.asarray(output))
    height, width = input_size
    if out.shape == (width, height) and height != width:
        out = out.T
    if out.ndim != 2:
        raise ModelError(f"AI Camera: expected a class map from the sensor, got an output of shape {out.shape}")
    return np.clip(np.rint(out), 0, classes - 1).astype(np.uint8)


class IMX500Backend(Backend):
    """A network.rpk on the AI Camera's sensor: `from_metadata` gives each frame's class map."""

    backend = "imx500"
    on_sensor = True
    threads = None
    output_kind = "labels"

    def __init__(self, model: str | Path, module: str = "picamera2.devices"):
        self.path = Path(model)
        self.device = open_helper(self.path, ".rpk", "the imx500 backend runs the AI Camera's network files (.rpk: "
                                  "pibokeh-convert --target imx500, then imx500-package on the Pi)",
                                  module, "IMX500", INSTALL, "AI Camera")
        self.card = read_card(self.path)
        intrinsics = getattr(self.device, "network_intrinsics", None)
        task = getattr(intrinsics, "task", None)
        if task not in (None, "segmentation"):
            raise ModelError(f"{self.path.name}: a {task} network, not a segmentation one")
        width, height = self.device.get_input_size()
        self.input_size = (int(height), int(width))
        self.labels = tuple((self.card or {}).get("labels") or LABELS)
        self.family = str((self.card or {}).get("family") or "AI Camera network (no card beside it)")
        self.camera_num = int(self.device.camera_num)
        # infer on the centre of the sensor at the model's aspect (no stretching); sensor_window maps it
        self.device.set_inference_aspect_ratio((int(width), int(height)))
        self.camera: Any = None
        self._progress_shown = False
        self._last: np.ndarray | None = None
        self.frames_without_output = 0

    def attach(self, camera: Any) -> None:
        """The picamera2 camera opened for this network, before it starts (which starts the network's
        upload): its progress is shown once, from a daemon thread."""
        self.camera = camera
        if not self._progress_shown:
            self._progress_shown = True
            threading.Thread(target=self._show_upload, name="imx500-upload", daemon=True).start()

    def _show_upload(self, every: float = 0.5, limit: float = 900.0) -> None:
        """'uploading the network to the sensor: 40 %' lines while the sensor takes the network. Read with
        the helper's get_fw_upload_progress, as its own show_network_fw_progress_bar does; not that one:
        it polls in a child process until the upload passes 95 %, which a network already on the camera
        may never do, and such a child would hold up the exit."""
        if getattr(getattr(self.device, "fw_progress", None), "value", 0) == 0:  # FwProgressType.NONE
            print(f"pibokeh: {self.path.name}: the network upload's progress is not readable here (debugfs)",
                  file=sys.stderr, flush=True)
            return
        shown, deadline = -1, time.monotonic() + limit
        while time.monotonic() < deadline and self.device is not None:
            try:
                done, total = self.device.get_fw_upload_progress(FW_NETWORK_STAGE)
            except Exception:  # noqa: BLE001 - the progress files come and go with the driver's stages
                return
            if total:
                percent = min(100, int(100 * done / total) // 10 * 10)
                if percent > shown:
                    shown = percent
                    print(f"pibokeh: {self.path.name}: uploading the network to the sensor: {percent} % "
                          f"({done / 2**20:.1f} of {total / 2**20:.1f} MB)", file=sys.stderr, flush=True)
                if done > 0.95 * total:
                    return
            time.sleep(every)

    def from_metadata(self, metadata: Any, frame_size: tuple[int, int]) -> np.ndarray:
        """The class map of a frame from its metadata, mapped onto the frame's view. A frame without
        the sensor's output (while the network loads, or one it skipped) gets the previous map, or
        background before the first."""
        if metadata is None:
            raise ModelError(f"{self.path.name} runs on the AI Camera's sensor: only `pibokeh camera --source "
                             "picamera2` can use it")
        outputs = self.device.get_outputs(metadata)
        if not outputs:
            self.frames_without_output += 1
            return self._last if self._last is not None else np.zeros(self.input_size, np.uint8)
        labels = as_class_map(outputs[0], self.input_size, self.num_classes)
        roi = getattr(self.device, "config", {}).get("roi")
        crop = metadata.get("ScalerCrop")
        if roi is not None and crop is not None:
            labels = sensor_window(labels, _box(roi), _box(crop))
        self._last = labels
        return labels

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "camera_num": self.camera_num,
                "runs_on": "the AI Camera's image sensor (Sony IMX500); the CPU only composites"}

    def close(self) -> None:
        self.device = None


def _box(rect: Any) -> tuple[float, float, float, float]:
    """(x, y, w, h) of a libcamera Rectangle or a 4-tuple."""
    if hasattr(rect, "width"):
        return rect.x, rect.y, rect.width, rect.height
    x, y, w, h = rect
    return x, y, w, h

