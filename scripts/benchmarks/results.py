"""Where measurements go: docs/measurements/TOPIC.json, one file per topic of the page, stamped with
when, on which host and by which command it was measured. The page is rendered from these files
(`python -m scripts.benchmarks --saved`), so a section can be rewritten without measuring again."""
from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

from pibokeh.bench import host
from pibokeh.files import atomic_path

from .inputs import ROOT

MEASUREMENTS = ROOT / "docs" / "measurements"


def record(topic: str, data: dict[str, Any], command: str) -> dict[str, Any]:
    """The saved form: the topic's data with when, where and how it was measured."""
    return {"topic": topic, "measured": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "command": command, "host": host(), "data": data}


def save(saved: dict[str, Any], folder: Path = MEASUREMENTS) -> Path:
    """Write a `record` as folder/TOPIC.json (atomically: a reader never sees half a file)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{saved['topic']}.json"
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(saved, indent=1, default=str) + "\n")
        tmp.chmod(0o644)
    return path


def load(topic: str, folder: Path = MEASUREMENTS) -> dict[str, Any] | None:
    """The saved record of `topic`, or None when there is none."""
    path = folder / f"{topic}.json"
    if not path.is_file():
        return None
    saved = json.loads(path.read_text())
    return saved if saved.get("topic") == topic and "data" in saved else None
