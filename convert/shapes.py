"""Input shapes: `--size N` or `WxH`, which sizes suit an output stride, and the feature map they give.

Sizes are (height, width) inside the converter, as NumPy and TensorFlow order them, and written
W x H for people, as screens and cameras are named (513x289 is a 16:9 landscape input).

DeepLab uses input sizes of k * output_stride + 1 (513 = 16 * 32 + 1): with them the corners of the
feature grid sit exactly on the corner pixels of the input, so the align_corners upsampling of the
logits maps feature i to pixel i * stride. At any other size the labels shift against the image by
up to half a feature (4 or 8 pixels). Importing this module does not import TensorFlow.
"""
from __future__ import annotations

import argparse
import re

from pibokeh.errors import InputError

Size = tuple[int, int]  # (height, width)

OUTPUT_STRIDES = (8, 16)
REFERENCE_SIZE: Size = (513, 513)  # the upstream export's crop, and the reference pipeline's size
REFERENCE_STRIDE = 8  # the shared graphs' own output stride

_SIZE = re.compile(r"^\s*(\d+)\s*(?:[xX×]\s*(\d+)\s*)?$")


def parse_size(text: str) -> Size:
    """`N` (square) or `WxH` as (height, width); an argparse type with a one-line error."""
    match = _SIZE.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"expected N or WxH (e.g. 513 or 513x289), got {text!r}")
    width = int(match.group(1))
    height = int(match.group(2) or width)
    if min(width, height) < 1:
        raise argparse.ArgumentTypeError(f"sizes must be positive, got {text!r}")
    return height, width


def hw(size: int | Size) -> Size:
    """(height, width) from an int (square, as the converter took sizes before WxH) or a pair."""
    if isinstance(size, int):
        return size, size
    height, width = size
    return int(height), int(width)


def text(size: int | Size) -> str:
    """`513x289`: width x height."""
    height, width = hw(size)
    return f"{width}x{height}"


def is_valid(n: int, stride: int) -> bool:
    return n > stride and n % stride == 1


def nearest_valid(n: int, stride: int) -> tuple[int, ...]:
    """The valid sizes just below and above n (one when n is below the smallest)."""
    below = (n - 1) // stride * stride + 1
    above = below + stride
    return tuple(v for v in (below, above) if v > stride)


def check(size: int | Size, stride: int | None) -> None:
    """Raise a one-line InputError unless both sides are k * stride + 1 (nothing to check when the
    graph's output stride is unknown, i.e. not a MobileNetV2 DeepLab graph)."""
    if stride is None:
        return
    height, width = hw(size)
    bad = [(name, n) for name, n in (("width", width), ("height", height)) if not is_valid(n, stride)]
    if not bad:
        return
    rule = f"{stride}k+1"
    if len(bad) == 1:
        name, n = bad[0]
        hints = " or ".join(map(str, nearest_valid(n, stride)))
        raise InputError(f"{text(size)} at output stride {stride}: {name} must be {rule}, e.g. {hints}")
    if height == width:
        hints = " or ".join(map(str, nearest_valid(width, stride)))
    else:
        hints = ", ".join(f"{name} {' or '.join(map(str, nearest_valid(n, stride)))}" for name, n in bad)
    raise InputError(f"{text(size)} at output stride {stride}: width and height must be {rule}, e.g. {hints}")


def feature_map(size: int | Size, stride: int) -> Size:
    """The (height, width) of the network's last feature map: every strided layer pads SAME, so
    each one rounds up (65x65 at 513 and stride 8, 33x19 at 513x289 and stride 16)."""
    height, width = hw(size)
    return -(-height // stride), -(-width // stride)
