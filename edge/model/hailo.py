"""The Hailo backend (Raspberry Pi AI Kit / AI HAT+): a compiled .hef network on the Hailo-8L / Hailo-8.

The Hailo model zoo's `deeplab_v3_mobilenet_v2_wo_dilation.hef` is Google's DeepLab MobileNetV2
checkpoint compiled per device (hailo8l, hailo8): uint8 RGB 513x513 in (the normalisation is inside
the network), the arg-max done on the device, class ids out. It runs through picamera2's `Hailo`
helper (`picamera2.devices.Hailo(hef)`: `get_input_shape()`, `run(frame)`), which comes with Raspberry
Pi OS's `hailo-all`. Frames reach it like any backend's: `prepare` letterboxes a 16:9 frame into
513x513 (mid-grey padding, as DeepLab's own), `crop` cuts the padding off the class map. The CPU
prepares and composites; the inference is the device's.

Verified only against the fake in tests/fakes/picamera2/devices (same calls, the CPU model's labels
at 513x513): no Hailo device here.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from .backend import Backend
from .card import read_card
from .devices import first_line, open_helper
from .labels import LABELS

INSTALL = ("sudo apt install hailo-all python3-picamera2 (Raspberry Pi OS on a Pi 5 with the AI Kit or AI HAT+), "
           "and a venv made with --system-site-packages")


class HailoBackend(Backend):
    """A .hef network on a Hailo accelerator, through picamera2's Hailo helper."""

    backend = "hailo"
    threads = None  # the device does the work
    output_kind = "labels"

    def __init__(self, model: str | Path, module: str = "picamera2.devices"):
        self.path = Path(model)
        self.device = open_helper(self.path, ".hef", "the hailo backend runs compiled Hailo networks (.hef, e.g. "
                                  "the Hailo model zoo's deeplab_v3_mobilenet_v2_wo_dilation.hef)",
                                  module, "Hailo", INSTALL, "Hailo accelerator")
        self.card = read_card(self.path)
        shape = tuple(int(v) for v in self.device.get_input_shape())
        if len(shape) != 3 or shape[2] != 3:
            self.close()
            raise ModelError(f"{self.path.name}: input shape {shape}, expected (height, width, 3) of an image")
        self.input_size = (shape[0], shape[1])
        self.labels = tuple((self.card or {}).get("labels") or LABELS)
        self.family = str((self.card or {}).get("family") or "Hailo network (.hef)")

    def infer(self, rgb: np.ndarray) -> np.ndarray:
        """Class ids (uint8) of an RGB uint8 image of the input size: the device's arg-max output,
        or the arg-max of its scores for a network compiled without one."""
        try:
            out = self.device.run(np.ascontiguousarray(rgb))
        except Exception as exc:  # noqa: BLE001
            raise ModelError(f"{self.path.name}: the Hailo accelerator failed ({first_line(exc)})") from None
        out = np.asarray(out[0] if isinstance(out, list) else out)
        if out.ndim == 3 and out.shape[2] == 1:  # class ids with a channel axis
            out = out[..., 0]
        if out.ndim == 3:  # scores: a network compiled without its arg-max
            self.output_kind = "scores"
            out = np.argmax(out, axis=-1)
        elif out.ndim != 2:
            raise ModelError(f"{self.path.name}: output of shape {out.shape}, expected a class map")
        return np.clip(np.rint(out), 0, self.num_classes - 1).astype(np.uint8)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "runs_on": "the Hailo accelerator (AI Kit / AI HAT+); the CPU letterboxes "
                                                 "and composites"}

    def close(self) -> None:
        device, self.device = getattr(self, "device", None), None
        if device is not None:
            device.close()

