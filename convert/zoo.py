"""The DeepLab model zoo: known upstream tarballs, verified download, and safe extraction.

A tarball is downloaded only with a pinned sha256 and size (`models/zoo.json`): a zoo entry without
one is refused with the way round it (download it yourself, check it, pass the file). Its frozen
graph is extracted into a private temporary folder the caller owns and removes: only that one
member, checked (a regular file inside the folder, not too big), never a file someone else left in
a shared place.
"""
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


MAX_GRAPH_BYTES = 1 << 30  # a DeepLab frozen graph is 2-9 MB; a "graph" of more is not one


@dataclass(frozen=True)
class ZooEntry:
    name: str
    url: str
    sha256: str  # empty when no trustworthy checksum is known: then it is not downloaded
    size_bytes: int = 0
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
                  progress: Callable[[int, int], None] | None = None) -> Path:
    """The entry's tarball in the cache, downloaded (size- and sha256-verified) if needed."""
    filename = entry.url.rstrip("/").rsplit("/", 1)[-1]
    if not entry.sha256:
        raise ModelError(f"{entry.name}: no sha256 is pinned for {entry.url}, so it is not downloaded "
                         "unverified; download it yourself, check it, and convert the file: "
                         f"pibokeh-convert {filename} ...")
    target = cache_dir() / "zoo" / filename
    if target.is_file() and sha256_of(target) == entry.sha256:
        return target
    url = f"{mirror.rstrip('/')}/{filename}" if mirror else entry.url
    download(url, target, entry.sha256, progress, size=entry.size_bytes or None)
    return target


def extract_graph(tarball: Path, dest: Path, member_name: str = GRAPH_NAME) -> tuple[Path, str]:
    """The tarball's one frozen graph, extracted into `dest` (a private folder the caller made and
    removes), and its name inside the tarball.

    Only that member is extracted, and only as a regular file of at most MAX_GRAPH_BYTES inside
    `dest`: absolute paths, `..`, links and device files are refused (Python's "data" filter, plus
    our own check so that the rule does not depend on the Python version). A tarball holding no
    graph, or several, is refused: which one would be converted is not a guess.
    """
    root = dest.resolve()
    try:
        with tarfile.open(tarball, "r:*") as tar:
            graphs = [m for m in tar.getmembers() if Path(m.name).name == member_name]
            if len(graphs) != 1:
                raise ModelError(f"{tarball}: holds {len(graphs) or 'no'} {member_name}"
                                 + ("; which one to convert is not a guess" if graphs else ""))
            member = graphs[0]
            target = (root / member.name).resolve()
            if not member.isfile():
                raise InputError(f"{tarball}: refusing {member.name!r} (links and special files are not extracted)")
            if member.name.startswith("/") or root not in target.parents:
                raise InputError(f"{tarball}: refusing {member.name!r} (outside the extraction folder)")
            if member.size > MAX_GRAPH_BYTES:
                raise InputError(f"{tarball}: refusing {member.name!r} ({member.size} bytes is not a frozen graph)")
            tar.extractall(root, members=[member], filter="data")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise InputError(f"{tarball}: not a readable tar archive ({exc})") from None
    return target, member.name
