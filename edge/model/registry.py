"""The prebuilt models pibokeh knows (package data `pibokeh/models/registry.json`), and
sha256-verified downloads into the cache."""
from __future__ import annotations

import hashlib
import http.client
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable

from ..errors import ModelError
from ..files import atomic_path, ensure_folder, remove_stale
from .locations import cache_dir

DEFAULT_FETCH = "deeplabv3_mnv2_pascal_quant"
DOWNLOAD_TIME = 600.0       # seconds a whole download may take (a 25 MB tarball at 42 kB/s)
READ_TIMEOUT = 30.0         # seconds any one read may wait
MAX_DOWNLOAD = 200 << 20    # bytes, when nobody says how many to expect


@dataclass(frozen=True)
class Entry:
    name: str
    file: str
    url: str
    sha256: str
    family: str
    license: str
    size_bytes: int = 0
    source: str = ""


def package_data(name: str) -> dict[str, Any]:
    """One of the JSON files shipped in `pibokeh.models` (the repository's models/ folder)."""
    return json.loads(resources.files("pibokeh.models").joinpath(name).read_text())


def registry() -> list[Entry]:
    fields = set(Entry.__dataclass_fields__)
    return [Entry(**{k: v for k, v in item.items() if k in fields}) for item in package_data("registry.json")["models"]]


def lookup(name: str) -> Entry:
    for entry in registry():
        if name in (entry.name, entry.file):
            return entry
    names = ", ".join(e.name for e in registry())
    raise ModelError(f"unknown model {name!r}; known: {names}")


def cached_path(entry: Entry) -> Path:
    return cache_dir() / entry.file


def sha256_of(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def fetch(entry: Entry, mirror: str | None = None, progress: Callable[[int, int], None] | None = None,
          deadline: float = DOWNLOAD_TIME) -> Path:
    """Download a registry model into the cache, verify its size and sha256, and return its path.

    `mirror` replaces the upstream location with `<mirror>/<file>` (a local server for offline
    fleets). An already cached file with the right checksum is not downloaded again.
    """
    target = cached_path(entry)
    if target.is_file() and sha256_of(target) == entry.sha256:
        return target
    url = f"{mirror.rstrip('/')}/{entry.file}" if mirror else entry.url
    download(url, target, entry.sha256, progress, size=entry.size_bytes or None, deadline=deadline)
    return target


def download(url: str, target: Path, sha256: str | None, progress: Callable[[int, int], None] | None = None,
             size: int | None = None, deadline: float = DOWNLOAD_TIME, timeout: float = READ_TIMEOUT) -> None:
    """Download `url` to `target` atomically: nothing is left behind unless it completes with the
    sha256 given (`sha256=None`: none is known, the caller says the download is unverified).

    Bounded three ways: at most `size` bytes (the registry's; else MAX_DOWNLOAD), refused before
    reading when the server announces more; at most `deadline` seconds in all, checked after every
    read, so a server that trickles a byte every few seconds is given up too; and `timeout` seconds
    for any one read. A signal (SIGTERM, SIGHUP, Ctrl-C) raised in the caller's thread removes the
    partial file on its way out, and what a killed (SIGKILL) run left is removed by the next one."""
    ensure_folder(target.parent, "download folder")
    limit = size or MAX_DOWNLOAD
    remove_stale(target, f".part{target.suffix}")
    digest = hashlib.sha256()
    ends = time.monotonic() + deadline
    with atomic_path(target) as tmp:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, tmp.open("wb") as out:
                total = int(response.headers.get("Content-Length") or 0)
                if total > limit:
                    raise ModelError(f"{url}: the server offers {total} bytes, the registry says {limit}; "
                                     "nothing was saved")
                done = 0
                while block := response.read1(1 << 16):
                    done += len(block)
                    if done > limit:
                        raise ModelError(f"{url}: more than the {limit} bytes the registry says; "
                                         "stopped, nothing was saved")
                    if time.monotonic() > ends:
                        raise ModelError(f"{url}: not complete after {deadline:g} s ({done} of {total or limit} "
                                         "bytes); stopped, nothing was saved")
                    out.write(block)
                    digest.update(block)
                    if progress:
                        progress(done, total)
        except urllib.error.HTTPError as exc:
            raise ModelError(f"{url}: download failed (HTTP {exc.code} {exc.reason})") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
            raise ModelError(f"{url}: download failed ({reason})") from None
        if sha256 is not None and digest.hexdigest() != sha256:
            raise ModelError(f"{url}: checksum mismatch (sha256 {digest.hexdigest()[:16]}..., "
                             f"expected {sha256[:16]}...); nothing was saved")
