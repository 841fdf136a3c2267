"""The model card: the sidecar `<model>.json` that tells the edge runtime (and people) what a
converted model is, where it came from, and how well it did."""
from __future__ import annotations

import json
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from pibokeh.model.card import CARD_FORMAT, MEAN, STD, card_path
from pibokeh.files import atomic_path
from pibokeh.model.labels import LABELS
from pibokeh.model import open_model

from . import shapes
from .graph import Cut
from .tfimport import tf


def build(model: Path, source: dict[str, Any], cut: Cut, size: int | shapes.Size, mode: str,
          calibration: dict[str, Any] | None, validation: dict[str, Any] | None,
          recipe: dict[str, Any] | None = None, rewrite: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything the runtime needs (input size/dtype/normalisation, output kind, labels) plus
    provenance and the validation results. `size` is (height, width); `rewrite` is what
    `stride.set_output_stride` did (None: not a MobileNetV2 graph, output stride unknown)."""
    seg = open_model(model, backend="ai_edge_litert", threads=1)
    info = seg.describe()
    height, width = shapes.hw(size)
    stride = rewrite["model"] if rewrite else None
    return {
        "format": CARD_FORMAT,
        "family": f"converted by pibokeh ({mode}, {width}x{height}"
                  + (f", output stride {stride})" if stride else ")"),
        "file": model.name,
        "size_bytes": model.stat().st_size,
        "source": source,
        "cut": {"input": cut.input, "output": cut.output,
                "upsampling": f"bilinear (align_corners) to {width}x{height} inside the model" if cut.upsample
                else "none: logits at the network's resolution (the runtime upsamples the mask)",
                "argmax_in_model": cut.labels},
        "output_stride": stride,
        "stride_rewrite": None if rewrite is None else {
            "output_stride_of_graph": rewrite["graph"], "changed": rewrite["changed"],
            "atrous_blocks_as_dilated_depthwise": rewrite["atrous_as_dilations"]},
        "quantization": mode,
        "recipe": recipe,
        "calibration": calibration,
        # size: the longest side, as the reference pipeline sizes its input ("longest side 513")
        "input": {"name": info["input"]["name"], "size": max(height, width), "width": width, "height": height,
                  "dtype": info["input"]["dtype"], "color": "RGB", "mean": MEAN, "std": STD, "range": [0, 255],
                  "normalisation": f"(x - 127.5) / 127.5 on RGB; a frame within 3 % of {width}:{height} is "
                                   "resized to fill the input, any other is letterboxed (longest side to fit, "
                                   "padded with 128)",
                  "quantization": info["input"]["quantization"]},
        "output": {"name": info["output"]["name"], "kind": seg.output_kind, "dtype": info["output"]["dtype"],
                   "shape": info["output"]["shape"]},
        "labels": list(LABELS),
        "converter": {"tensorflow": tf.__version__, "numpy": np.__version__,
                      "pibokeh": pibokeh_version(), "python": platform.python_version()},
        "validation": validation,
    }


def write(model: Path, card: dict[str, Any]) -> Path:
    path = card_path(model)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(card, indent=2) + "\n")
    return path


def pibokeh_version() -> str:
    try:
        return metadata.version("pibokeh")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"
