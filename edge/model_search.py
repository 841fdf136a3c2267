"""Which model a command uses: `--model` (a file or a registry name), else `$PIBOKEH_MODEL`, else
the newest converted model in the user data folder, else a fetched model in the cache."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from . import registry
from .card import read_card
from .errors import ModelError
from .locations import cache_dir, models_dir


@dataclass(frozen=True)
class Place:
    """One place the default-model search looks, and what it found there."""
    what: str
    where: str
    found: tuple[Path, ...]


def converted_models(folder: Path | None = None) -> list[Path]:
    """Models the converter wrote into `folder` (a .tflite with a readable card), newest first."""
    folder = models_dir() if folder is None else folder
    if not folder.is_dir():
        return []
    found = [p for p in folder.glob("*.tflite") if p.with_suffix(".json").is_file() and _card_ok(p)]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def fetched_models() -> list[Path]:
    """Registry models already in the cache, in registry order."""
    return [registry.cached_path(e) for e in registry.registry() if registry.cached_path(e).is_file()]


def search() -> list[Place]:
    """Every place the default-model search looks, in order, with what each holds."""
    env = os.environ.get("PIBOKEH_MODEL")
    return [Place("$PIBOKEH_MODEL", env or "(not set)", (Path(env),) if env else ()),
            Place("converted models", str(models_dir()), tuple(converted_models())),
            Place("fetched models", str(cache_dir()), tuple(fetched_models()))]


def default_model() -> Path:
    """The first model the search finds; a one-line ModelError saying how to get one otherwise."""
    for place in search():
        if place.found:
            return place.found[0]
    raise ModelError(f"no model found (looked at $PIBOKEH_MODEL, {models_dir()} and {cache_dir()}): "
                     "pass --model FILE, convert one with pibokeh-convert, or download one with "
                     f"`pibokeh fetch {registry.DEFAULT_FETCH}`")


def resolve_models(names: Sequence[str] | None) -> list[Path]:
    """The model files --model (repeatable) names: files, registry names, folders of converted models
    (each converted model in it); none given: the default model (or $PIBOKEH_MODEL's folder)."""
    if not names:
        default = default_model()
        return _folder_models(default) if default.is_dir() else [default]
    paths: list[Path] = []
    for name in names:
        path = Path(name)
        paths.extend(_folder_models(path) if path.is_dir() else [resolve_model(name)])
    return paths


def _folder_models(folder: Path) -> list[Path]:
    found = sorted(converted_models(folder))
    if not found:
        raise ModelError(f"{folder}: holds no converted models (a .tflite with its .json card)")
    return found


def resolve_model(name: str | None) -> Path:
    """A path for --model: a file, a registry name (already fetched into the cache), or the default."""
    if not name:
        return default_model()
    path = Path(name)
    if path.exists() or path.suffix == ".tflite" or "/" in name:
        return path
    entry = registry.lookup(name)
    cached = registry.cached_path(entry)
    if not cached.is_file():
        raise ModelError(f"model {name} is not downloaded yet: run `pibokeh fetch {name}`")
    return cached


def _card_ok(path: Path) -> bool:
    try:
        return read_card(path) is not None
    except ModelError:
        return False
