"""Image files in and out: decoding (any depth and channel count, upright by their EXIF orientation
in every format), the model's BGR view of an image, and encoding by file suffix.

Nothing is decoded before its header says it fits the memory budget (`--max-pixels`,
`limit_pixels`): a 400 kB PNG can hold 20000x20000 pixels, 1.2 GB decoded, more than a Pi has. The
budget counts what a picture really costs on its way through the pipeline, measured (README,
*Memory*): a pixel of an 8-bit colour photo is the unit, a 16-bit RGBA pixel costs 2.4 of them, a grey
one 0.46, a video frame's pixel 9.3 (the decoder's and encoder's frames in flight). A file whose
header cannot be read is refused: OpenCV's own limit (OPENCV_IO_MAX_IMAGE_PIXELS) is read once, when
cv2 is imported, so it cannot follow --max-pixels.
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError, OutputError
from ..files import reason, write_bytes
from ..quiet import native_stderr_silenced
from .headers import Header, read_header
from .orientation import from_exif, upright

# Peak memory per pixel of `pibokeh blur` on an image, measured on 64 MP pictures of every depth and
# channel count (x86; README, *Memory*): about 2.2 bytes plus 3.2 per byte the decoded pixel holds
# (11.8 for 8-bit colour, 27.8 for 16-bit RGBA); a video frame's 95-106, counted as 110 (decoder
# threads, the encoder's look-ahead and B-frames, the engine's hand-overs). The libraries and the
# model take 130-250 MB besides.
BYTES_PER_PIXEL = 2.2
BYTES_PER_PIXEL_BYTE = 3.2
VIDEO_BYTES_PER_PIXEL = 110.0
UNIT = BYTES_PER_PIXEL + 3 * BYTES_PER_PIXEL_BYTE  # one pixel of an 8-bit colour photo: 11.8 bytes
MAX_PIXELS_LIMIT = 1 << 30  # the largest --max-pixels: 12.7 GB of budget
# The default budget is a share of the machine's memory: on a 1 GB Pi ~50M (a 48 MP phone photo passes,
# ~590 MB for the picture, a peak of ~0.75 GB with the model, measured: README, *Memory*; video up to
# 1440p), on 4 GB and more the ceiling (64 MP photos and 4K video pass; a 256 MP bomb still does not).
MEMORY_SHARE = 0.6
DEFAULT_CEILING = 200_000_000
DEFAULT_FLOOR = 10_000_000
SYSTEM_ROOT_ENV = "PIBOKEH_SYSFS_ROOT"  # where /proc and /sys are read (tests point it at a fake Pi)


def machine_memory() -> int | None:
    """Bytes of memory this process can have: the machine's (/proc/meminfo MemTotal), or its cgroup's
    limit when that is lower (a container); None when neither can be read."""
    root = Path(os.environ.get(SYSTEM_ROOT_ENV) or "/")
    found = []
    try:
        for line in (root / "proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                found.append(int(line.split()[1]) * 1024)
                break
    except (OSError, ValueError, IndexError):
        pass
    try:
        limit = (root / "sys/fs/cgroup/memory.max").read_text().strip()
        if limit.isdigit():
            found.append(int(limit))
    except OSError:
        pass
    return min(found) if found else None


def default_max_pixels() -> int:
    """The default --max-pixels: MEMORY_SHARE of the machine's memory in pixels of an 8-bit colour photo,
    in whole megapixels, between DEFAULT_FLOOR and DEFAULT_CEILING (50M when the memory is unknown)."""
    memory = machine_memory()
    if memory is None:
        return 50_000_000
    pixels = int(MEMORY_SHARE * memory / UNIT) // 1_000_000 * 1_000_000
    return max(DEFAULT_FLOOR, min(DEFAULT_CEILING, pixels))


DEFAULT_MAX_PIXELS = default_max_pixels()
_limit = DEFAULT_MAX_PIXELS


def limit_pixels(max_pixels: int | None) -> None:
    """The memory budget from now on: what `max_pixels` pixels of an 8-bit colour photo take (None:
    the default)."""
    global _limit
    _limit = min(int(max_pixels or DEFAULT_MAX_PIXELS), MAX_PIXELS_LIMIT)


def image_cost(header: Header) -> float:
    """Bytes an image of this header takes through the pipeline, at its peak (measured; see above)."""
    return header.pixels * (BYTES_PER_PIXEL + BYTES_PER_PIXEL_BYTE * header.channels * header.sample_bytes)


def check_budget(path: Path | str, what: str, pixels: int, cost: float) -> None:
    """InputError unless a picture of `pixels` costing `cost` bytes fits the budget."""
    if cost <= _limit * UNIT:
        return
    equivalent = cost / UNIT
    same = abs(equivalent - pixels) < 0.01 * pixels
    raise InputError(f"{path}: {what} is {pixels / 1e6:.1f} megapixels, "
                     + ("" if same else f"as much memory as {equivalent / 1e6:.1f} megapixels of an 8-bit colour "
                        "photo: ")
                     + f"more than --max-pixels {_limit / 1e6:g}M"
                     + ("" if same else f" (about {_limit * UNIT / 1e6:.0f} MB)"))


def check_video_frames(path: Path | str, size: tuple[int, int]) -> None:
    """InputError unless frames of `size` (width, height) fit the budget on their way through the engine."""
    pixels = size[0] * size[1]
    check_budget(path, f"{size[0]}x{size[1]} video", pixels, pixels * VIDEO_BYTES_PER_PIXEL)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """The image: 8- or 16-bit, 1, 3 or 4 channels (BGR order), upright by its EXIF orientation.

    Raises InputError for missing, empty, truncated, undecodable or oversized files (their header is
    read first, the file then), and when decoding runs out of memory.
    """
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise InputError(f"{path}: empty file")
        header = read_header(path)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({reason(exc)})") from None
    if header is None:
        raise InputError(f"{path}: not a readable image (no JPEG, PNG, TIFF, WebP, BMP or PNM header whose size "
                         "can be read)")
    check_budget(path, header.describe() if _weighs_more(header) else f"{header.width}x{header.height}",
                 header.pixels, image_cost(header) + path.stat().st_size)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({reason(exc)})") from None
    except MemoryError:
        raise InputError(f"{path}: not enough memory to read it") from None
    if data[:8].tobytes() == PNG_SIGNATURE and not _png_chunks_fit(data.tobytes()):
        raise InputError(f"{path}: not a readable image (corrupt PNG: a chunk runs past the end of the file)")
    # JPEGs are decoded upright by OpenCV itself (their EXIF tag applied); every other format is read
    # unchanged (alpha, 16 bits), and a PNG's or WebP's EXIF orientation is applied here.
    is_jpeg = data[:2].tobytes() == b"\xff\xd8"
    flags = cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH if is_jpeg else cv2.IMREAD_UNCHANGED
    try:
        with native_stderr_silenced():  # libpng/libjpeg warnings ("invalid chunk", "premature end")
            image = cv2.imdecode(data, flags)
    except MemoryError:
        raise InputError(f"{path}: not enough memory to decode it") from None
    except cv2.error as exc:
        raise InputError(f"{path}: not a readable image ({_cv_reason(exc)})") from None
    del data
    if image is None or image.size == 0:
        raise InputError(f"{path}: not a readable image (corrupt, truncated, too large or unknown format)")
    if image.shape[:2] != (header.height, header.width) and image.shape[:2] != (header.width, header.height):
        raise InputError(f"{path}: not a readable image (its header says {header.width}x{header.height}, "
                         f"it decodes to {image.shape[1]}x{image.shape[0]})")
    if image.dtype not in (np.uint8, np.uint16):
        image = _to_uint16(image)
    return upright(image, from_exif(header.orientation))


def _weighs_more(header: Header) -> bool:
    """True when a pixel of the image costs more or less memory than one of an 8-bit colour photo."""
    return header.channels * header.sample_bytes != 3


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
