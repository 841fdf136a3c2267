"""The Coral Edge TPU backend: an `_edgetpu.tflite` model on the TFLite interpreter with the Edge TPU
delegate (`load_delegate("libedgetpu.so.1")`, which ai_edge_litert and tflite_runtime both have).

Coral's `deeplabv3_mnv2_*pascal_quant_edgetpu.tflite` are the same networks as their CPU twins (the
same name without `_edgetpu`), compiled so that the whole graph is one `edgetpu-custom-op` the
delegate hands to the accelerator (USB Accelerator, M.2 / mini PCIe cards). The runtime library is
Debian's `libedgetpu1-std` from Coral's apt repository. Everything else (input quantization, the
letterbox, labels out) is the TFLite backend's.

libedgetpu is built against one TFLite: an interpreter of another version may fail to load it where an
older one (Coral's `python3-tflite-runtime`) does. So unless an interpreter is named, the first installed
one whose delegate loads runs the model.

Not run on an Edge TPU here (none attached, and no libedgetpu): tests cover the choice of this backend
by file name and `--backend edgetpu`, the one-line error when the delegate cannot load, and everything
else through a fake of Coral's documented API (tests/fakes/edgetpu: `tflite_runtime.interpreter` with
`load_delegate("libedgetpu.so.1")`, the compiled op computed by the model's CPU twin).
"""
from __future__ import annotations

import gc
import sys
from pathlib import Path
from typing import Any

from ..errors import ModelError
from .interpreters import INTERPRETERS, interpreter_class
from .tflite import TFLiteBackend, _model_source

LIBRARY = {"linux": "libedgetpu.so.1", "darwin": "libedgetpu.1.dylib", "win32": "edgetpu.dll"}.get(
    sys.platform, "libedgetpu.so.1")
INSTALL = ("sudo apt install libedgetpu1-std (from Coral's apt repository, https://coral.ai/software/#debian-packages) "
           "and plug in the Edge TPU")


def is_edgetpu_model(path: str | Path) -> bool:
    """Coral's naming: the Edge TPU compiler writes NAME_edgetpu.tflite."""
    return Path(path).name.endswith("_edgetpu.tflite")


def load_delegate(interpreter: type) -> Any:
    """The Edge TPU delegate from the interpreter's own module; ModelError saying what to install."""
    module = sys.modules.get(interpreter.__module__)
    load = getattr(module, "load_delegate", None)
    if load is None:  # TensorFlow keeps it under tf.lite.experimental
        load = getattr(getattr(getattr(module, "lite", None), "experimental", None), "load_delegate", None)
    if load is None:
        raise ModelError(f"the interpreter {interpreter.__module__} cannot load delegates: pip install ai-edge-litert")
    hook, sys.unraisablehook = sys.unraisablehook, lambda unraisable: None  # ai_edge_litert's failed Delegate
    try:                                                                       # object complains when collected
        return load(LIBRARY)
    except (ValueError, OSError, RuntimeError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    finally:
        gc.collect()
        sys.unraisablehook = hook
    raise ModelError(f"the Coral Edge TPU cannot be used ({reason}): {INSTALL}")


class EdgeTPUBackend(TFLiteBackend):
    """An Edge TPU model on the TFLite interpreter `backend` names (default: the first installed)."""

    def __init__(self, model: str | Path, backend: str | None = None, threads: int | None = None):
        self._named = backend
        super().__init__(model, backend=backend, threads=threads)
        self.interpreter_name = self.backend
        self.backend = "edgetpu"

    def _check_memory(self, interpreter: type) -> None:
        """The delegate first: without it the model does not load at all, so the CPU-side probe of its
        tensors cannot run; the compiled graph is one custom op whose arena lives on the accelerator.
        With no interpreter named, the first installed one whose delegate loads."""
        failure = None
        for name in [self.backend] if self._named else INTERPRETERS:
            try:
                cls = interpreter if name == self.backend else interpreter_class(name)[1]
            except ModelError:
                continue  # not installed
            try:
                self._delegate = load_delegate(cls)
            except ModelError as exc:
                failure = failure or exc  # the preferred interpreter's reason is the one to show
                continue
            self.backend, self._interpreter_class = name, cls
            return
        raise ModelError(f"{self.path.name}: {failure} (or run its CPU version, the same name without _edgetpu)")

    def _open_interpreter(self, interpreter: type) -> Any:
        return self._interpreter_class(**_model_source(self.path), num_threads=self.threads,
                                       experimental_delegates=[self._delegate])

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "interpreter": self.interpreter_name,
                "runs_on": f"the Coral Edge TPU ({LIBRARY} delegate of {self.interpreter_name})"}
