"""pibokeh: DeepLab-v3 MobileNetV2 segmentation on a Raspberry Pi - blur or replace the background
of photos, videos and camera streams.

    import cv2, pibokeh
    out = pibokeh.blur(cv2.imread("photo.jpg"))          # the default model, people kept sharp
    mask = pibokeh.mask(cv2.imread("photo.jpg"), classes=["person", "dog"])

`load_model`, `mask`, `blur`, `process_video` and the style and error types are loaded on first use,
so `import pibokeh` (and the commands' `--help`) stays fast. The runtime needs only NumPy, OpenCV and
a TFLite interpreter; `pibokeh.convert` (the workstation converter) needs TensorFlow and is never
imported by the runtime.
"""
from __future__ import annotations

import importlib
from typing import Any

# name -> the module that holds it
_EXPORTS = {
    "load_model": "api", "mask": "api", "blur": "api", "process_video": "api", "as_background": "api",
    "describe": "api",
    "look_of": "api",
    "Style": "styles", "Blur": "styles", "Lens": "styles", "Color": "styles", "Replace": "styles",
    "Movie": "styles", "Transparent": "styles",
    "Recipe": "chain", "Chain": "chain", "STAGES": "chain",
    "Backend": "model", "ModelSet": "model", "LABELS": "model",
    "VideoResult": "batch",
    "PibokehError": "errors", "InputError": "errors", "OutputError": "errors", "ModelError": "errors",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pibokeh' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
