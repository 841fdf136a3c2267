"""A stand-in for the Coral Edge TPU on machines without one, behind the API Coral documents:

    import tflite_runtime.interpreter as tflite
    interpreter = tflite.Interpreter(model_path="X_edgetpu.tflite",
                                     experimental_delegates=[tflite.load_delegate("libedgetpu.so.1")])

`load_delegate("libedgetpu.so.1")` gives a delegate as if an Edge TPU were plugged in (FAKE_EDGETPU=none:
as if none were: the real runtime's ValueError). An `_edgetpu.tflite` model is one `edgetpu-custom-op`
the accelerator runs; without the delegate the interpreter refuses it as the real one does. With it,
what the accelerator computes is computed on the CPU by the model's twin: Coral ships each network
twice, compiled and not (the same name without `_edgetpu`, beside it; FAKE_EDGETPU_TWIN names another),
with the same input and output tensors. Without the delegate, or for a model with no custom op, the
real interpreter takes the model as it is (a compiled one then fails to allocate, as without a device). Everything else is the real interpreter (ai_edge_litert's),
so the backend's own work (delegate, input quantization, letterbox, labels) runs for real.
"""
from __future__ import annotations

import os
from pathlib import Path

from ai_edge_litert import interpreter as _real

OpResolverType = _real.OpResolverType
CUSTOM_OP = b"edgetpu-custom-op"


class Delegate:
    """What `load_delegate` returns: a handle on the (imagined) accelerator."""

    def __init__(self, library: str, options: dict | None = None):
        self.library = library
        self.options = dict(options or {})


def load_delegate(library: str, options: dict | None = None) -> Delegate:
    if "edgetpu" not in str(library) or os.environ.get("FAKE_EDGETPU") == "none":
        raise ValueError(f"Failed to load delegate from {library}\n")
    return Delegate(library, options)


class Interpreter:
    """The real interpreter, on the model or (a compiled model with the Edge TPU delegate) its twin."""

    def __init__(self, model_path: str | None = None, model_content: bytes | None = None,
                 experimental_delegates: list | None = None, num_threads: int | None = None, **options):
        content = model_content if model_content is not None else Path(model_path).read_bytes()
        delegates = list(experimental_delegates or [])
        self.on_edgetpu = CUSTOM_OP in content and any(isinstance(d, Delegate) for d in delegates)
        if self.on_edgetpu:
            twin = os.environ.get("FAKE_EDGETPU_TWIN") or (model_path and str(model_path).replace("_edgetpu.tflite",
                                                                                                   ".tflite"))
            if not twin:
                raise ValueError("the fake Edge TPU finds a compiled model's CPU twin by its path: set FAKE_EDGETPU_TWIN")
            self._real = _real.Interpreter(model_path=twin, num_threads=num_threads)
        else:
            source = {"model_content": model_content} if model_content is not None else {"model_path": model_path}
            others = [d for d in delegates if not isinstance(d, Delegate)]
            self._real = _real.Interpreter(**source, num_threads=num_threads, experimental_delegates=others or None,
                                           **options)

    def __getattr__(self, name: str):
        return getattr(self._real, name)
