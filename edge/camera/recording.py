"""The camera's recording: fragmented MP4 under its final name while it grows (a fragment a second,
so a recording cut by power loss plays up to its last second), encoded in a thread of its own so a
slow encoder never lowers the preview's frame rate.

A recording never overwrites a file. `--record PATH` takes PATH with `{time}` replaced by the local
start time (`20261206-142501`); when that file exists (a rerun, a restart after a crash, a second
camera given the same path) it takes the first free `STEM-1.mp4`, `STEM-2.mp4`, ... instead. Each
name is claimed by creating the file exclusively (O_EXCL), so two processes never write one file.
The name taken is logged, shown in /stats and in the summary.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..chain import Record
from ..engine import ThreadedSink
from ..errors import InputError, OutputError
from ..media.video import OutputExists, VideoFileSink

SUFFIX = ".mp4"  # fragmented MP4 is what a recording is; another suffix would name the wrong format
TIME_FIELD = "{time}"
TIME_FORMAT = "%Y%m%d-%H%M%S"
MAX_NUMBER = 9999  # STEM-1 ... STEM-9999: past that, something is wrong (a restart loop), say so


def check_record_path(path: str | os.PathLike) -> Path:
    """The --record value, refused (InputError) unless it names an .mp4 file."""
    path = Path(path)
    if path.suffix.lower() != SUFFIX:
        raise InputError(f"--record {path}: a recording is fragmented MP4; give it a name ending in .mp4")
    return path


def candidates(pattern: str | os.PathLike, now: float | None = None) -> Iterator[Path]:
    """The names a recording of `pattern` tries, in order: `{time}` filled in, then numbered."""
    stamp = time.strftime(TIME_FORMAT, time.localtime(now))
    first = Path(str(pattern).replace(TIME_FIELD, stamp))
    yield first
    for number in range(1, MAX_NUMBER + 1):
        yield first.with_name(f"{first.stem}-{number}{first.suffix}")


DEPTH = 4  # frames that may wait for the encoder: a hiccup costs no frame, a slow encoder skips some


class Recording(ThreadedSink):
    """A recording of `size` frames at about `fps`, timed by the wall clock, into a new file named
    after `path` (see the module's docstring; `path` is the name taken). `skips`: when DEPTH frames
    already wait for the encoder, skip a frame (a live camera) rather than hold the pipeline back; each
    frame is stamped with the time it was made, so a recording plays at the speed of life whatever
    the encoder's pace."""

    def __init__(self, path: str | os.PathLike, fps: float, size: tuple[int, int], codec: str | None = None,
                 skips: bool = True, record: Record | None = None):
        check_record_path(path)
        for candidate in candidates(path):
            if os.path.lexists(candidate):
                continue
            try:
                sink = VideoFileSink(candidate, fps, size, codec=codec, live=True)
                break
            except OutputExists:
                continue
        else:
            raise OutputError(f"{path}: {MAX_NUMBER} numbered recordings of this name exist already; "
                              "move them away or use {time} in the name")
        self.path = candidate
        self._started: float | None = None
        super().__init__(sink, skips=skips, stage="record", record=record, depth=DEPTH)

    def write(self, frame: np.ndarray, pts: int | None = None) -> None:
        """Record `frame`, stamped now (the source's own `pts` is in another time base, or none)."""
        now = time.monotonic()
        self._started = now if self._started is None else self._started
        super().write(frame, round((now - self._started) / self.sink.time_base))

    @property
    def frames(self) -> int:
        return self.sink.frames

    @property
    def bytes_written(self) -> int | None:
        return self.sink.bytes_written

    def status(self, active: bool) -> dict[str, Any]:
        """What /stats says about it."""
        return {"path": str(self.path), "active": active, "frames": self.frames, "bytes": self.bytes_written,
                "dropped": self.dropped}
