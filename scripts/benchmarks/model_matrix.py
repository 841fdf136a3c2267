"""The fast-model matrix: depth x output stride x input shape, each model converted once with
`pibokeh-convert --eval` (kept in a workdir), its accuracy from the converter's validation, its compute
from `pibokeh info`, its inference latency from latency_worker processes (one per interpreter)."""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any, Sequence

from . import inputs, tools

RECOMMENDED = ("1.0", 16, (513, 289))  # the target's model: depth 1.0, stride 16, 16:9, int8
log = tools.logger("fast_models")


def model_name(depth: str, stride: int, shape: tuple[int, int]) -> str:
    return f"mnv2_dm{depth.replace('.', '')}_os{stride}_{shape[0]}x{shape[1]}_int8"


def label(spec: dict[str, Any]) -> str:
    """'depth 1.0, stride 16, 513x289' for the tables."""
    return f"depth {spec['depth']}, stride {spec['stride']}, {spec['width']}x{spec['height']}"


def matrix(graphs: dict[str, Path], strides: Sequence[int], shapes: Sequence[tuple[int, int]],
           only: Sequence[tuple[str, int, tuple[int, int]]] | None = None) -> list[dict[str, Any]]:
    """Every depth x stride x shape, or just the (depth, stride, shape) triples of `only`."""
    combos = only or [(depth, stride, shape) for depth in graphs for stride in strides for shape in shapes]
    return [{"depth": depth, "stride": stride, "width": shape[0], "height": shape[1], "graph": str(graphs[depth]),
             "name": model_name(depth, stride, shape)} for depth, stride, shape in combos]


def convert(specs: list[dict[str, Any]], workdir: Path, calib: Path, voc: Path, calib_count: int
            ) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Each model converted with `pibokeh-convert --eval` into `workdir`, unless it is there already
    with its validation (a second run converts nothing)."""
    command = tools.converter()
    if command is None:
        return [], [{"model": "the fast models", "reason": "pibokeh-convert is not installed"}]
    workdir.mkdir(parents=True, exist_ok=True)
    made, failed = [], []
    for spec in specs:
        out = workdir / f"{spec['name']}.tflite"
        card = out.with_suffix(".json")
        if not (out.is_file() and _is_converted(card, spec)):
            log(f"converting {out.name} (with --eval: about a minute or two)")
            start = time.perf_counter()
            proc = subprocess.run(command + [spec["graph"], "-o", str(out), "--quant", "int8", "--output-stride",
                                             str(spec["stride"]), "--size", f"{spec['width']}x{spec['height']}",
                                             "--calib", str(calib), "--calib-count", str(calib_count),
                                             "--eval", str(voc), "--quiet"], capture_output=True, text=True)
            if proc.returncode != 0 or not out.is_file():
                failed.append({"model": out.name, "reason": tools.last_line(proc)})
                continue
            log(f"  {out.name}: {time.perf_counter() - start:.0f} s")
        made.append({**spec, "path": str(out), "card": json.loads(card.read_text())})
    return made, failed


def _is_converted(card: Path, spec: dict[str, Any]) -> bool:
    """A card of this very model (shape, stride, scores output), validated."""
    if not card.is_file():
        return False
    c = json.loads(card.read_text())
    return ("validation" in c and c.get("output_stride") == spec["stride"] and c["output"]["kind"] == "scores"
            and (c["input"]["width"], c["input"]["height"]) == (spec["width"], spec["height"]))


def accuracy(card: dict[str, Any]) -> dict[str, Any]:
    """The converter's validation, as the tables need it."""
    v = card["validation"]
    base = v.get("baseline")
    crop = v.get("cropped_to_aspect")
    return {"miou": v["model"]["miou"], "person_iou": v["model"]["person_iou"], "images": v["images"],
            "cropped": f"{crop['cropped']} of {crop['of']} centre-cropped to {crop['aspect']}" if crop else None,
            "float_same_shape_miou": v["reference"]["miou"], "quant_agreement": v["agreement"],
            # the float stride-8 513x513 model on the same images; the baseline model itself has none
            "baseline_miou": base["miou"] if base else v["reference"]["miou"],
            "baseline_person_iou": base["person_iou"] if base else v["reference"]["person_iou"],
            "miou_drop_points": base["miou_drop_points"] if base else v["miou_drop_points"],
            "baseline_agreement": base["agreement"] if base else v["agreement"]}


def compute(python: str, paths: Sequence[str]) -> dict[str, dict[str, Any]]:
    """`pibokeh info --json` of every model (one object per line): MACs, output stride, input."""
    cmd = [python, "-m", "pibokeh", "info", "--json", "--threads", "1"]
    for path in paths:
        cmd += ["--model", path]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"pibokeh info failed: {tools.last_line(proc)}")
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return {row["model"]: {"macs": row["macs"], "output_stride": row["output_stride"],
                           "output_kind": row["output_kind"], "input": row["input"]["shape"][1:3]} for row in rows}


def latency(python: str, paths: Sequence[str], backends: Sequence[str], threads: Sequence[int], rounds: int,
            published: Path | None = None) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Inference latency per model, interpreter and thread count: one latency_worker per interpreter.
    With `published` (the file the Pi estimate is scaled from), that one is timed in the same rounds."""
    runs, failed = [], []
    for backend in backends:
        log(f"latency with {backend}: {len(paths)} models x threads {','.join(map(str, threads))}, {rounds} rounds")
        extra = ["--published", str(published)] if published else []
        proc = subprocess.run([python, "-m", "scripts.benchmarks.latency_worker", "--backend", backend,
                               "--threads", ",".join(map(str, threads)), "--rounds", str(rounds), *extra, *paths],
                              capture_output=True, text=True, cwd=inputs.ROOT)
        if proc.returncode != 0 or not proc.stdout.strip():
            failed.append({"model": f"all ({backend})", "reason": tools.last_line(proc)})
            continue
        runs += json.loads(proc.stdout)["runs"]
    return runs, failed


def recommended(rows: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The row of the RECOMMENDED model, if measured."""
    depth, stride, (width, height) = RECOMMENDED
    return next((r for r in rows if (r["depth"], r["stride"], r["width"], r["height"]) == (depth, stride, width, height)),
                None)
