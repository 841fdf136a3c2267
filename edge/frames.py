"""The two small interfaces every stream of frames goes through: where frames come from
(`FrameSource`) and where they go (`FrameSink`). Files, video, cameras, recordings and the live
preview all implement one of them, so a pipeline never knows which one it has."""
from __future__ import annotations

from typing import Iterator

import numpy as np


class FrameSource:
    """A stream of BGR uint8 frames. Subclasses implement `read` (None at the end) and `close`."""

    fps: float = 0.0
    size: tuple[int, int] = (0, 0)  # (width, height)
    frame_count: int = 0  # 0 when unknown (live sources)

    def read(self) -> np.ndarray | None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __iter__(self) -> Iterator[np.ndarray]:
        while (frame := self.read()) is not None:
            yield frame

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FrameSink:
    """Somewhere frames go. `close` finishes the output; `abort` discards it."""

    def write(self, frame: np.ndarray) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def abort(self) -> None:
        self.close()

    def __enter__(self) -> "FrameSink":
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
