"""`--frames-as-png`: a video written as a folder of numbered PNGs (RGBA for a transparent
background), the form video editors import as an image sequence.

Like every output it appears whole or not at all: frames go into a hidden folder beside the
target, which takes the target's name only once the last frame is written.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from ..errors import OutputError
from ..files import FILE_MODE, fit_name, reason, release, remove_stale, temp_beside
from .frames import FrameSink
from .images import encode_image


class PngSequenceSink(FrameSink):
    """Frames into `folder/<stem>_000001.png`, `..._000002.png`, ... (numbered from 1)."""

    def __init__(self, folder: str | os.PathLike):
        self.path = Path(folder)
        self.frames = 0
        self.notes: list[str] = []
        if self.path.exists() and not self.path.is_dir():
            raise OutputError(f"{self.path}: exists and is not a folder; the frames need a folder of that name")
        remove_stale(self.path, ".part")  # what a killed run left (its lock died with it)
        self._tmp: Path | None = temp_beside(self.path, ".part", folder=True)
        os.chmod(self._tmp, FILE_MODE | (FILE_MODE & 0o444) >> 2)  # mkdtemp's is private; r gets x

    def write(self, frame: np.ndarray, pts: int | None = None) -> None:
        self.frames += 1
        name = self._tmp / f"{fit_name(self.path.name, '_000000.png')}_{self.frames:06d}.png"
        try:
            name.write_bytes(encode_image(frame, ".png"))
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot write frame {self.frames} ({reason(exc)})") from None

    def close(self) -> None:
        if self._tmp is None:
            return
        if self.frames == 0:
            return self.abort()
        old = None
        try:
            if self.path.exists():  # a folder cannot be replaced in one rename: move the old one aside first
                old = temp_beside(self.path, ".old", folder=True)
                os.replace(self.path, old / self.path.name)
            os.replace(self._tmp, self.path)
            release(self._tmp)
        except OSError as exc:
            if old is not None and not self.path.exists():
                os.replace(old / self.path.name, self.path)  # put the earlier output back
            self.abort()
            raise OutputError(f"{self.path}: cannot write ({reason(exc)})") from None
        finally:
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
                release(old)
        self._tmp = None

    def abort(self) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            release(self._tmp)
            self._tmp = None
