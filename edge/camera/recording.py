"""The camera's recording: fragmented MP4 under its final name while it grows (a fragment a second,
so a recording cut by power loss plays up to its last second), encoded in a thread of its own so a
slow encoder never lowers the preview's frame rate."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..chain import Record
from ..engine import ThreadedSink
from ..media.video import VideoFileSink


class Recording(ThreadedSink):
    """A recording of `size` frames at about `fps`, timed by the wall clock. `skips`: drop a frame
    while the encoder is still busy (a live camera) rather than hold the pipeline back."""

    def __init__(self, path: str | os.PathLike, fps: float, size: tuple[int, int], codec: str | None = None,
                 skips: bool = True, record: Record | None = None):
        self.path = Path(path)
        super().__init__(VideoFileSink(self.path, fps, size, codec=codec, live=True), skips=skips,
                         stage="record", record=record)

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
