"""A one-line progress bar on stderr, shown only on a terminal."""
from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """`update()` per item; draws at most 10 times a second; `close()` clears the line."""

    def __init__(self, total: int, label: str = "", enabled: bool = True, stream: TextIO | None = None):
        self.total, self.label = total, label
        self.stream = stream or sys.stderr  # looked up now: a caller may have redirected it
        self.enabled = enabled and self.stream.isatty()
        self.done = 0
        self.start = time.monotonic()
        self._drawn = 0.0

    def update(self, n: int = 1, note: str = "") -> None:
        self.done += n
        now = time.monotonic()
        if not self.enabled or (now - self._drawn < 0.1 and self.done < self.total):
            return
        self._drawn = now
        rate = self.done / max(now - self.start, 1e-6)
        if self.total:
            filled = int(24 * min(self.done / self.total, 1.0))
            bar = f"[{'#' * filled}{'.' * (24 - filled)}] {self.done}/{self.total}"
        else:
            bar = f"{self.done}"
        line = f"{self.label} {bar} {rate:.1f}/s {note}"[:120]
        self.stream.write("\r" + line.ljust(120))
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self._drawn:
            self.stream.write("\r" + " " * 120 + "\r")
            self.stream.flush()
