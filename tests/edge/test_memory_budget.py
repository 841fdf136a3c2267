"""--max-pixels is a memory budget that holds: a JPEG whose size comes after megabytes of metadata, a
16-bit RGBA PNG, a header nothing can read, video frames (blur and camera), the background image; and
the peak memory of real runs at the budget, measured from outside, stays within it."""
from __future__ import annotations

import subprocess
import sys
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import TINY
from tests.edge.camera_process import Camera
from tests.edge.video_clips import av_clip
from tests.fakes.fake_pi import fake_memory
from tests.helpers import clean_env, command, error_line, png_file, red_square

LIBRARIES = 300 << 20  # what the process holds besides the picture (Python, NumPy, OpenCV, PyAV, model): ~130-250 MB


def metadata_bomb(path: Path, side: int = 16000, metadata: int = 1_200_000) -> Path:
    """A small real JPEG whose frame header (SOF) says side x side and comes after `metadata` bytes of
    APP segments: the first megabyte of the file holds no size at all."""
    jpeg = cv2.imencode(".jpg", red_square((64, 64))[0])[1].tobytes()
    sof = next(i for i in range(2, len(jpeg)) if jpeg[i] == 0xFF and jpeg[i + 1] in (0xC0, 0xC2))
    body = bytearray(jpeg)
    body[sof + 5:sof + 9] = struct.pack(">HH", side, side)  # height, width
    segment = b"\xff\xe5" + struct.pack(">H", 65535) + b"\x00" * 65533  # APP5, 64 kB of nothing
    padding = segment * (metadata // len(segment) + 1)
    path.write_bytes(bytes(body[:2]) + padding + bytes(body[2:]))
    return path


def png_header(path: Path, width: int, height: int, depth: int, colour: int) -> Path:
    """A PNG whose header says width x height at `depth` bits, colour type `colour`, with a tiny IDAT."""
    return png_file(path, width, height, zlib.compress(b"\x00" * 100), depth, colour)


@pytest.fixture
def photo(tmp_path) -> Path:
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), red_square()[0])
    return path


def test_a_jpeg_whose_size_comes_after_a_megabyte_of_metadata_is_refused(pibokeh, tmp_path, photo):
    bomb = metadata_bomb(tmp_path / "bomb.jpg")
    assert bomb.read_bytes()[:1 << 20].count(b"\xff\xc0") == 0  # nothing in the first MB says how big
    proc = pibokeh("blur", bomb, photo, "-o", tmp_path / "out", "--model", TINY, "--max-pixels", "50M")
    assert proc.returncode == 1, proc.stderr
    assert f"{bomb}: 16000x16000 is 256.0 megapixels, more than --max-pixels 50M" in proc.stderr
    assert (tmp_path / "out" / "photo.png").is_file()  # the batch goes on
    # the same file as --background: one line, exit 2, before any input is touched
    proc = pibokeh("blur", photo, "-o", tmp_path / "out2", "--model", TINY, "--background", bomb,
                   "--max-pixels", "50M")
    assert proc.returncode == 2 and "16000x16000 is 256.0 megapixels" in error_line(proc.stderr)
    assert not (tmp_path / "out2").exists()


def test_depth_and_channels_count_against_the_budget(pibokeh, tmp_path, photo):
    rgba16 = png_header(tmp_path / "rgba16.png", 9248, 6936, 16, 6)  # 64 MP, 16-bit RGBA: 1.9 GB measured
    grey = png_header(tmp_path / "grey.png", 9248, 6936, 8, 0)       # the same pixels in 8-bit grey
    proc = pibokeh("mask", rgba16, grey, "-o", tmp_path / "out", "--model", TINY, "--max-pixels", "50M")
    # 16-bit RGBA: 2.2 + 3.2 * 8 = 27.8 bytes a pixel, 2.36 times an 8-bit colour pixel's 11.8
    assert (f"{rgba16}: 9248x6936 16-bit RGBA is 64.1 megapixels, as much memory as 151.1 megapixels of an "
            "8-bit colour photo: more than --max-pixels 50M (about 590 MB)") in proc.stderr
    # the grey one fits the budget (it costs 5.4 bytes a pixel): it is decoded, and found to be broken
    assert f"{grey}: " in proc.stderr and "megapixels" not in proc.stderr.split(f"{grey}: ")[1].splitlines()[0]


def test_a_header_that_cannot_be_read_is_not_decoded_blind(pibokeh, tmp_path, photo):
    raster = tmp_path / "sun.ras"  # a format OpenCV decodes but no header reader here knows
    assert cv2.imwrite(str(raster), np.zeros((20, 30, 3), np.uint8))
    proc = pibokeh("mask", raster, photo, "-o", tmp_path / "out", "--model", TINY)
    assert proc.returncode == 1
    assert f"{raster}: not a readable image (no JPEG, PNG, TIFF, WebP, BMP or PNM header" in proc.stderr


def test_video_frames_count_against_the_budget_in_blur_and_camera(pibokeh, tmp_path):
    clip = av_clip(tmp_path / "vga.mp4", frames=4, size=(640, 480), audio=False)
    words = "640x480 video is 0.3 megapixels, as much memory as 2.9 megapixels of an 8-bit colour photo: " \
            "more than --max-pixels 1M"
    proc = pibokeh("blur", clip, "-o", tmp_path / "out", "--model", TINY, "--max-pixels", "1M")
    assert proc.returncode == 2 and words in proc.stderr and not list((tmp_path / "out").iterdir())
    assert pibokeh("blur", clip, "-o", tmp_path / "out", "--model", TINY, "--max-pixels", "3M").returncode == 0
    camera = Camera("--source", f"video:{clip}", "--model", TINY, "--max-pixels", "1M", "--retries", "3")
    assert camera.finish() == 2 and words in error_line(camera.stderr)
    assert "retrying" not in camera.stderr  # a file that is too big does not shrink by waiting


def test_the_default_budget_follows_the_machines_memory(pibokeh, tmp_path):
    """4K video is beyond the default of a 1 GB Pi (60 % of 1024 MB is 54M pixels of 11.8 bytes) and within
    that of a 4 GB one (the 200M ceiling)."""
    clip = av_clip(tmp_path / "uhd.mp4", frames=2, size=(3840, 2160), audio=False)
    small = pibokeh("mask", clip, "-o", tmp_path / "out", "--model", TINY, env=fake_memory(tmp_path / "pi1", 1024))
    assert small.returncode == 2 and "3840x2160 video is 8.3 megapixels" in small.stderr
    assert "more than --max-pixels 54M" in small.stderr
    big = pibokeh("mask", clip, "-o", tmp_path / "out", "--model", TINY, env=fake_memory(tmp_path / "pi4", 4096))
    assert big.returncode == 0, big.stderr
    assert "here 54M" in pibokeh("mask", "--help", env=fake_memory(tmp_path / "pi1", 1024)).stdout


PEAK = """
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, capture_output=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)
"""


def peak_rss(tmp_path: Path, *args: str) -> int:
    """The peak resident memory of one `pibokeh` run, in bytes (measured by the kernel, from outside)."""
    proc = subprocess.run([sys.executable, "-c", PEAK, *command(), *map(str, args)], capture_output=True,
                          text=True, env=clean_env(tmp_path), timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return int(proc.stdout.strip())


@pytest.mark.parametrize("kind, shape, dtype", [("8-bit colour", (3000, 3900, 3), np.uint8),
                                                ("16-bit RGBA", (1800, 2700, 4), np.uint16),
                                                ("8-bit grey", (4400, 5800), np.uint8)])
def test_the_peak_memory_of_a_picture_at_the_budget_stays_within_it(tmp_path, kind, shape, dtype):
    # 12M of budget: 142 MB. Each picture is just under it: 11.7 MP colour, 4.9 MP 16-bit RGBA, 25.5 MP grey.
    y, x = np.mgrid[0:shape[0], 0:shape[1]]
    picture = ((x * 7 + y * 3) % 256).astype(dtype)
    if len(shape) == 3:
        picture = np.dstack([picture] * shape[2])
    picture = picture * (257 if dtype == np.uint16 else 1)
    path = tmp_path / "picture.png"
    cv2.imwrite(str(path), picture, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    budget = 12_000_000 * 11.8
    peak = peak_rss(tmp_path, "blur", path, "-o", tmp_path / "out", "--model", TINY, "--max-pixels", "12M",
                    "--threads", "1", "-q")
    assert (tmp_path / "out" / "picture.png").is_file()
    assert peak < budget + LIBRARIES, (kind, peak / 1e6)
