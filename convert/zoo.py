"""The DeepLab model zoo: known upstream tarballs, verified download, and safe extraction."""
from __future__ import annotations

import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pibokeh.errors import InputError, ModelError
from pibokeh.model.locations import cache_dir
from pibokeh.model.registry import download, package_data, sha256_of

GRAPH_NAME = "frozen_inference_graph.pb"


@dataclass(frozen=True)
class ZooEntry:
    name: str
    url: str
    sha256: str  # empty when not yet pinned: the download is then reported as unverified
    graph: str = GRAPH_NAME
    input_tensor: str = "sub_7"
    output_tensor: str = "logits/semantic/BiasAdd"
    depth_multiplier: float = 1.0
    license: str = "Apache-2.0"


def zoo(path: Path | None = None) -> list[ZooEntry]:
    """Entries of the shipped zoo list (package data `pibokeh/models/zoo.json`), or of `path` /
    $PIBOKEH_ZOO (e.g. an organisation's own mirror list)."""
    path = path or (Path(os.environ["PIBOKEH_ZOO"]) if os.environ.get("PIBOKEH_ZOO") else None)
    if path is None:
        data = package_data("zoo.json")
    else:
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{path}: not a readable zoo list ({exc})") from None
    fields = set(ZooEntry.__dataclass_fields__)
    return [ZooEntry(**{k: v for k, v in item.items() if k in fields}) for item in data["models"]]


def lookup(name: str) -> ZooEntry | None:
    return next((entry for entry in zoo() if entry.name == name), None)


def fetch_tarball(entry: ZooEntry, mirror: str | None = None,
                  progress: Callable[[int, int], None] | None = None,
                  warn: Callable[[str], None] = lambda message: None) -> Path:
    """The entry's tarball in the cache, downloaded (and sha256-verified when pinned) if needed."""
    filename = entry.url.rstrip("/").rsplit("/", 1)[-1]
    target = cache_dir() / "zoo" / filename
    if target.is_file() and (not entry.sha256 or sha256_of(target) == entry.sha256):
        return target
    url = f"{mirror.rstrip('/')}/{filename}" if mirror else entry.url
    download(url, target, entry.sha256 or None, progress)
    if not entry.sha256:
        warn(f"{entry.name}: no sha256 pinned in the zoo registry; downloaded unverified "
             f"(sha256 {sha256_of(target)}, recorded in the model card)")
    return target


def extract_graph(tarball: Path, dest: Path, member_name: str = GRAPH_NAME) -> Path:
    """Extract a model-zoo tarball into `dest` safely and return its frozen graph.

    Only regular files and folders are extracted, and only inside `dest`: absolute paths, `..`,
    links and device files are refused (Python's "data" filter, plus our own check so that the
    rule does not depend on the Python version).
    """
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    try:
        with tarfile.open(tarball, "r:*") as tar:
            members = tar.getmembers()
            for member in members:
                target = (root / member.name).resolve()
                if not (member.isfile() or member.isdir()):
                    raise InputError(f"{tarball}: refusing {member.name!r} (links and special files are not extracted)")
                if member.name.startswith("/") or root not in (target, *target.parents):
                    raise InputError(f"{tarball}: refusing {member.name!r} (outside the extraction folder)")
            tar.extractall(root, members=members, filter="data")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise InputError(f"{tarball}: not a readable tar archive ({exc})") from None
    graphs = sorted(p for p in root.rglob(member_name) if p.is_file())
    if not graphs:
        raise ModelError(f"{tarball}: holds no {member_name}")
    return graphs[0]
