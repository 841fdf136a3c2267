"""Which models a command uses: `--model` (files, registry names, folders), else `$PIBOKEH_MODEL`,
else the converted models in the user data folder (the newest of each input aspect, so a 16:9 and a
4:3 conversion are both used, each for its frames), else a fetched model in the cache."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from .registry import DEFAULT_FETCH, cached_path, lookup, registry
from .card import read_card
from ..errors import ModelError
from .locations import cache_dir, models_dir
from .preprocess import aspect_matches


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
    return [cached_path(e) for e in registry() if cached_path(e).is_file()]


def search() -> list[Place]:
    """Every place the default-model search looks, in order, with what each holds."""
    env = os.environ.get("PIBOKEH_MODEL")
    return [Place("$PIBOKEH_MODEL", env or "(not set)", (Path(env),) if env else ()),
            Place("converted models", str(models_dir()), tuple(converted_models())),
            Place("fetched models", str(cache_dir()), tuple(fetched_models()))]


def default_models() -> list[Path]:
    """What the search finds first: $PIBOKEH_MODEL, else the converted models (`one_per_aspect`),
    else the first fetched model; a one-line ModelError saying how to get one otherwise."""
    for place in search():
        if place.found:
            if place.what == "converted models":
                return one_per_aspect(place.found)
            return list(place.found[:1])
    raise ModelError(f"no model found (looked at $PIBOKEH_MODEL, {models_dir()} and {cache_dir()}): "
                     "pass --model FILE, convert one with pibokeh-convert, or download one with "
                     f"`pibokeh fetch {DEFAULT_FETCH}`")


def one_per_aspect(models: Sequence[Path]) -> list[Path]:
    """Of converted models (newest first), the newest of each input aspect among those with the newest's
    labels: converting a model for another frame shape adds to the default, converting a better model
    for a shape replaces the older one, and models that cannot work together are never mixed."""
    chosen: list[Path] = []
    shapes: list[tuple[int, int]] = []  # (h, w) of the chosen models' inputs
    labels: Any = None
    for path in models:
        card = read_card(path) or {}
        size = card.get("input", {})
        shape = (size.get("height") or size.get("size"), size.get("width") or size.get("size"))
        if chosen and (not all(shape) or card.get("labels") != labels
                       or any(aspect_matches(shape, other) for other in shapes)):
            continue
        if not chosen:
            labels = card.get("labels")
        chosen.append(path)
        if all(shape):
            shapes.append(shape)
    return chosen


def resolve_models(names: Sequence[str] | None) -> list[Path]:
    """The model files --model (repeatable) names: files, registry names, folders of converted models
    (each converted model in it); none given: the default models (or $PIBOKEH_MODEL's folder)."""
    if not names:
        defaults = default_models()
        return _folder_models(defaults[0]) if defaults[0].is_dir() else defaults
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


def resolve_model(name: str) -> Path:
    """A path for one --model: a file, or a registry name (already fetched into the cache)."""
    path = Path(name)
    if path.exists() or path.suffix in (".tflite", ".rpk", ".hef") or "/" in name:  # files, not registry names
        return path
    entry = lookup(name)
    cached = cached_path(entry)
    if not cached.is_file():
        raise ModelError(f"model {name} is not downloaded yet: run `pibokeh fetch {name}`")
    return cached


def _card_ok(path: Path) -> bool:
    try:
        return read_card(path) is not None
    except ModelError:
        return False
