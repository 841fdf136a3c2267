"""The prebuilt models pibokeh knows (package data `pibokeh/models/registry.json`), and
sha256-verified downloads into the cache."""
from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable

from ..errors import ModelError
from ..files import atomic_path, ensure_folder
from .locations import cache_dir

DEFAULT_FETCH = "deeplabv3_mnv2_pascal_quant"


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


def fetch(entry: Entry, mirror: str | None = None,
          progress: Callable[[int, int], None] | None = None) -> Path:
    """Download a registry model into the cache, verify its sha256, and return its path.

    `mirror` replaces the upstream location with `<mirror>/<file>` (a local server for offline
    fleets). An already cached file with the right checksum is not downloaded again.
    """
    target = cached_path(entry)
    if target.is_file() and sha256_of(target) == entry.sha256:
        return target
    url = f"{mirror.rstrip('/')}/{entry.file}" if mirror else entry.url
    download(url, target, entry.sha256, progress)
    return target


def download(url: str, target: Path, sha256: str | None, progress: Callable[[int, int], None] | None = None,
             timeout: float = 30.0) -> None:
    """Download `url` to `target` atomically; nothing is left behind unless the sha256 matches
    (`sha256=None`: no checksum is known, the caller reports the download as unverified)."""
    ensure_folder(target.parent, "download folder")
    digest = hashlib.sha256()
    with atomic_path(target) as tmp:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, tmp.open("wb") as out:
                total = int(response.headers.get("Content-Length") or 0)
                done = 0
                for block in iter(lambda: response.read(1 << 16), b""):
                    out.write(block)
                    digest.update(block)
                    done += len(block)
                    if progress:
                        progress(done, total)
        except urllib.error.HTTPError as exc:
            raise ModelError(f"{url}: download failed (HTTP {exc.code} {exc.reason})") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
            raise ModelError(f"{url}: download failed ({reason})") from None
        if sha256 is not None and digest.hexdigest() != sha256:
            raise ModelError(f"{url}: checksum mismatch (sha256 {digest.hexdigest()[:16]}..., "
                             f"expected {sha256[:16]}...); nothing was saved")
