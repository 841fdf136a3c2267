"""Known prebuilt models, the user cache, downloads, and which model to use by default."""
from __future__ import annotations

import hashlib
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .model import ModelError, read_card
from .sinks import atomic_path, OutputError

REGISTRY_FILE = Path(__file__).with_name("registry.json")  # models/registry.json in the repository
REPO_MODELS = Path(__file__).resolve().parent.parent / "models"  # converted models land here
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


def registry() -> list[Entry]:
    data = json.loads(REGISTRY_FILE.read_text())
    fields = set(Entry.__dataclass_fields__)
    return [Entry(**{k: v for k, v in item.items() if k in fields}) for item in data["models"]]


def lookup(name: str) -> Entry:
    for entry in registry():
        if name in (entry.name, entry.file):
            return entry
    names = ", ".join(e.name for e in registry())
    raise ModelError(f"unknown model {name!r}; known: {names}")


def cache_dir() -> Path:
    """$PIBOKEH_CACHE, else $XDG_CACHE_HOME/pibokeh, else ~/.cache/pibokeh."""
    if os.environ.get("PIBOKEH_CACHE"):
        return Path(os.environ["PIBOKEH_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "pibokeh"


def cached_path(entry: Entry) -> Path:
    return cache_dir() / entry.file


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{target.parent}: cannot create the folder ({exc.strerror or exc})") from None
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


def converted_models(folder: Path = REPO_MODELS) -> list[Path]:
    """Models the converter wrote (a .tflite with its card), newest first."""
    if not folder.is_dir():
        return []
    found = [p for p in folder.glob("*.tflite") if p.with_suffix(".json").is_file()]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def find_default_model() -> Path:
    """$PIBOKEH_MODEL, else the newest converted model in models/, else a cached registry model."""
    env = os.environ.get("PIBOKEH_MODEL")
    if env:
        return Path(env)
    converted = [p for p in converted_models() if _card_ok(p)]
    if converted:
        return converted[0]
    for entry in registry():
        if cached_path(entry).is_file():
            return cached_path(entry)
    raise ModelError("no model found: pass --model FILE, set PIBOKEH_MODEL, convert one with "
                     f"pibokeh-convert, or download one with `pibokeh fetch {DEFAULT_FETCH}`")


def _card_ok(path: Path) -> bool:
    try:
        return read_card(path) is not None
    except ModelError:
        return False
