"""A stand-in for picamera2's `IMX500` helper (the Raspberry Pi AI Camera) on machines without one.

The same calls as picamera2/devices/imx500/imx500.py: `IMX500(network_file)` (before `Picamera2`),
`camera_num`, `config` (with the inference `roi`), `network_intrinsics`, `get_input_size()`,
`set_inference_aspect_ratio()`, `set_inference_roi_abs()`, `fw_progress`, `get_fw_upload_progress()`,
`show_network_fw_progress_bar()`,
`get_outputs(metadata)`, `get_output_shapes(metadata)`, `convert_inference_coords()`; and the same
metadata libcamera gives each frame: `ScalerCrop` and the output tensors `CnnOutputTensor` (floats)
with `CnnOutputTensorInfo` (the packed C struct), read back the way the real helper reads them.

What the sensor's network computes, the fake computes on the CPU: the ROI of the sensor's picture,
scaled to the network's input, through a TFLite model: FAKE_IMX500_CPU_MODEL, else the
`network_cpu.tflite` beside the .rpk (what `pibokeh-convert --target imx500` writes: the converted
model, exported by MCT with fake-quant ops). It proves the runtime's side (calls, geometry, labels),
not the sensor's arithmetic.

The network file: the real one is an .rpk made by `imx500-package` on a Pi; here it is a zip holding
dnnParams.xml (the stand-in imx500-package copies packerOut.zip, which holds it), from which the
input size is read, as the real helper reads it from the .rpk. The first FAKE_IMX500_LOADING frames
(default 2) come without output, as while the firmware loads.
"""
from __future__ import annotations

import ctypes
import os
import sys
import xml.etree.ElementTree as ET
import zipfile
from enum import IntEnum

import cv2
import numpy as np

from .. import Picamera2, _state

FULL = (4056, 3040)  # the IMX500's pixel array (width, height)
MAX_NUM_TENSORS = 16
MAX_NUM_DIMENSIONS = 16


class OutputTensorInfo(ctypes.LittleEndianStructure):  # libcamera's layout, as picamera2 declares it
    _fields_ = [("tensor_data_num", ctypes.c_uint32), ("num_dimensions", ctypes.c_uint32),
                ("size", ctypes.c_uint16 * MAX_NUM_DIMENSIONS)]


class CnnOutputTensorInfoExported(ctypes.LittleEndianStructure):
    _fields_ = [("network_name", ctypes.c_char * 64), ("num_tensors", ctypes.c_uint32),
                ("info", OutputTensorInfo * MAX_NUM_TENSORS), ("frameCount", ctypes.c_uint8)]


class NetworkIntrinsics:
    def __init__(self, val=None):
        self.task = (val or {}).get("task")


def centred(aspect: tuple[float, float], full: tuple[int, int] = FULL) -> tuple[int, int, int, int]:
    """The largest centred (x, y, w, h) of `aspect` (w, h) in the pixel array: libcamera's default
    ScalerCrop for an output of that aspect, and what set_inference_aspect_ratio() sets."""
    width, height = full
    if width * aspect[1] > height * aspect[0]:
        w, h = round(height * aspect[0] / aspect[1]), height
    else:
        w, h = width, round(width * aspect[1] / aspect[0])
    return (width - w) // 2, (height - h) // 2, w, h


class Rectangle:
    """libcamera.Rectangle's fields."""

    def __init__(self, x, y, width, height):
        self.x, self.y, self.width, self.height = int(x), int(y), int(width), int(height)

    def to_tuple(self):
        return self.x, self.y, self.width, self.height


class IMX500:
    def __init__(self, network_file: str, camera_id: str = ""):
        cameras = [c for c in Picamera2.global_camera_info() if c["Model"] == "imx500"]
        if not cameras:
            raise RuntimeError("IMX500: Requested camera dev-node not found")
        self.__camera_num = cameras[0]["Num"]
        if not os.path.isfile(network_file):
            raise RuntimeError(f"Firmware file {network_file} does not exist.")
        width, height = _input_size(network_file)
        self.__cfg = {"network_file": network_file, "input_tensor": {"width": width, "height": height},
                      "input_tensor_size": (width, height)}
        cpu = os.environ.get("FAKE_IMX500_CPU_MODEL") or os.path.join(os.path.dirname(network_file),
                                                                       "network_cpu.tflite")
        from pibokeh.model import open_model
        self._cpu = open_model(cpu, threads=1)
        self._loading = int(os.environ.get("FAKE_IMX500_LOADING", "2"))
        self.fw_progress = IMX500.FwProgressType.DIRECT  # the debugfs progress files are readable
        self.set_inference_roi_abs((0, 0) + FULL)
        _state["imx500"] = self  # libcamera now sends this network's output with every frame

    @property
    def camera_num(self) -> int:
        return self.__camera_num

    @property
    def config(self) -> dict:
        return self.__cfg

    @property
    def network_intrinsics(self):
        return None  # what the real helper returns for an .rpk without network_intrinsics

    def get_input_size(self) -> tuple:
        return self.__cfg["input_tensor_size"]

    def set_inference_roi_abs(self, roi: tuple) -> None:
        x, y, w, h = roi
        x, y = max(0, x), max(0, y)
        self.__cfg["roi"] = Rectangle(x, y, min(w, FULL[0] - x), min(h, FULL[1] - y))

    def set_inference_aspect_ratio(self, aspect_ratio: tuple) -> None:
        self.set_inference_roi_abs(centred(aspect_ratio))

    class FwProgressType(IntEnum):
        NONE = 0
        DIRECT = 1
        INDIRECT = 2

    def get_fw_upload_progress(self, stage_req) -> tuple:
        """(bytes uploaded, total) of the network's upload: half of it more at each call."""
        total = os.path.getsize(self.__cfg["network_file"])
        if stage_req != 2:
            return 0, 0
        self._uploaded = min(total, getattr(self, "_uploaded", 0) + total // 2 + 1)
        return self._uploaded, total

    def show_network_fw_progress_bar(self) -> None:
        size = os.path.getsize(self.__cfg["network_file"])
        print(f"Network Firmware Upload: 100%|##########| {size / 1024:.1f}k/{size / 1024:.1f}k", file=sys.stderr,
              flush=True)

    def get_output_shapes(self, metadata: dict) -> list:
        info = metadata.get("CnnOutputTensorInfo")
        if not info:
            return []
        parsed = CnnOutputTensorInfoExported.from_buffer_copy(bytes(info))
        return [list(t.size)[: t.num_dimensions] for t in parsed.info[: parsed.num_tensors]]

    def get_outputs(self, metadata: dict, add_batch: bool = False):
        output_tensor = metadata.get("CnnOutputTensor")
        if not output_tensor:
            return None
        flat = np.fromiter(output_tensor, dtype=np.float32)
        outputs, offset = [], 0
        for shape in self.get_output_shapes(metadata):
            size = int(np.prod(shape))
            tensor = flat[offset: offset + size].reshape(shape, order="F")
            outputs.append(np.expand_dims(tensor, 0) if add_batch else tensor)
            offset += size
        return outputs

    def convert_inference_coords(self, coords: tuple, metadata: dict, picam2, stream: str = "main") -> tuple:
        """picamera2's geometry: normalised (y0, x0, y1, x1) of the pixel array, bounded to the ROI and
        the ScalerCrop, as (x, y, w, h) in the stream's pixels."""
        out_w, out_h = picam2.camera_configuration()[stream]["size"]
        cx, cy, cw, ch = metadata["ScalerCrop"]
        roi = self.__cfg["roi"]
        y0, x0, y1, x1 = coords
        left, top = max(x0 * FULL[0], roi.x, cx), max(y0 * FULL[1], roi.y, cy)
        right = min(x1 * FULL[0], roi.x + roi.width, cx + cw)
        bottom = min(y1 * FULL[1], roi.y + roi.height, cy + ch)
        sx, sy = out_w / cw, out_h / ch
        return (int((left - cx) * sx), int((top - cy) * sy), int(max(0, right - left) * sx),
                int(max(0, bottom - top) * sy))

    # ---- what the fake camera asks of the network for each frame ----

    def view(self, size: tuple[int, int]) -> tuple[int, int, int, int]:
        """The ScalerCrop of a stream of `size` (width, height)."""
        return centred(size)

    @staticmethod
    def cut(sensor: np.ndarray, box: tuple) -> np.ndarray:
        """The part `box` (x, y, w, h in pixel-array units) of a picture of the whole pixel array."""
        scale = sensor.shape[1] / FULL[0]
        x, y, w, h = (round(v * scale) for v in box)
        return sensor[y: y + max(1, h), x: x + max(1, w)]

    def metadata(self, sensor: np.ndarray, crop: tuple) -> dict:
        """What libcamera puts into a frame's metadata: the ScalerCrop and, once the network is loaded,
        its output on the ROI of `sensor` (BGR, the whole pixel array at any scale)."""
        found = {"ScalerCrop": tuple(crop)}
        if self._loading > 0:
            self._loading -= 1
            return found
        width, height = self.get_input_size()
        roi = self.__cfg["roi"]
        tensor = cv2.resize(self.cut(sensor, roi.to_tuple()), (width, height), interpolation=cv2.INTER_AREA)
        labels = self._cpu.infer(cv2.cvtColor(tensor, cv2.COLOR_BGR2RGB))
        labels = cv2.resize(labels, (width, height), interpolation=cv2.INTER_NEAREST)  # the output's size
        info = CnnOutputTensorInfoExported(network_name=b"pibokeh", num_tensors=1)
        info.info[0].tensor_data_num, info.info[0].num_dimensions = labels.size, 2
        info.info[0].size[0], info.info[0].size[1] = height, width
        found["CnnOutputTensor"] = labels.astype(np.float32).reshape(-1, order="F").tolist()
        found["CnnOutputTensorInfo"] = bytes(info)
        return found

    def metadata_for(self, frame: np.ndarray) -> dict:
        """The metadata of a camera whose main stream showed `frame`: the frame placed as the ScalerCrop
        of a grey pixel array, for tests that start from a frame rather than the fake camera."""
        crop = centred((frame.shape[1], frame.shape[0]))
        scale = frame.shape[1] / crop[2]
        sensor = np.full((round(FULL[1] * scale), round(FULL[0] * scale), 3), 128, np.uint8)
        x, y = round(crop[0] * scale), round(crop[1] * scale)
        sensor[y: y + frame.shape[0], x: x + frame.shape[1]] = frame[: sensor.shape[0] - y, : sensor.shape[1] - x]
        return self.metadata(sensor, crop)


def _input_size(network_file: str) -> tuple[int, int]:
    """(width, height) of the network's input, from the dnnParams.xml inside the (fake) .rpk."""
    try:
        with zipfile.ZipFile(network_file) as archive:
            root = ET.fromstring(archive.read("dnnParams.xml"))
    except (zipfile.BadZipFile, KeyError, ET.ParseError) as exc:
        raise RuntimeError(f"IMX500: {network_file} is not a network firmware file ({exc})") from None
    dims = sorted(next(root.iter("inputTensor")).iter("dimension"), key=lambda d: int(d.get("ordinal")))
    return int(dims[1].get("size")), int(dims[0].get("size"))


def write_rpk(path: str, width: int, height: int) -> str:
    """A fake network file for a network of that input size (what the tests use without a conversion)."""
    xml = (f'<dnnParams><networks><network name="fake" ordinal="0"><inputTensors><inputTensor name="image:0">'
           f'<dimensions><dimension size="{height}" ordinal="0"/><dimension size="{width}" ordinal="1"/>'
           f'<dimension size="3" ordinal="2"/></dimensions></inputTensor></inputTensors></network></networks>'
           f'</dnnParams>')
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("dnnParams.xml", xml)
    return path
