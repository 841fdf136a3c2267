"""Which backend runs a model: the one `--backend` names, else the one the model file calls for.

    NAME.tflite            a TFLite interpreter on the CPU (`tflite.TFLiteBackend`; the first installed
                           of ai_edge_litert, tflite_runtime, tensorflow, or the one --backend names)
    NAME_edgetpu.tflite    the Coral Edge TPU (`edgetpu.EdgeTPUBackend`: the interpreter + libedgetpu)
    NAME.hef               the Hailo accelerator of the AI Kit / AI HAT+ (`hailo.HailoBackend`)
    NAME.rpk               the AI Camera's sensor (`imx500.IMX500Backend`; `pibokeh camera` only)

A new kind of runner adds its name to `ACCELERATORS` and a branch to `open_model`.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import ModelError
from .backend import Backend
from .edgetpu import EdgeTPUBackend, is_edgetpu_model
from .hailo import HailoBackend
from .imx500 import IMX500Backend
from .interpreters import INTERPRETERS
from .tflite import TFLiteBackend

# what each accelerator needs on a Raspberry Pi, for errors, --help and `pibokeh info`
ACCELERATORS: dict[str, str] = {
    "edgetpu": "Coral Edge TPU: an _edgetpu.tflite model; libedgetpu1-std (Coral's apt repository)",
    "hailo": "Hailo AI Kit / AI HAT+ (Pi 5): a .hef network; hailo-all and python3-picamera2",
    "imx500": "Raspberry Pi AI Camera: a network.rpk (pibokeh-convert --target imx500, then imx500-package); "
              "imx500-all and python3-picamera2; pibokeh camera --source picamera2 only",
}
BACKENDS: tuple[str, ...] = INTERPRETERS + tuple(ACCELERATORS)
SUFFIXES = {".rpk": "imx500", ".hef": "hailo"}


def backend_for(path: str | os.PathLike, backend: str | None = None) -> str | None:
    """The accelerator a model runs on (`backend` if it names one, else by the file's name), or None
    for a TFLite interpreter on the CPU."""
    if backend is not None:
        if backend not in BACKENDS:
            raise ModelError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
        return backend if backend in ACCELERATORS else None
    name = Path(path)
    return SUFFIXES.get(name.suffix.lower()) or ("edgetpu" if is_edgetpu_model(name) else None)


def open_model(path: str | os.PathLike, backend: str | None = None, threads: int | None = None) -> Backend:
    """The backend object for a model file: `backend` if given (one of BACKENDS), else by the file.
    Raises ModelError with a one-line reason (missing file, damaged model, backend or device missing)."""
    path = Path(path)
    kind = backend_for(path, backend)
    if kind == "imx500":
        return IMX500Backend(path)
    if kind == "hailo":
        return HailoBackend(path)
    if kind == "edgetpu":
        return EdgeTPUBackend(path, threads=threads)
    if path.suffix.lower() in SUFFIXES:
        raise ModelError(f"{path}: a {SUFFIXES[path.suffix.lower()]} network does not run on the {backend} "
                         f"interpreter; leave out --backend")
    return TFLiteBackend(path, backend=backend, threads=threads)
