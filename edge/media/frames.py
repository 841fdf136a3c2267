"""The two small interfaces every stream of frames goes through: where frames come from
(`FrameSource`) and where they go (`FrameSink`). Files, video, cameras, recordings and the live
preview all implement one of them, so the engine never knows which one it has."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np


@dataclass
class Frame:
    """One frame as a source delivers it: the BGR uint8 picture, optionally a smaller copy to infer
    on (a camera's second stream), its timestamp (`pts`, in the source's time base; None for live
    sources), and what the camera sent with it (`metadata`: where an on-sensor model puts its output)."""
    image: np.ndarray
    small: np.ndarray | None = None
    pts: int | None = None
    metadata: Any = None


class FrameSource:
    """A stream of BGR uint8 frames. Subclasses implement `read` (None at the end) and `close`.

    `skips_frames`: a live source (a camera) does not wait, so a frame not taken in time is gone and
    the engine drops frames rather than queue them; a file waits, and every frame is processed."""

    fps: float = 0.0
    size: tuple[int, int] = (0, 0)  # (width, height)
    frame_count: int = 0  # 0 when unknown (live sources)
    name: str = "source"
    skips_frames: bool = False

    def read(self) -> np.ndarray | None:
        raise NotImplementedError

    def next_frame(self) -> Frame | None:
        """The next `Frame`, None at the end; sources with more than a picture to give override it."""
        image = self.read()
        return None if image is None else Frame(image, pts=getattr(self, "pts", None))

    def interrupt(self) -> None:
        """Stop waiting: a read blocked in a reconnect gives up soon after (called when stopping)."""

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
    """Somewhere frames go. `write` takes a frame and its timestamp (in the source's time base; sinks
    that keep their own time ignore it); `close` finishes the output; `abort` discards it."""

    def write(self, frame: np.ndarray, pts: int | None = None) -> None:
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
