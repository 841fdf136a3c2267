"""Which backend runs a model: the one `--backend` names, else the one the model file calls for.

Today every model is a .tflite file on a TFLite interpreter (`tflite.TFLiteBackend`); the
interpreter names are the `--backend` choices. Another kind of runner adds its name to `BACKENDS`
and a branch to `open_model`.
"""
from __future__ import annotations

import os
from pathlib import Path

from .backend import Backend
from .interpreters import INTERPRETERS
from .tflite import TFLiteBackend

BACKENDS: tuple[str, ...] = INTERPRETERS


def open_model(path: str | os.PathLike, backend: str | None = None, threads: int | None = None) -> Backend:
    """The backend object for a model file: `backend` if given (one of BACKENDS), else by the file.
    Raises ModelError with a one-line reason (missing file, damaged model, backend not installed)."""
    return TFLiteBackend(Path(path), backend=backend, threads=threads)
