"""Writing files without ever leaving a half-written one: temporary file beside, then rename.

A temporary file is hidden (`.<stem>.<random>.part<suffix>`), its name fits the file system however
long the output's is, and it is locked while it is written, so a later run can remove what a killed
one left (`remove_stale`). Also the one place that makes (and checks) an output folder.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import shutil
import tempfile
import time
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


NAME_MAX = 255  # bytes in one file name (ext4, btrfs, xfs, tmpfs, FAT's long names)
_RANDOM = 8  # characters mkstemp/mkdtemp put between prefix and suffix
STALE_AFTER = 2.0  # seconds without a change before an unlocked temporary file counts as left behind
_held: dict[Path, int] = {}  # temporary files of this process -> the descriptor holding their lock


def fit_name(stem: str, tail: str) -> str:
    """`stem` shortened (whole characters) so that `stem + tail` fits in NAME_MAX bytes."""
    room = NAME_MAX - len(os.fsencode(tail))
    while stem and len(os.fsencode(stem)) > room:
        stem = stem[:-1]
    return stem


def _hidden_prefix(path: Path, suffix: str) -> str:
    """'.<stem>.' for a temporary name beside `path`, the stem shortened so that the whole hidden
    name (prefix, random part, suffix) fits in NAME_MAX bytes: a 250-byte output name must work."""
    return f".{fit_name(path.stem, '..' + 'x' * _RANDOM + suffix)}."


def cannot_write(path: Path, exc: OSError) -> OutputError:
    """The one line for a failed write beside `path`: a name too long is the name's fault, not the folder's."""
    if exc.errno == errno.ENAMETOOLONG:
        return OutputError(f"{path}: the file name is too long for the file system ({len(os.fsencode(path.name))} bytes)")
    return OutputError(f"{path.parent}: cannot write here ({reason(exc)})")


def temp_beside(path: Path, suffix: str, folder: bool = False) -> Path:
    """A new empty hidden file (or folder) next to `path` (same file system, so a rename can replace
    `path`), locked (flock) until `release`: a lock the kernel drops when the process dies, so a later
    run can tell a temporary file of a killed process from one still being written (`remove_stale`)."""
    prefix = _hidden_prefix(path, suffix)
    try:
        if folder:
            tmp = tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=path.parent)
            fd = os.open(tmp, os.O_RDONLY | os.O_DIRECTORY)
        else:
            fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
            os.fchmod(fd, FILE_MODE)
    except OSError as exc:
        raise cannot_write(path, exc) from None
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # new and private to us: it cannot be held elsewhere
    _held[Path(tmp)] = fd
    return Path(tmp)


def release(tmp: Path) -> None:
    """Let go of a temporary file's lock (once it is renamed into place or deleted)."""
    fd = _held.pop(Path(tmp), None)
    if fd is not None:
        os.close(fd)


def remove_stale(path: Path, suffix: str) -> list[Path]:
    """Delete the temporary files (or folders) of `suffix` that an earlier, killed run left beside
    `path` (SIGKILL, power loss: no cleanup ran); one a live process still holds is left alone.
    Returns what was removed."""
    prefix = _hidden_prefix(path, suffix)
    pattern = re.compile(re.escape(prefix) + r"[a-z0-9_]{%d}" % _RANDOM + re.escape(suffix) + "$")
    removed = []
    try:
        entries = [e for e in os.scandir(path.parent) if e.name.startswith(prefix) and pattern.match(e.name)]
    except OSError:
        return removed
    for entry in entries:
        stale = Path(entry.path)
        try:  # a just-made one may be between its creation and its lock: only older ones can be stale
            if time.time() - entry.stat(follow_symlinks=False).st_mtime < STALE_AFTER:
                continue
        except OSError:
            continue
        try:
            fd = os.open(stale, os.O_RDONLY | (os.O_DIRECTORY if entry.is_dir(follow_symlinks=False) else 0)
                         | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held: another process is writing it right now
            os.close(fd)
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)
            removed.append(stale)
        finally:
            os.close(fd)
    return removed


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
        release(tmp_path)
        tmp_path.unlink(missing_ok=True)


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """`data` into `path`, atomically; OutputError on any failure (disk full, permissions)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        try:
            tmp.write_bytes(data)
        except OSError as exc:
            raise OutputError(f"{path}: cannot write ({reason(exc)})") from None
