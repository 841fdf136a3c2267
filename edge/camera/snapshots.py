"""Snapshots of the live output: JPEGs into a folder on request (Enter, SIGUSR1) and on an interval."""
from __future__ import annotations

import threading
import time
from datetime import datetime
from pathlib import Path

import numpy as np

from ..files import ensure_folder
from ..media.frames import FrameSink
from ..media.images import write_image


class SnapshotSink(FrameSink):
    """JPEG snapshots of the output into a folder: every `every` seconds and whenever `request()`ed."""

    def __init__(self, folder: str | Path, every: float = 0.0):
        self.folder = ensure_folder(folder, "snapshot folder")
        self.every = every
        self.saved: list[Path] = []
        self._wanted = threading.Event()
        self._last = 0.0

    def request(self) -> None:
        self._wanted.set()

    def write(self, frame: np.ndarray, pts: int | None = None) -> None:
        now = time.monotonic()
        due = self.every > 0 and now - self._last >= self.every
        if not (due or self._wanted.is_set()):
            return
        self._wanted.clear()
        self._last = now
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")[:-3]
        path = self.folder / f"snapshot-{stamp}.jpg"
        write_image(path, frame, quality=90)
        self.saved.append(path)
