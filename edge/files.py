"""Writing files without ever leaving a half-written one: temporary file beside, then rename.

Also the one place that makes (and checks) an output folder.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import OutputError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp makes its files private (0600); a finished output gets what any new file would.
FILE_MODE = 0o666 & ~_umask()


def reason(exc: OSError) -> str:
    """The short reason of an OS error ("No space left on device"), for one-line messages."""
    return exc.strerror or str(exc)


def ensure_folder(folder: str | os.PathLike, what: str = "output folder") -> Path:
    """`folder`, created if needed, checked to be a writable folder. Raises OutputError."""
    folder = Path(folder)
    try:
        if folder.exists() and not folder.is_dir():
            raise OutputError(f"{folder}: the {what} is not a folder")
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # also a parent that cannot be searched (exists() raises then)
        raise OutputError(f"{folder}: cannot create the {what} ({reason(exc)})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{folder}: the {what} is not writable")
    return folder


def temp_beside(path: Path, suffix: str) -> Path:
    """A new empty hidden file next to `path` (same file system, so a rename can replace `path`)."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix, dir=path.parent)
    except OSError as exc:
        raise OutputError(f"{path.parent}: cannot write here ({reason(exc)})") from None
    os.fchmod(fd, FILE_MODE)
    os.close(fd)
    return Path(tmp)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside `path` that replaces it only if the block succeeds.

    Readers never see a half-written file, and a failure leaves any earlier file untouched.
    """
    path = Path(path)
    tmp_path = temp_beside(path, f".part{path.suffix}")
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """`data` into `path`, atomically; OutputError on any failure (disk full, permissions)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        try:
            tmp.write_bytes(data)
        except OSError as exc:
            raise OutputError(f"{path}: cannot write ({reason(exc)})") from None
