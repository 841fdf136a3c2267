"""A frame's way into a model and the model's way out, as pure functions: the input tensor of a
BGR frame (fitted to the model's input, letterboxed like the reference or resized when the model has
the frame's aspect; normalised or quantized), and what the mask step gets of an output (the class map
of labels or of scores upsampled to the input, or the float scores of a logits head at the network's
own resolution), with the letterbox padding cropped off.

Every backend uses these, so a frame reaches an on-device model exactly as it reaches the CPU one.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .card import MEAN, STD

PAD_VALUE = 128  # mid-grey: 0 after (x-127.5)/127.5, as DeepLab pads with its mean pixel


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


def halvings_for(frame_size: tuple[int, int], size: tuple[int, int]) -> int:
    """How many times `fit_input` halves a frame of (h, w) `frame_size` for a model input of `size`:
    while it is still twice the input (0 when it letterboxes: one resize does it there)."""
    if not aspect_matches(frame_size, size):
        return 0
    height, width = frame_size
    times = 0
    while height >= 2 * size[0] and width >= 2 * size[1]:
        height, width, times = height // 2, width // 2, times + 1
    return times


def fit_input(frame_bgr: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int]]:
    """The RGB uint8 model input of `size` (h, w) for a frame, and the valid (h, w) part of it.

    A model made for the frame's aspect (e.g. 513x289 for 16:9) gets the frame resized to fill it,
    with no padding; any other model gets it letterboxed like the reference."""
    if not aspect_matches(frame_bgr.shape[:2], size):
        return letterbox(frame_bgr, size)
    shrink = size[0] < frame_bgr.shape[0] or size[1] < frame_bgr.shape[1]
    # Halving (a 2x2 mean) is OpenCV's fast INTER_AREA path; a fractional factor takes its general
    # one, ~7 ms for 1080p -> 513x289 here. Halve while the frame is twice the input (the chain may
    # pass a frame it halved already: `halvings_for`), then area-resize the rest: the same kind of
    # antialiased shrink for about half the time. (A bilinear last step would cost a fifth of that
    # one, but the int8 models answer it with 0.8 % of the labels changed: not worth it.)
    for _ in range(halvings_for(frame_bgr.shape[:2], size)):
        frame_bgr = cv2.resize(frame_bgr, (frame_bgr.shape[1] // 2, frame_bgr.shape[0] // 2),
                               interpolation=cv2.INTER_AREA)
    resized = cv2.resize(frame_bgr, (size[1], size[0]), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return cv2.cvtColor(resized, cv2.COLOR_BGR2RGB), size


def to_input(rgb: np.ndarray, spec: InputSpec) -> np.ndarray:
    """The batch-of-one input tensor for an RGB uint8 image: integer inputs through the
    quantization table, float inputs (x - mean) / std."""
    if spec.lut is not None:  # OpenCV's LUT: one pass, where indexing with NumPy is ~10x slower
        tensor = cv2.LUT(rgb, spec.lut.view(np.uint8)).view(spec.lut.dtype)
    elif spec.dtype == np.float32:  # one table lookup (OpenCV's LUT keeps the table's type) for 3 passes
        tensor = cv2.LUT(rgb, ((np.arange(256, dtype=np.float32) - spec.mean) / spec.std).astype(np.float32))
    else:
        tensor = ((rgb.astype(np.float32) - spec.mean) / spec.std).astype(spec.dtype)
    return tensor[None]


OUTPUT_KINDS = ("labels", "scores", "logits")


def output_kind(shape: tuple[int, ...], input_size: tuple[int, int], card_kind: str | None = None) -> str:
    """What an output of `shape` is: "labels" [1,H,W] (class ids), "scores" [1,H,W,C] at the input's
    resolution (arg-maxed into labels here), or "logits" [1,h,w,C] below it (a head that stops at the
    network's own resolution: the mask step upsamples one margin channel). A card's kind wins for a
    4-D output (the converter wrote it from the same rule)."""
    if len(shape) == 3:
        return "labels"
    if card_kind in ("scores", "logits"):
        return card_kind
    return "scores" if tuple(shape[1:3]) == tuple(input_size) else "logits"


def to_scores(output: np.ndarray, quantization: tuple[float, int] = (0.0, 0)) -> np.ndarray:
    """Float32 scores (h x w x C, a new array) of a [1,h,w,C] output, dequantized when it is integer
    (`quantization`: the tensor's scale and zero point)."""
    scale, zero_point = quantization
    out = output[0].astype(np.float32)
    if scale and output.dtype != np.float32:
        out = (out - zero_point) * scale
    return out


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
