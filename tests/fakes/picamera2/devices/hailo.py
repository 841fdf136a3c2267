"""A stand-in for picamera2's `Hailo` helper (the AI Kit / AI HAT+) on machines without one.

The calls of picamera2/devices/hailo/hailo.py: `Hailo(hef_path, batch_size=None, output_type='FLOAT32')`,
`get_input_shape()` -> (h, w, 3), `run(frame)` -> the output buffer (float32; the Hailo model zoo's
DeepLab has one output, the arg-max class map (h, w, 1)), `describe()`, `close()`, a context manager;
and `hailo_architecture()`.

What the device computes, the fake computes on the CPU: the class map of a TFLite model with the same
input (FAKE_HAILO_CPU_MODEL, else NAME_cpu.tflite beside NAME.hef), e.g. Coral's int8 DeepLab at
513x513 for the zoo's deeplab_v3_mobilenet_v2_wo_dilation.hef. The .hef itself is not read.
FAKE_HAILO_NO_DEVICE=1: the runtime is installed but no device answers (HailoRT's error).
"""
from __future__ import annotations

import os

import numpy as np


def hailo_architecture():
    return None if os.environ.get("FAKE_HAILO_NO_DEVICE") else "HAILO8L"


class Hailo:
    def __init__(self, hef_path, batch_size=None, output_type="FLOAT32"):
        if os.environ.get("FAKE_HAILO_NO_DEVICE"):
            raise RuntimeError("Failed to create vdevice. status=HAILO_OUT_OF_PHYSICAL_DEVICES(74)")
        if not os.path.isfile(hef_path):
            raise RuntimeError(f"Failed to create HEF from file {hef_path}. status=HAILO_OPEN_FILE_FAILURE(13)")
        stem = os.path.splitext(hef_path)[0]
        from pibokeh.model import open_model
        self._cpu = open_model(os.environ.get("FAKE_HAILO_CPU_MODEL") or f"{stem}_cpu.tflite", threads=1)
        self.batch_size = batch_size
        self.output_type = output_type
        self.runs = 0

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_val, exc_traceback):
        self.close()

    def get_input_shape(self):
        return (*self._cpu.input_size, 3)

    def describe(self):
        height, width = self._cpu.input_size
        return [("input_layer1", (height, width, 3), "UINT8")], [("argmax1", (height, width, 1), self.output_type)]

    def run(self, input_data):
        frame = np.asarray(input_data)
        if frame.shape != self.get_input_shape() or frame.dtype != np.uint8:
            raise RuntimeError(f"Input buffer size mismatch: {frame.shape} {frame.dtype}")
        self.runs += 1
        labels = self._cpu.infer(frame)
        height, width = self._cpu.input_size
        if labels.shape != (height, width):  # the device's arg-max is at the input's resolution
            import cv2
            labels = cv2.resize(labels, (width, height), interpolation=cv2.INTER_NEAREST)
        return labels.astype(np.float32)[..., None]

    def close(self):
        self._cpu = None
