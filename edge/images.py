"""Image files in and out: decoding (any depth and channel count, EXIF-upright), the model's
BGR view of an image, and encoding by file suffix."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from .errors import InputError, OutputError
from .files import reason, write_bytes


def read_image(path: str | os.PathLike) -> np.ndarray:
    """The image: 8- or 16-bit, 1, 3 or 4 channels (BGR order), JPEGs upright by their EXIF tag.

    Raises InputError for missing, empty, truncated or undecodable files.
    """
    path = Path(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({reason(exc)})") from None
    if data.size == 0:
        raise InputError(f"{path}: empty file")
    # Phone JPEGs are often stored sideways with an EXIF orientation tag; outputs carry no EXIF, so
    # apply it. Other formats are read unchanged to keep alpha and 16 bits.
    is_jpeg = data[:2].tobytes() == b"\xff\xd8"
    flags = cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH if is_jpeg else cv2.IMREAD_UNCHANGED
    image = cv2.imdecode(data, flags)
    if image is None or image.size == 0:
        raise InputError(f"{path}: not a readable image (corrupt, truncated or unknown format)")
    if image.dtype not in (np.uint8, np.uint16):
        image = _to_uint16(image)
    return image


def _to_uint16(image: np.ndarray) -> np.ndarray:
    # 32-bit float/int TIFFs: rescale into 16 bits rather than refuse them.
    lo, hi = float(image.min()), float(image.max())
    scale = 65535.0 / (hi - lo) if hi > lo else 0.0
    return ((image.astype(np.float64) - lo) * scale).astype(np.uint16)


def to_bgr8(image: np.ndarray) -> np.ndarray:
    """Any image `read_image` returns, as the 3-channel uint8 BGR frame the model expects."""
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def encode_image(image: np.ndarray, suffix: str, quality: int = 95) -> bytes:
    """The image encoded for a file suffix (".jpg", ".png", ...)."""
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if suffix.lower() in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(suffix, image, params)
    if not ok:
        raise OutputError(f"cannot encode a {image.shape} {image.dtype} image as {suffix}")
    return buf.tobytes()


def write_image(path: str | os.PathLike, image: np.ndarray, quality: int = 95) -> None:
    """Encode by the path's suffix and write atomically."""
    path = Path(path)
    write_bytes(path, encode_image(image, path.suffix, quality))
