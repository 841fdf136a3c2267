"""What many tests share: running the installed commands in a clean environment, checking one-line
errors, and synthetic pictures and clips that the tiny test models understand (red = "person")."""
from __future__ import annotations

import hashlib
import os
import struct
import zlib
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

# Stand-ins for what cannot be here (picamera2, pyvirtualcam, a Python without PyAV): put on PYTHONPATH.
FAKES = Path(__file__).resolve().parent / "fakes"

# Settings a developer's shell (or a demo run) may have that must not leak into a test.
PRIVATE_ENV = ("PIBOKEH_MODEL", "PIBOKEH_HOME", "PIBOKEH_CACHE", "XDG_DATA_HOME", "XDG_CACHE_HOME",
               "FAKE_PICAMERA2")


def command(name: str = "pibokeh", python: str | None = None) -> list[str]:
    """The installed console script of an environment (default: this one), else `python -m`."""
    script = Path(python or sys.executable).with_name(name)
    if script.exists():
        return [str(script)]
    module = "pibokeh" if name == "pibokeh" else "pibokeh.convert.cli"
    return [python or sys.executable, "-m", module]


def clean_env(home: Path, extra: dict | None = None) -> dict[str, str]:
    """os.environ without the user's pibokeh settings, with models and cache under `home`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(PRIVATE_ENV)}
    env.update({"PIBOKEH_HOME": str(home / "home"), "PIBOKEH_CACHE": str(home / "cache")})
    env.update(extra or {})
    return env


def run(args: list, env: dict | None = None, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env, timeout=timeout,
                          **kwargs)


def error_line(stderr: str) -> str:
    """The one error line of a command's stderr (there must be exactly one, and no traceback)."""
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, stderr
    return errors[0]


def one_line_error(proc: subprocess.CompletedProcess, code: int = 2) -> str:
    """Assert that a command failed with `code` and one error line; return that line."""
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    return error_line(proc.stderr)


def sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ---- synthetic pictures: the tiny test models call red things "person" -----------------------------

def red_square(size: tuple[int, int] = (120, 160)) -> tuple[np.ndarray, np.ndarray]:
    """A BGR test image with a red square on grey, and the square's mask (h, w = `size`)."""
    image = np.full(size + (3,), 110, np.uint8)
    mask = np.zeros(size, np.uint8)
    h, w = size
    image[h // 4: 3 * h // 4, w // 4: w // 2] = (20, 20, 230)
    mask[h // 4: 3 * h // 4, w // 4: w // 2] = 255
    return image, mask


def red_square_photos(folder: Path, count: int = 12, truth: bool = False) -> Path:
    """`count` photos of red squares on varied, never red, noisy backgrounds (calibration and
    evaluation pictures for the tiny models), with `<id>_gt.png` class maps (15 = person) if `truth`."""
    rng = np.random.default_rng(3)
    for i in range(count):
        image, mask = red_square((90 + 7 * i, 120 + 5 * i))
        background = mask == 0
        b, g = rng.integers(60, 200, 2)
        noise = rng.integers(-15, 15, (int(background.sum()), 3))
        image[background] = np.clip(np.array([b, g, min(b, g) - 30]) + noise, 0, 255)
        cv2.imwrite(str(folder / f"p{i:02d}.png"), image)
        if truth:
            cv2.imwrite(str(folder / f"p{i:02d}_gt.png"), np.where(mask > 0, 15, 0).astype(np.uint8))
    return folder


def scene(size: tuple[int, int], t: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Frame `t` of a moving scene, (w, h) = `size`: a red block drifting over a textured, never red
    background, and the block's mask. Textured so that blurring it is visible."""
    width, height = size
    y, x = np.mgrid[0:height, 0:width]
    stripes = ((x // 8 + y // 8 + t) % 2).astype(np.uint8)
    image = np.dstack([90 + 60 * stripes, 140 - 50 * stripes, np.full_like(stripes, 70)]).astype(np.uint8)
    mask = np.zeros((height, width), np.uint8)
    bw, bh = width // 3, height // 2
    left = (width // 6 + 3 * t) % max(1, width - bw)
    top = height // 4
    image[top:top + bh, left:left + bw] = (20, 20, 230)
    mask[top:top + bh, left:left + bw] = 255
    return image, mask


def write_clip(path: Path, frames: int = 45, size: tuple[int, int] = (320, 240), fps: float = 30.0) -> Path:
    """An MP4 of `scene` frames (OpenCV's always-available MPEG-4 writer)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    assert writer.isOpened()
    for t in range(frames):
        writer.write(scene(size, t)[0])
    writer.release()
    return path


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(((a > 0) & (b > 0)).sum() / max(((a > 0) | (b > 0)).sum(), 1))


def interruptible() -> None:
    """preexec_fn for a command under test that must see Ctrl-C and SIGHUP as a terminal sends them:
    a run started in the background (`cmd &`) inherits SIGINT ignored, one under `nohup` SIGHUP, and
    both stay ignored in the child (pibokeh keeps an ignored SIGINT/SIGHUP ignored, on purpose)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def png_file(path: Path, width: int, height: int, idat: bytes, depth: int = 8, colour: int = 0) -> Path:
    """A PNG whose header says width x height at `depth` bits, colour type `colour` (0 grey, 6 RGBA),
    around the compressed image data `idat` (which need not fit the header: bombs and liars)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0))
                     + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def imported_alone(names: list[str], cwd: Path) -> dict[str, subprocess.CompletedProcess]:
    """`python -c "import NAME"` for each of `names`, each in a new interpreter (so that no other
    module's imports hide a missing one), as many at a time as there are CPUs."""
    def alone(name: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True, text=True, cwd=cwd)
    with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        return dict(zip(names, pool.map(alone, names)))
