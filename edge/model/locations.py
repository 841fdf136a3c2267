"""Where pibokeh keeps things on this machine: converted models (the user data folder) and
downloads (the cache). Nothing is ever looked for inside the installed package."""
from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """$PIBOKEH_HOME, else $XDG_DATA_HOME/pibokeh, else ~/.local/share/pibokeh."""
    if os.environ.get("PIBOKEH_HOME"):
        return Path(os.environ["PIBOKEH_HOME"])
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "pibokeh"


def models_dir() -> Path:
    """Converted models: where `pibokeh-convert -o NAME.tflite` writes a bare name, and where
    `pibokeh` looks for one when no model is given."""
    return data_dir() / "models"


def cache_dir() -> Path:
    """$PIBOKEH_CACHE, else $XDG_CACHE_HOME/pibokeh, else ~/.cache/pibokeh."""
    if os.environ.get("PIBOKEH_CACHE"):
        return Path(os.environ["PIBOKEH_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "pibokeh"


def model_output(name: str) -> Path:
    """Where a converted model named `name` goes: under `models_dir()` when it is a bare file name
    (`mnv2.tflite`), else the path as given (`./mnv2.tflite`, `out/mnv2.tflite`)."""
    return models_dir() / name if os.sep not in name and "/" not in name else Path(name)
