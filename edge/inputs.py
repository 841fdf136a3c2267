"""What the batch commands take: image and video files, and folders searched for images."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg", ".wmv"})


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def expand_inputs(inputs: Iterable[str | os.PathLike], exclude: Path | None = None
                  ) -> tuple[list[tuple[Path, Path]], list[tuple[Path, str]]]:
    """(file, output name) pairs for the given files and folders, and the inputs that cannot be used.

    Folders are searched recursively for images only (a video in a photo folder is rarely meant to be
    converted with it); their files keep their path relative to the folder as output name, so
    equal names in subfolders do not collide. Files named explicitly are kept whatever their suffix,
    so a mislabelled file gets a clear decode error instead of silently vanishing. Files under
    `exclude` (the output folder) are skipped, so a second run does not process its own outputs.
    """
    excluded = exclude.resolve() if exclude else None
    pairs: list[tuple[Path, Path]] = []
    problems: list[tuple[Path, str]] = []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and is_image(p)
                           and not (excluded and excluded in p.resolve().parents))
            if not found:
                problems.append((path, "folder holds no images"))
            pairs.extend((p, p.relative_to(path)) for p in found)
        elif path.is_file():
            pairs.append((path, Path(path.name)))
        elif path.exists():
            problems.append((path, "not a regular file"))
        else:
            problems.append((path, "no such file or folder"))
    seen: set[Path] = set()
    unique = []
    for path, name in pairs:
        if path.resolve() not in seen:
            seen.add(path.resolve())
            unique.append((path, name))
    return unique, problems
