"""TFLite interpreters: which are installed, which to use, how many threads."""
from __future__ import annotations

import importlib
import os

from ..errors import ModelError

# Preference order: ai_edge_litert is current and uses XNNPACK for int8 (tflite_runtime 2.14 does
# not: ~20x slower int8 on x86); tflite_runtime is what older Pi images have; TensorFlow last.
INTERPRETERS = ("ai_edge_litert", "tflite_runtime", "tensorflow")
_MODULES = {
    "ai_edge_litert": ("ai_edge_litert.interpreter", "pip install ai-edge-litert"),
    "tflite_runtime": ("tflite_runtime.interpreter", "pip install tflite-runtime"),
    "tensorflow": ("tensorflow", "pip install tensorflow"),
}


def interpreter_class(backend: str | None = None) -> tuple[str, type]:
    """(backend name, Interpreter class): the one asked for, or the first installed in INTERPRETERS."""
    if backend is not None and backend not in INTERPRETERS:
        raise ModelError(f"unknown backend {backend!r}; choose from {', '.join(INTERPRETERS)}")
    for name in [backend] if backend else INTERPRETERS:
        module_name, hint = _MODULES[name]
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            if backend:
                raise ModelError(f"interpreter {name} is not installed ({hint})") from None
            continue
        return name, (module.lite.Interpreter if name == "tensorflow" else module.Interpreter)
    raise ModelError("no TFLite interpreter is installed: pip install ai-edge-litert "
                     "(or tflite-runtime on 32-bit Raspberry Pi OS)")


def available_interpreters() -> list[str]:
    """The installed backends, in preference order (imports each one: not for hot paths)."""
    found = []
    for name in INTERPRETERS:
        try:
            interpreter_class(name)
        except ModelError:
            continue
        found.append(name)
    return found


def default_threads() -> int:
    # A Pi has 4 cores; more threads than cores only adds contention.
    return max(1, min(4, os.cpu_count() or 1))
