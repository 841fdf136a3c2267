"""Test backends on the `pibokeh.model.Backend` seam, for the conformance suite and for tests that need
a model with a known answer: `RedBackend` calls red pixels "person" (15), like the tiny test models,
with no interpreter at all. Device fakes (the AI Camera, Hailo, Edge TPU) live beside it and wrap the
same helper APIs the real devices have."""
from __future__ import annotations

import contextlib
import shutil
import sys
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
from pibokeh.model import PERSON, Backend


def red_labels(rgb: np.ndarray) -> np.ndarray:
    """15 where a pixel is clearly red (R high, G and B low), 0 elsewhere."""
    r, g, b = (rgb[..., i].astype(np.int16) for i in range(3))
    return np.where((r > 150) & (g < 100) & (b < 100), PERSON, 0).astype(np.uint8)


class RedBackend(Backend):
    """A model of `size` (h, w) whose output is a class map at 1/`stride` of its input."""

    def __init__(self, size: tuple[int, int] = (97, 129), stride: int = 4, threads: int | None = 1):
        self.path = Path(f"red_{size[1]}x{size[0]}.fake")
        self.backend = "fake-red"
        self.family = "test fake (red = person)"
        self.input_size = size
        self.threads = threads
        self.stride = stride

    def infer(self, rgb: np.ndarray) -> np.ndarray:
        assert rgb.shape == (*self.input_size, 3) and rgb.dtype == np.uint8, rgb.shape
        height, width = self.input_size
        small = cv2.resize(rgb, (-(-width // self.stride), -(-height // self.stride)), interpolation=cv2.INTER_AREA)
        return red_labels(small)


# ---- the accelerators' backends on their fake helpers (tests/fakes/picamera2/devices) -------------

DEVICES = "tests.fakes.picamera2.devices"  # imported in-process under this name; subprocesses put
                                           # tests/fakes first on PYTHONPATH and import picamera2.devices


def imx500_network(folder: Path, cpu_model: Path) -> Path:
    """A fake network.rpk in `folder` for a network of `cpu_model`'s input size, with the CPU model
    beside it as network_cpu.tflite (where `pibokeh-convert --target imx500` puts its twin)."""
    from pibokeh.model import open_model
    from tests.fakes.picamera2.devices.imx500 import write_rpk
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(cpu_model, folder / "network_cpu.tflite")
    height, width = open_model(cpu_model, threads=1).input_size
    return Path(write_rpk(str(folder / "network.rpk"), width, height))


def hailo_network(folder: Path, cpu_model: Path, name: str = "deeplab_v3_mobilenet_v2_wo_dilation") -> Path:
    """A fake NAME.hef in `folder` whose device answers with `cpu_model`'s class maps (NAME_cpu.tflite)."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(cpu_model, folder / f"{name}_cpu.tflite")
    hef = folder / f"{name}.hef"
    hef.write_bytes(b"not a real HEF: the fake Hailo runs the model beside it\n")
    return hef


def fake_imx500(folder: Path, cpu_model: Path) -> Backend:
    """The IMX500 backend on the fake AI Camera, its network answering at once (no loading frames)."""
    import os

    from pibokeh.model.imx500 import IMX500Backend
    rpk = imx500_network(folder, cpu_model)
    saved = {k: os.environ.get(k) for k in ("FAKE_PICAMERA2_MODEL", "FAKE_IMX500_LOADING")}
    os.environ.update({"FAKE_PICAMERA2_MODEL": "imx500", "FAKE_IMX500_LOADING": "0"})
    try:
        return IMX500Backend(rpk, module=DEVICES)
    finally:
        for key, value in saved.items():
            os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)


def fake_hailo(folder: Path, cpu_model: Path) -> Backend:
    from pibokeh.model.hailo import HailoBackend
    return HailoBackend(hailo_network(folder, cpu_model), module=DEVICES)


CORAL_API = Path(__file__).resolve().parents[1] / "edgetpu"  # the fake tflite_runtime: Coral's documented API


@contextlib.contextmanager
def coral_api() -> Iterator[None]:
    """`tflite_runtime.interpreter` as the fake Edge TPU's (tests/fakes/edgetpu) for this block only: a
    backend opened in it keeps its interpreter; the real tflite_runtime, if any, is back afterwards."""
    def ours() -> list[str]:
        return [name for name in sys.modules if name == "tflite_runtime" or name.startswith("tflite_runtime.")]
    saved_path, saved = list(sys.path), {name: sys.modules.pop(name) for name in ours()}
    sys.path.insert(0, str(CORAL_API))
    try:
        yield
    finally:
        sys.path[:] = saved_path
        for name in ours():
            del sys.modules[name]
        sys.modules.update(saved)


def edgetpu_copy(folder: Path, cpu_model: Path) -> Path:
    """`cpu_model` as NAME_edgetpu.tflite in `folder`: a model with no Edge TPU op, which the Edge TPU
    backend opens with the delegate and the delegate leaves to the CPU (as the real one does)."""
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(cpu_model, folder / f"{cpu_model.stem}_edgetpu.tflite"))


def fake_edgetpu(model: Path, threads: int = 1) -> Backend:
    """The Edge TPU backend on the fake Coral API: a compiled model's op computed by its CPU twin."""
    from pibokeh.model import open_model
    with coral_api():
        return open_model(model, threads=threads)
