"""What an image file's header says before anything is decoded: its size, the channels and bytes
per sample the decoder will give, and an EXIF orientation the decoder will not apply (PNG, WebP).

Read with seeks from the file, never by loading it: a JPEG may carry megabytes of metadata before its
size, and the IFD of a TIFF may sit at its end. The size comes from `imagesize`; the rest of a
header is a few fixed fields (PNG's IHDR, a TIFF IFD, a PNM line, a BMP's bit count), read here. A
header that cannot be read is None: the caller refuses the file rather than decode it blind.
"""
from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass
from typing import BinaryIO

import imagesize

MAX_CHUNKS = 10_000       # chunks (PNG, WebP) or IFD entries looked at before giving up
MAX_EXIF_BYTES = 1 << 20  # an EXIF block longer than this is not read for its orientation
ORIENTATION, BITS, COMPRESSION, SAMPLES, SAMPLE_FORMAT = 0x0112, 258, 259, 277, 339
LOG_LUV = (34676, 34677)  # SGI LogL/LogLuv: decoded as float


@dataclass(frozen=True)
class Header:
    width: int
    height: int
    channels: int         # as decoded: 1, 3 or 4 (the most it can be where the header leaves it open)
    sample_bytes: int     # per channel as decoded: 1, 2 (16-bit), 8 (32-bit and float TIFFs, rescaled via float64)
    orientation: int = 1  # EXIF orientation left for the caller to apply (PNG, WebP); 1 otherwise

    @property
    def pixels(self) -> int:
        return self.width * self.height

    def describe(self) -> str:
        """'9248x6936 16-bit RGBA'."""
        depth = {1: "8-bit", 2: "16-bit"}.get(self.sample_bytes, "32-bit")
        kind = {1: "grey", 2: "grey+alpha", 3: "colour", 4: "RGBA"}[self.channels]
        return f"{self.width}x{self.height} {depth} {kind}"


def read_header(path: str | os.PathLike) -> Header | None:
    """The header of an image file; None when it cannot be read (or the format is not one of JPEG,
    PNG, TIFF, WebP, BMP, PNM). OSError when the file cannot be opened."""
    with open(path, "rb") as fh:
        try:
            return _header(fh)
        except (OSError, ValueError, struct.error, IndexError, KeyError):  # a malformed header
            return None


def _header(fh: BinaryIO) -> Header | None:
    head = fh.read(32)
    fh.seek(0)
    info = imagesize.get_info(fh, exif_rotation=False, dpi=False, colors=False)
    width, height = info.width, info.height
    if width <= 0 or height <= 0:
        return None
    if head[:2] == b"\xff\xd8":  # JPEG: 8 bits; the decoder applies its EXIF orientation itself
        return Header(width, height, 1 if info.channels == 1 else 3, 1)
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        depth, colour = head[24], head[25]
        channels = {0: 1, 2: 3, 3: 4, 4: 4, 6: 4}[colour]  # palette: 4 if it has transparency
        return Header(width, height, channels, 2 if depth == 16 else 1, _png_orientation(fh))
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Header(width, height, 4, 1, _webp_orientation(fh))
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        tags = ifd0(fh, {BITS, COMPRESSION, SAMPLES, SAMPLE_FORMAT})
        samples, bits = tags.get(SAMPLES, 1), tags.get(BITS, 8)
        # 32-bit, signed and float samples are rescaled into 16 bits through float64
        wide = bits > 16 or tags.get(SAMPLE_FORMAT, 1) != 1 or tags.get(COMPRESSION) in LOG_LUV
        return Header(width, height, min(max(samples, 1), 4) if samples != 2 else 4,
                      8 if wide else 2 if bits > 8 else 1)
    if head[:1] == b"P" and head[1:2] in b"123456":
        return Header(width, height, 3 if head[1:2] in b"36" else 1, 2 if _pnm_maxval(head, fh) > 255 else 1)
    if head[:2] == b"BM":
        return Header(width, height, 4 if struct.unpack("<H", head[28:30])[0] == 32 else 3, 1)
    return None


def _exif_chunk(fh: BinaryIO, start: int, big_endian: bool, stop: bytes | None = None) -> bytes | None:
    """The data of the first EXIF chunk (PNG `eXIf`, WebP `EXIF`) of the chunks from `start`: PNG's
    (big-endian length, type, data, CRC) or RIFF's (type, little-endian length, data padded to even).
    None when there is none before a `stop` chunk or the end."""
    fh.seek(start)
    for _ in range(MAX_CHUNKS):
        head = fh.read(8)
        if len(head) < 8:
            return None
        if big_endian:
            length, kind = struct.unpack(">I", head[:4])[0], head[4:]
        else:
            kind, length = head[:4], struct.unpack("<I", head[4:])[0]
        if kind == stop:
            return None
        if kind in (b"eXIf", b"EXIF"):
            return fh.read(min(length, MAX_EXIF_BYTES))
        # next chunk: PNG has a 4-byte CRC after the data; RIFF pads data to an even length
        fh.seek(length + (4 if big_endian else length % 2), io.SEEK_CUR)
    return None


def _png_orientation(fh: BinaryIO) -> int:
    found = _exif_chunk(fh, 8, True, b"IDAT")  # eXIf must come before the image data
    return exif_orientation(found) if found else 1


def _webp_orientation(fh: BinaryIO) -> int:
    found = _exif_chunk(fh, 12, False)
    return exif_orientation(found) if found else 1


def exif_orientation(payload: bytes) -> int:
    """The orientation (1..8) of an EXIF block (a TIFF structure, optionally after "Exif\\0\\0"); 1 if none."""
    if payload.startswith(b"Exif\x00\x00"):
        payload = payload[6:]
    try:
        value = ifd0(io.BytesIO(payload), {ORIENTATION}).get(ORIENTATION, 1)
    except (OSError, ValueError, struct.error):
        return 1
    return value if 1 <= value <= 8 else 1


def ifd0(fh: BinaryIO, wanted: set[int]) -> dict[int, int]:
    """The first value of each `wanted` tag of a TIFF structure's first IFD (a file, or EXIF bytes)."""
    fh.seek(0)
    head = fh.read(8)
    order = {b"II": "<", b"MM": ">"}.get(head[:2])
    if order is None or len(head) < 8:
        raise ValueError("not a TIFF structure")
    fh.seek(struct.unpack(order + "I", head[4:8])[0])
    count = struct.unpack(order + "H", fh.read(2))[0]
    values: dict[int, int] = {}
    for _ in range(min(count, MAX_CHUNKS)):
        entry = fh.read(12)
        if len(entry) < 12:
            break
        tag, kind, number = struct.unpack(order + "HHI", entry[:8])
        if tag not in wanted:
            continue
        if kind == 3:  # SHORT: the first one sits in the entry when there are one or two
            if number <= 2:
                values[tag] = struct.unpack(order + "H", entry[8:10])[0]
            else:
                here = fh.tell()
                fh.seek(struct.unpack(order + "I", entry[8:12])[0])
                values[tag] = struct.unpack(order + "H", fh.read(2))[0]
                fh.seek(here)
        elif kind == 4 and number == 1:  # LONG
            values[tag] = struct.unpack(order + "I", entry[8:12])[0]
    return values


def _pnm_maxval(head: bytes, fh: BinaryIO) -> int:
    """The largest sample value of a PNM file (1 for bitmaps), from its text header."""
    if head[1:2] in b"14":
        return 1
    fh.seek(0)
    words: list[bytes] = []
    for line in fh.read(4096).split(b"\n"):
        words += line.split(b"#", 1)[0].split()
        if len(words) >= 4:
            return int(words[3])
    raise ValueError("short PNM header")
