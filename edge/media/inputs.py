"""What the batch commands take: image and video files, and folders searched for images."""
from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Iterable, Iterator

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg", ".wmv"})


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def real(path: Path) -> Path:
    """The path with every symlink resolved, never raising (a symlink loop stays as it is; unlike
    Path.resolve, which raises RuntimeError for one in Python 3.11)."""
    return Path(os.path.realpath(path))


def why_unusable(path: Path) -> str:
    """Why a path that is neither a regular file nor a folder cannot be used, in a few words."""
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symlink loop"
        if path.is_symlink():
            return "broken symlink"
        if exc.errno in (errno.EACCES, errno.EPERM):
            return "permission denied"
        return "no such file or folder" if exc.errno == errno.ENOENT else (exc.strerror or str(exc))
    return "not a regular file"


def _walk(folder: Path, problems: list[tuple[Path, str]]) -> Iterator[Path]:
    """Every file under `folder`, following symlinked sub-folders once each (no loop can trap it);
    sub-folders that cannot be listed and image names that cannot be read go to `problems`."""
    seen: set[tuple[int, int]] = set()

    def unreadable(exc: OSError) -> None:
        problems.append((Path(exc.filename), f"cannot read the folder ({exc.strerror or exc})"))

    for top, dirs, files in os.walk(folder, onerror=unreadable, followlinks=True):
        try:
            info = os.stat(top)
        except OSError:
            dirs[:] = []
            continue
        if (info.st_dev, info.st_ino) in seen:  # a link back to a folder already searched
            dirs[:] = []
            continue
        seen.add((info.st_dev, info.st_ino))
        for name in sorted(files):
            path = Path(top, name)
            if path.is_file():
                yield path
            elif is_image(path):  # an image name that cannot be opened: say so, do not skip it silently
                problems.append((path, why_unusable(path)))


def expand_inputs(inputs: Iterable[str | os.PathLike], exclude: Path | None = None
                  ) -> tuple[list[tuple[Path, Path]], list[tuple[Path, str]]]:
    """(file, output name) pairs for the given files and folders, and the inputs that cannot be used.

    Folders are searched recursively for images only (a video in a photo folder is rarely meant to be
    converted with it); their files keep their path relative to the folder as output name, so
    equal names in subfolders do not collide. Files named explicitly are kept whatever their suffix,
    so a mislabelled file gets a clear decode error instead of silently vanishing. Files under
    `exclude` (the output folder) are skipped, so a second run does not process its own outputs.
    Sub-folders that cannot be read, broken links and symlink loops are reported, never skipped
    without a word.
    """
    excluded = real(exclude) if exclude else None
    pairs: list[tuple[Path, Path]] = []
    problems: list[tuple[Path, str]] = []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in _walk(path, problems) if is_image(p)
                           and not (excluded and excluded in real(p).parents))
            if not found and not any(str(bad).startswith(str(path)) for bad, _ in problems):
                problems.append((path, "folder holds no images"))
            pairs.extend((p, p.relative_to(path)) for p in found)
        elif path.is_file():
            pairs.append((path, Path(path.name)))
        else:
            problems.append((path, why_unusable(path)))
    problems = list(dict.fromkeys(problems))  # a file named and also found in a named folder: once
    seen: set[Path] = set()
    unique = []
    for path, name in pairs:
        if real(path) not in seen:
            seen.add(real(path))
            unique.append((path, name))
    return unique, problems
