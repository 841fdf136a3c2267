"""Model loading and the model's side of the pipeline: a frame in, its class map out.

A `Segmenter` wraps one TFLite interpreter. What a model needs (input size, dtype, normalisation,
output kind) comes from its sidecar card `<model>.json` when the converter wrote one, and from the
tensor details otherwise, so the three DeepLab families of the design all run:

    converted here      card says: float or int8 input, scores [1,H,W,21] or labels [1,H,W]
    Coral int8          uint8 [1,513,513,3] raw RGB          -> ArgMax labels [1,513,513]
    257 float (gpu)     float32 [1,257,257,3] (x-127.5)/127.5 -> scores [1,257,257,21]
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .backends import default_threads, interpreter_class
from .card import MEAN, STD, read_card
from .compute import Compute, graph_compute
from .errors import ModelError
from .labels import LABELS
from .quiet import native_stderr_silenced

PAD_VALUE = 128  # mid-grey: 0 after (x-127.5)/127.5, as DeepLab pads with its mean pixel


# ---- tensors ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class InputSpec:
    """How a frame becomes the input tensor."""
    height: int
    width: int
    dtype: np.dtype
    mean: float = MEAN
    std: float = STD
    lut: np.ndarray | None = None  # integer inputs: pixel value -> quantized input value


def quantized_input_lut(dtype: np.dtype, scale: float, zero_point: int, mean: float = MEAN,
                        std: float = STD) -> np.ndarray:
    """Pixel value (0..255) -> the integer input that represents (x - mean) / std.

    When that is the identity within one step (Coral's models: scale 1/128, zero point 128) the
    pixels are fed raw, as those models are documented to take them.
    """
    info = np.iinfo(dtype)
    pixels = np.arange(256)
    if not scale:  # no quantization parameters: the documented conventions
        values = pixels if dtype == np.uint8 else pixels - 128
    else:
        values = np.rint((pixels - mean) / std / scale + zero_point)
        raw = pixels if dtype == np.uint8 else pixels - 128
        if np.abs(values - raw).max() <= 1:
            values = raw
    return np.clip(values, info.min, info.max).astype(dtype)


def letterbox(frame_bgr: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int]]:
    """RGB uint8 image of `size` (h, w): the frame scaled to fit (longest side to the model size,
    like the reference), padded bottom/right with mid-grey. Returns it and the valid (h, w)."""
    height, width = frame_bgr.shape[:2]
    scale = min(size[0] / height, size[1] / width)
    new_h, new_w = max(1, int(scale * height)), max(1, int(scale * width))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(frame_bgr, (new_w, new_h), interpolation=interp)
    padded = np.full((size[0], size[1], 3), PAD_VALUE, np.uint8)
    padded[:new_h, :new_w] = cv2.cvtColor(resized, cv2.COLOR_BGR2RGB)
    return padded, (new_h, new_w)


ASPECT_TOLERANCE = 0.03  # a model within 3 % of the frame's aspect is fed the whole frame, unpadded


def aspect_matches(frame_size: tuple[int, int], input_size: tuple[int, int],
                   tolerance: float = ASPECT_TOLERANCE) -> bool:
    """True when a frame of (h, w) `frame_size` fits a model input of (h, w) `input_size` with no
    padding worth the name: the aspects differ by at most `tolerance` (relative)."""
    frame_aspect = frame_size[1] / frame_size[0]
    input_aspect = input_size[1] / input_size[0]
    return abs(frame_aspect / input_aspect - 1.0) <= tolerance


def fit_input(frame_bgr: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int]]:
    """The RGB uint8 model input of `size` (h, w) for a frame, and the valid (h, w) part of it.

    A model made for the frame's aspect (e.g. 513x289 for 16:9) gets the frame resized to fill it,
    with no padding; any other model gets it letterboxed like the reference."""
    if not aspect_matches(frame_bgr.shape[:2], size):
        return letterbox(frame_bgr, size)
    height, width = frame_bgr.shape[:2]
    shrink = size[0] < height or size[1] < width
    if shrink:
        # Halving (a 2x2 mean) is OpenCV's fast INTER_AREA path; a fractional factor takes its general
        # one, ~7 ms for 1080p -> 513x289 here. Halve while the frame is twice the input, then area-resize
        # the rest: the same kind of antialiased shrink for about half the time.
        while frame_bgr.shape[0] >= 2 * size[0] and frame_bgr.shape[1] >= 2 * size[1]:
            frame_bgr = cv2.resize(frame_bgr, (frame_bgr.shape[1] // 2, frame_bgr.shape[0] // 2),
                                   interpolation=cv2.INTER_AREA)
    resized = cv2.resize(frame_bgr, (size[1], size[0]), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return cv2.cvtColor(resized, cv2.COLOR_BGR2RGB), size


def to_input(rgb: np.ndarray, spec: InputSpec) -> np.ndarray:
    """The batch-of-one input tensor for an RGB uint8 image: integer inputs through the
    quantization table, float inputs (x - mean) / std."""
    if spec.lut is not None:
        tensor = spec.lut[rgb]
    else:
        tensor = ((rgb.astype(np.float32) - spec.mean) / spec.std).astype(spec.dtype)
    return tensor[None]


def to_labels(output: np.ndarray) -> np.ndarray:
    """Class ids (uint8, HxW) from a labels [1,H,W] or scores [1,H,W,C] output."""
    out = output[0]
    if out.ndim == 3:
        # argmax of quantised scores equals argmax of the dequantised ones (the scale is positive)
        out = np.argmax(out, axis=-1)
    return out.astype(np.uint8)


def crop_valid(labels: np.ndarray, valid: tuple[int, int], input_size: tuple[int, int]) -> np.ndarray:
    """The class map without the letterbox padding (outputs may be smaller than the input)."""
    scale_h = labels.shape[0] / input_size[0]
    scale_w = labels.shape[1] / input_size[1]
    h = max(1, int(np.ceil(valid[0] * scale_h)))
    w = max(1, int(np.ceil(valid[1] * scale_w)))
    return labels[:h, :w]


# ---- the segmenter ------------------------------------------------------------------------------

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


MAX_TENSOR_BYTES = 2 << 30  # DeepLab at 513 needs ~0.2 GB; a damaged shape can ask for terabytes


def _check_tensor_memory(path: Path, interpreter: Any) -> None:
    """Refuse a model whose tensors would need more than MAX_TENSOR_BYTES, before they are allocated:
    a damaged shape field must be an error line, not the out-of-memory killer."""
    try:
        details = interpreter.get_tensor_details()
    except UnicodeDecodeError:
        raise ModelError(f"{path}: not a usable model (damaged tensor names)") from None
    total = 0
    for d in details:
        count = 1
        for dim in d.get("shape", ()):
            count *= max(int(dim), 1)
        total += count * np.dtype(d["dtype"]).itemsize
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


class Segmenter:
    """A DeepLab-style TFLite model, ready to turn BGR frames into class maps."""

    def __init__(self, model: str | os.PathLike, backend: str | None = None, threads: int | None = None):
        self.path = Path(model)
        _check_tflite_file(self.path)
        self.card = read_card(self.path)
        self.backend, interpreter = interpreter_class(backend)
        self._interpreter_class = interpreter
        self.threads = threads or default_threads()
        try:
            self.interpreter = interpreter(**_model_source(self.path), num_threads=self.threads)
            _check_tensor_memory(self.path, self.interpreter)
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
        self.output_kind = "scores" if len(self._output["shape"]) == 4 else "labels"
        self.labels: tuple[str, ...] = tuple((self.card or {}).get("labels") or LABELS)
        self.family = self._family()

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
        return int(self._output["shape"][3]) if self.output_kind == "scores" else len(self.labels)

    @functools.cached_property
    def compute(self) -> Compute | None:
        """Multiply-accumulates per frame and output stride, read from the graph (a second,
        unallocated interpreter: cheap, and the running one is left alone)."""
        return graph_compute(self._interpreter_class(**_model_source(self.path)), self.input_size[0])

    @property
    def output_stride(self) -> int | None:
        """The card's output stride, else the one the graph's feature maps show."""
        stride = (self.card or {}).get("output_stride")
        return int(stride) if stride else (self.compute.output_stride if self.compute else None)

    @property
    def aspect(self) -> float:
        """Input width / height."""
        return self.input_size[1] / self.input_size[0]

    def describe(self) -> dict[str, Any]:
        """What `pibokeh info` shows: family, tensors, backend, threads, card."""
        def tensor(d: dict) -> dict[str, Any]:
            scale, zero = d.get("quantization", (0.0, 0))
            return {"name": d["name"], "shape": [int(x) for x in d["shape"]],
                    "dtype": np.dtype(d["dtype"]).name,
                    "quantization": {"scale": float(scale), "zero_point": int(zero)} if scale else None}
        return {"model": str(self.path), "family": self.family, "backend": self.backend,
                "threads": self.threads, "input": tensor(self._input), "output": tensor(self._output),
                "output_kind": self.output_kind, "output_stride": self.output_stride,
                "macs": self.compute.macs if self.compute else None, "card": self.card}

    def infer(self, rgb: np.ndarray) -> np.ndarray:
        """Raw class map (uint8) for an RGB image already of the model's input size."""
        try:
            self.interpreter.set_tensor(self._input["index"], to_input(rgb, self.spec))
            self.interpreter.invoke()
            # a view into the interpreter's memory, not a copy: a float scores output is 22 MB at 513
            # (to_labels makes a new, small array, so nothing keeps the view past the next invoke)
            return to_labels(self.interpreter.tensor(self._output["index"])())
        except (RuntimeError, ValueError) as exc:  # a damaged model that loads but cannot run
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"{self.path}: the interpreter cannot run it ({first})") from None

    def predict(self, frame_bgr: np.ndarray) -> np.ndarray:
        """Class map (uint8) of a BGR frame at model resolution, letterbox padding removed."""
        rgb, valid = fit_input(frame_bgr, self.input_size)
        return crop_valid(self.infer(rgb), valid, self.input_size)

    def classes(self, frame_bgr: np.ndarray) -> np.ndarray:
        """Class map (uint8) at the frame's own size (nearest neighbour), e.g. for evaluation."""
        labels = self.predict(frame_bgr)
        height, width = frame_bgr.shape[:2]
        return cv2.resize(labels, (width, height), interpolation=cv2.INTER_NEAREST)
