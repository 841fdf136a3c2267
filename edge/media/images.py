"""Image files in and out: decoding (any depth and channel count, EXIF-upright), the model's
BGR view of an image, and encoding by file suffix.

An image's size is read from its header before it is decoded, and one larger than the pixel limit
(`--max-pixels`, `limit_pixels`) is refused: a 400 kB PNG can hold 20000x20000 pixels, 1.2 GB decoded,
more than a Pi has. OpenCV gets the same limit (`OPENCV_IO_MAX_IMAGE_PIXELS`) for any header the
check cannot read.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import cv2
import imagesize
import numpy as np

from ..errors import InputError, OutputError
from ..files import reason, write_bytes
from ..quiet import native_stderr_silenced

# A 64 MP phone or camera photo passes (9248x6936). Measured peak RSS of `pibokeh blur` (x86): 64 MP
# 0.80 GB, 100 MP 1.19 GB (`mask`: 0.48, 0.69 GB); so the default stops just above 64 MP, within what a
# 1 GB Pi can give one process, and far below what a 20000x20000 PNG bomb would take (2.1 GB).
DEFAULT_MAX_PIXELS = 70_000_000
MAX_PIXELS_LIMIT = 1 << 30  # OpenCV's own ceiling: --max-pixels cannot go past it
_limit = DEFAULT_MAX_PIXELS


def limit_pixels(max_pixels: int | None) -> None:
    """Refuse images of more than `max_pixels` pixels from now on (None: the default), here and in
    OpenCV (which reads its limit once, at its first decode: call this before reading images)."""
    global _limit
    _limit = min(int(max_pixels or DEFAULT_MAX_PIXELS), MAX_PIXELS_LIMIT)
    os.environ["OPENCV_IO_MAX_IMAGE_PIXELS"] = str(_limit)


def header_size(data: bytes | np.ndarray) -> tuple[int, int] | None:
    """(width, height) from an image file's header, without decoding it; None when it cannot tell."""
    try:
        width, height = imagesize.get(io.BytesIO(bytes(data[:1 << 20])))
    except Exception:  # any malformed header: then OpenCV's own check (same limit) decides
        return None
    return (width, height) if width > 0 and height > 0 else None


def read_image(path: str | os.PathLike) -> np.ndarray:
    """The image: 8- or 16-bit, 1, 3 or 4 channels (BGR order), JPEGs upright by their EXIF tag.

    Raises InputError for missing, empty, truncated, undecodable or oversized files, and when
    decoding runs out of memory.
    """
    path = Path(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({reason(exc)})") from None
    except MemoryError:
        raise InputError(f"{path}: not enough memory to read it") from None
    if data.size == 0:
        raise InputError(f"{path}: empty file")
    size = header_size(data)
    if size and size[0] * size[1] > _limit:
        raise InputError(f"{path}: {size[0]}x{size[1]} is {size[0] * size[1] / 1e6:.1f} megapixels, more than "
                         f"--max-pixels {_limit / 1e6:g}M")
    if data[:8].tobytes() == PNG_SIGNATURE and not _png_chunks_fit(data.tobytes()):
        raise InputError(f"{path}: not a readable image (corrupt PNG: a chunk runs past the end of the file)")
    # Phone JPEGs are often stored sideways with an EXIF orientation tag; outputs carry no EXIF, so
    # apply it. Other formats are read unchanged to keep alpha and 16 bits.
    is_jpeg = data[:2].tobytes() == b"\xff\xd8"
    flags = cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH if is_jpeg else cv2.IMREAD_UNCHANGED
    os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(_limit))
    try:
        with native_stderr_silenced():  # libpng/libjpeg warnings ("invalid chunk", "premature end")
            image = cv2.imdecode(data, flags)
    except MemoryError:
        raise InputError(f"{path}: not enough memory to decode it") from None
    except cv2.error as exc:
        raise InputError(f"{path}: not a readable image ({_cv_reason(exc)})") from None
    if image is None or image.size == 0:
        raise InputError(f"{path}: not a readable image (corrupt, truncated, too large or unknown format)")
    if image.dtype not in (np.uint8, np.uint16):
        image = _to_uint16(image)
    return image


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_chunks_fit(data: bytes) -> bool:
    """False when a PNG chunk before the image data claims more bytes than the file holds: OpenCV's
    reader spends seconds on such a 200-byte file (one chunk "length" of 4 GB), found by fuzzing."""
    at = len(PNG_SIGNATURE)
    while at + 8 <= len(data):
        length = int.from_bytes(data[at:at + 4], "big")
        if data[at + 4:at + 8] in (b"IDAT", b"IEND"):  # the image data itself: the decoder's to judge
            return True
        if length > len(data) - at - 12:
            return False
        at += 12 + length
    return True


def _cv_reason(exc: Exception) -> str:
    # cv2.error's text is several lines ("OpenCV(4.x) file:line: error: (-4:Insufficient memory) ...")
    text = " ".join(str(exc).split())
    return "out of memory" if "Insufficient memory" in text or "Failed to allocate" in text else text[-120:]


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
