"""Make the tiny test models of tests/models from the tiny DeepLab-shaped graph of tests/full,
with this repository's own converter, so that the runtime's tests run without ../shared:

    .venv-full/bin/python -m tests.models.make_tiny_models      # from the repository root

tiny_float.tflite (+ its card tiny_float.json): float32 input, scores [1,65,65,21], as converted
models come; tiny_labels.tflite: uint8 input, int8 inside, labels [1,65,65] and no card, like
Google's Coral models; tiny_wide.tflite (+ card): float32, 129x73 (16:9), for
choosing a model by the frame's aspect; tiny_logits.tflite (+ card): the same with the logits head
(`--output logits`: scores [1,37,65,21] at the network's resolution). All call red things "person"
(class 15).
tests/full/test_installed.py checks that the committed files still come out of this script.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow is first imported (tiny_graph)

from tests import helpers  # noqa: E402
from tests.full import tiny_graph  # noqa: E402

HERE = Path(__file__).resolve().parent
SIZE = "65"
WIDE = "129x73"  # 16:9 (1.77)


def convert(graph: Path, out: Path, *args: str) -> None:
    proc = helpers.run(helpers.command("pibokeh-convert") + [graph, "-o", out, "-q", *args])
    if proc.returncode != 0:
        raise SystemExit(f"make_tiny_models: conversion failed:\n{proc.stderr}")


def main(folder: Path = HERE) -> list[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        graph = tiny_graph.build_flat(tmp / "tiny_deeplab.pb")
        photos = tmp / "photos"
        photos.mkdir()
        helpers.red_square_photos(photos)
        scores, labels, wide, logits = (folder / f"tiny_{kind}.tflite" for kind in ("float", "labels", "wide", "logits"))
        convert(graph, scores, "--quant", "float32", "--size", SIZE)
        convert(graph, labels, "--quant", "int8", "--keep-float", "none", "--output", "labels", "--calib", photos,
                "--size", SIZE)
        convert(graph, wide, "--quant", "float32", "--size", WIDE)
        convert(graph, logits, "--quant", "float32", "--size", WIDE, "--output", "logits")
    labels.with_suffix(".json").unlink()  # like a Coral model: the runtime reads it from its tensors
    for model in (scores, wide, logits):
        card_file = model.with_suffix(".json")
        card = json.loads(card_file.read_text())
        # nothing of this machine in a committed file
        card["source"] = {"path": "tests/full/tiny_graph.py", "sha256": None, "zoo": None, "url": None}
        card["converter"] = {key: "any" for key in card["converter"]}
        card_file.write_text(json.dumps(card, indent=2) + "\n")
    return [scores, scores.with_suffix(".json"), labels, wide, wide.with_suffix(".json"), logits,
            logits.with_suffix(".json")]


if __name__ == "__main__":
    for path in main():
        print(f"{path.relative_to(ROOT)}  {path.stat().st_size} bytes")
