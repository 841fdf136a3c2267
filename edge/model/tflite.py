"""The TFLite backend: a DeepLab-style .tflite model run by a TFLite interpreter on the CPU.

A `TFLiteBackend` wraps one interpreter. What a model needs (input size, dtype, normalisation,
output kind) comes from its sidecar card `<model>.json` when the converter wrote one, and from the
tensor details otherwise, so the three DeepLab families of the design all run:

    converted here      card says: float or int8 input, scores [1,H,W,21], labels [1,H,W] or
                        logits [1,h,w,21] at the network's resolution (handed to the mask step)
    Coral int8          uint8 [1,513,513,3] raw RGB          -> ArgMax labels [1,513,513]
    257 float (gpu)     float32 [1,257,257,3] (x-127.5)/127.5 -> scores [1,257,257,21]
"""
from __future__ import annotations

import functools
import importlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from ..quiet import native_stderr_silenced
from .backend import Backend
from .card import MEAN, STD, read_card
from .compute import Compute, graph_compute
from .interpreters import default_threads, interpreter_class
from .labels import LABELS
from .preprocess import InputSpec, output_kind, quantized_input_lut, to_input, to_labels, to_scores

def _check_tflite_file(path: Path) -> None:
    if not path.exists():
        raise ModelError(f"{path}: no such model file")
    if not path.is_file():
        raise ModelError(f"{path}: not a file")
    with path.open("rb") as fh:
        head = fh.read(8)
    # TFLite flatbuffers carry the file identifier "TFL3" at bytes 4..8.
    if len(head) < 8 or head[4:8] != b"TFL3":
        raise ModelError(f"{path}: not a TFLite model (no TFL3 identifier)")


MAX_TENSOR_BYTES = 1 << 30  # DeepLab at 513 needs ~0.2 GB; a damaged shape can ask for terabytes


def _tensor_bytes(details: list[dict]) -> int:
    total = 0
    for d in details:
        count = 1
        for dim in d.get("shape", ()):
            count *= max(int(dim), 1)
        total += count * np.dtype(d["dtype"]).itemsize
    return total


def _check_tensor_memory(path: Path, interpreter_class: type) -> None:
    """Refuse a model whose tensors would need more than MAX_TENSOR_BYTES before any of it is used: a
    damaged shape must be an error line, not the out-of-memory killer.

    The shapes a model declares are not the ones it gets: an op sizes its output from constant inputs
    (a resize's target size, a reshape's shape) when the tensors are allocated, and a 12 kB model whose
    resize asks for 9000x7500 declares 65x65 (measured: `pibokeh info` reached 2.7 GB, XNNPACK writing
    into the arena as it prepares). So a probe interpreter without delegates allocates them - address
    space only, never written - and its real shapes are what is counted."""
    resolver = getattr(importlib.import_module(interpreter_class.__module__), "OpResolverType", None)
    options = {"experimental_op_resolver_type": resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES} if resolver else {}
    try:
        probe = interpreter_class(**_model_source(path), **options)
        total = _tensor_bytes(probe.get_tensor_details())  # as declared: absurd ones stop here
        if total <= MAX_TENSOR_BYTES:
            probe.allocate_tensors()
            total = _tensor_bytes(probe.get_tensor_details())  # as the ops sized them
    except UnicodeDecodeError:
        raise ModelError(f"{path}: not a usable model (damaged tensor names)") from None
    except (ValueError, RuntimeError, MemoryError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{path}: the interpreter cannot load it ({first})") from None
    finally:
        probe = None  # the probe's arena is freed before the real interpreter makes its own
    if total > MAX_TENSOR_BYTES:
        raise ModelError(f"{path}: not a usable model (its tensors would need {total / 2**30:.1f} GB)")


def _model_source(path: Path) -> dict[str, Any]:
    """The interpreter's model argument: the path (memory-mapped by TFLite), or the file's bytes when
    the path is not valid UTF-8 (a name from another locale), which the interpreters cannot take."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        try:
            return {"model_content": path.read_bytes()}
        except OSError as exc:
            raise ModelError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return {"model_path": str(path)}


class TFLiteBackend(Backend):
    """A DeepLab-style TFLite model on a TFLite interpreter, ready to turn BGR frames into class maps.

    `backend` names the interpreter (`interpreters.BACKENDS`; default: the first installed)."""

    def __init__(self, model: str | os.PathLike, backend: str | None = None, threads: int | None = None):
        self.path = Path(model)
        _check_tflite_file(self.path)
        self.card = read_card(self.path)
        self.backend, interpreter = interpreter_class(backend)
        self._interpreter_class = interpreter
        self.threads = threads or default_threads()
        self._check_memory(interpreter)
        try:
            self.interpreter = self._open_interpreter(interpreter)
            with native_stderr_silenced():  # the C++ runtime prints an INFO line per delegate
                self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"{self.path}: the interpreter cannot load it ({first})") from None
        try:
            self._input, self._output = self._check_tensors()
        except UnicodeDecodeError:  # a damaged model's tensor names are not text
            raise ModelError(f"{self.path}: not a usable model (damaged tensor names)") from None
        self.spec = self._input_spec()
        self.input_size = (self.spec.height, self.spec.width)
        card_output = (self.card or {}).get("output") or {}
        self.output_kind = output_kind(tuple(self._output["shape"]), self.input_size, card_output.get("kind"))
        self.labels: tuple[str, ...] = tuple((self.card or {}).get("labels") or LABELS)
        self.family = self._family()

    def _check_memory(self, interpreter: type) -> None:
        """Refuse a model whose tensors would not fit (a subclass whose model needs its delegate to load
        checks otherwise)."""
        _check_tensor_memory(self.path, interpreter)

    def _open_interpreter(self, interpreter: type) -> Any:
        """The interpreter for this model (a subclass adds its delegate here)."""
        return interpreter(**_model_source(self.path), num_threads=self.threads)

    def _check_tensors(self) -> tuple[dict, dict]:
        inputs = self.interpreter.get_input_details()
        outputs = self.interpreter.get_output_details()
        if len(inputs) != 1:
            raise ModelError(f"{self.path}: not a segmentation model ({len(inputs)} inputs, expected 1 image)")
        shape = list(inputs[0]["shape"])
        if len(shape) != 4 or shape[0] != 1 or shape[3] != 3 or min(shape[1:3]) < 8:
            raise ModelError(f"{self.path}: not a segmentation model (input shape {shape}, expected [1,H,W,3])")
        for out in outputs:
            oshape = list(out["shape"])
            if (len(oshape) == 3 and oshape[0] == 1) or (len(oshape) == 4 and oshape[0] == 1 and oshape[3] >= 2):
                if min(oshape[1:3]) >= 2:
                    return inputs[0], out
        shapes = [list(o["shape"]) for o in outputs]
        raise ModelError(f"{self.path}: not a segmentation model (outputs {shapes}; "
                         "expected labels [1,H,W] or scores [1,H,W,C])")

    def _input_spec(self) -> InputSpec:
        shape, dtype = self._input["shape"], np.dtype(self._input["dtype"])
        if dtype not in (np.uint8, np.int8, np.float32, np.float16):
            raise ModelError(f"{self.path}: unsupported input type {dtype}")
        card_input = (self.card or {}).get("input") or {}
        mean, std = float(card_input.get("mean", MEAN)), float(card_input.get("std", STD))
        lut = None
        if dtype in (np.uint8, np.int8):
            scale, zero_point = self._input.get("quantization", (0.0, 0))
            lut = quantized_input_lut(dtype, float(scale), int(zero_point), mean, std)
        return InputSpec(int(shape[1]), int(shape[2]), dtype, mean, std, lut)

    def _family(self) -> str:
        if self.card:
            return str(self.card.get("family") or "converted by pibokeh")
        kind = f"{self.spec.dtype.name} input, {self.output_kind} output"
        if self.spec.dtype == np.uint8 and self.output_kind == "labels":
            return f"Coral-style int8 ({kind})"
        if self.spec.dtype == np.float32 and self.output_kind == "scores":
            return f"float ({kind})"
        return kind

    @property
    def num_classes(self) -> int:
        return int(self._output["shape"][3]) if self.output_kind != "labels" else len(self.labels)

    @functools.cached_property
    def compute(self) -> Compute | None:
        """Multiply-accumulates per frame and output stride, read from the graph (a second,
        unallocated interpreter: cheap, and the running one is left alone)."""
        return graph_compute(self._interpreter_class(**_model_source(self.path)), self.input_size[0])

    @property
    def output_stride(self) -> int | None:
        """The card's output stride, else the one the graph's feature maps show."""
        return super().output_stride or (self.compute.output_stride if self.compute else None)

    def describe(self) -> dict[str, Any]:
        """What `pibokeh info` shows: the base fields and the input and output tensors."""
        def tensor(d: dict) -> dict[str, Any]:
            scale, zero = d.get("quantization", (0.0, 0))
            return {"name": d["name"], "shape": [int(x) for x in d["shape"]],
                    "dtype": np.dtype(d["dtype"]).name,
                    "quantization": {"scale": float(scale), "zero_point": int(zero)} if scale else None}
        return {**super().describe(), "input": tensor(self._input), "output": tensor(self._output)}

    def infer(self, rgb: np.ndarray) -> np.ndarray:
        """Raw class map (uint8) for an RGB image already of the model's input size; for a logits
        head, the float scores (h x w x C) at the network's resolution."""
        try:
            self.interpreter.set_tensor(self._input["index"], to_input(rgb, self.spec))
            self.interpreter.invoke()
            # a view into the interpreter's memory, not a copy: a float scores output is 22 MB at 513
            # (to_labels and to_scores make new arrays, so nothing keeps the view past the next invoke)
            output = self.interpreter.tensor(self._output["index"])()
            if self.output_kind == "logits":
                return to_scores(output, self._output.get("quantization", (0.0, 0)))
            return to_labels(output)
        except (RuntimeError, ValueError) as exc:  # a damaged model that loads but cannot run
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"{self.path}: the interpreter cannot run it ({first})") from None
