"""Several models for one job: each frame goes to the model whose input has the aspect closest to
the frame's, so a user who converted a 16:9 and a 4:3 model never has to choose between them."""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterator, Sequence

from .errors import ModelError
from .model import Segmenter


class ModelSet:
    """One or more Segmenters with the same classes; `pick` chooses one for a frame size."""

    def __init__(self, segmenters: Sequence[Segmenter]):
        if not segmenters:
            raise ModelError("no model given")
        first = segmenters[0]
        for other in segmenters[1:]:
            if other.labels != first.labels:
                raise ModelError(f"{other.path} and {first.path} have different classes; "
                                 "models used together must share their labels")
        self.segmenters = list(segmenters)

    @classmethod
    def open(cls, paths: Sequence[str | os.PathLike], backend: str | None = None,
             threads: int | None = None) -> "ModelSet":
        return cls([Segmenter(path, backend=backend, threads=threads) for path in paths])

    def pick(self, height: int, width: int) -> Segmenter:
        """The model whose input aspect is closest to a `height` x `width` frame's (the first on a tie)."""
        aspect = width / max(height, 1)
        return min(self.segmenters, key=lambda seg: abs(math.log(seg.aspect / aspect)))

    @property
    def first(self) -> Segmenter:
        return self.segmenters[0]

    @property
    def paths(self) -> list[Path]:
        return [seg.path for seg in self.segmenters]

    def __len__(self) -> int:
        return len(self.segmenters)

    def __iter__(self) -> Iterator[Segmenter]:
        return iter(self.segmenters)
