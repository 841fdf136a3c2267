"""Several models for one job: each frame goes to the model whose input has the aspect closest to
the frame's, so a user who converted a 16:9 and a 4:3 model never has to choose between them."""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterator, Sequence

from ..errors import ModelError
from .backend import Backend
from .kinds import open_model


class ModelSet:
    """One or more backends with the same classes; `pick` chooses one for a frame size."""

    def __init__(self, models: Sequence[Backend]):
        if not models:
            raise ModelError("no model given")
        first = models[0]
        for other in models[1:]:
            if other.labels != first.labels:
                raise ModelError(f"{other.path} and {first.path} have different classes; "
                                 "models used together must share their labels")
        self.models = list(models)

    @classmethod
    def open(cls, paths: Sequence[str | os.PathLike], backend: str | None = None,
             threads: int | None = None) -> "ModelSet":
        return cls([open_model(path, backend=backend, threads=threads) for path in paths])

    def pick(self, height: int, width: int) -> Backend:
        """The model whose input aspect is closest to a `height` x `width` frame's (the first on a tie)."""
        aspect = width / max(height, 1)
        return min(self.models, key=lambda model: abs(math.log(model.aspect / aspect)))

    @property
    def first(self) -> Backend:
        return self.models[0]

    @property
    def labels(self) -> tuple[str, ...]:
        return self.first.labels

    @property
    def paths(self) -> list[Path]:
        return [model.path for model in self.models]

    def close(self) -> None:
        for model in self.models:
            model.close()

    def __len__(self) -> int:
        return len(self.models)

    def __iter__(self) -> Iterator[Backend]:
        return iter(self.models)

    def __repr__(self) -> str:
        return f"<ModelSet {', '.join(model.path.name for model in self.models)}>"
