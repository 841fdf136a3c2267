"""The model card: the sidecar `<model>.json` that tells the edge runtime (and people) what a
converted model is, where it came from, and how well it did."""
from __future__ import annotations

import json
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from pibokeh.card import CARD_FORMAT, MEAN, STD, card_path
from pibokeh.files import atomic_path
from pibokeh.labels import LABELS
from pibokeh.model import Segmenter

from .graph import Cut
from .tfimport import tf


def build(model: Path, source: dict[str, Any], cut: Cut, size: int, mode: str,
          calibration: dict[str, Any] | None, validation: dict[str, Any] | None,
          recipe: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything the runtime needs (input size/dtype/normalisation, output kind, labels) plus
    provenance and the validation results."""
    seg = Segmenter(model, backend="ai_edge_litert", threads=1)
    info = seg.describe()
    return {
        "format": CARD_FORMAT,
        "family": f"converted by pibokeh ({mode}, {size})",
        "file": model.name,
        "size_bytes": model.stat().st_size,
        "source": source,
        "cut": {"input": cut.input, "output": cut.output,
                "upsampling": f"bilinear (align_corners) to {size}x{size} inside the model",
                "argmax_in_model": cut.labels},
        "quantization": mode,
        "recipe": recipe,
        "calibration": calibration,
        "input": {"name": info["input"]["name"], "size": size, "dtype": info["input"]["dtype"],
                  "color": "RGB", "mean": MEAN, "std": STD, "range": [0, 255],
                  "normalisation": "(x - 127.5) / 127.5 on RGB, letterboxed (longest side to size, "
                                   "padded with 128)",
                  "quantization": info["input"]["quantization"]},
        "output": {"name": info["output"]["name"], "kind": seg.output_kind, "dtype": info["output"]["dtype"],
                   "shape": info["output"]["shape"]},
        "labels": list(LABELS),
        "converter": {"tensorflow": tf.__version__, "numpy": np.__version__,
                      "pibokeh": _version(), "python": platform.python_version()},
        "validation": validation,
    }


def write(model: Path, card: dict[str, Any]) -> Path:
    path = card_path(model)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(card, indent=2) + "\n")
    return path


def _version() -> str:
    try:
        return metadata.version("pibokeh")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"
