#!/usr/bin/env python3
"""The fast models, measured: which DeepLab shape to run on a Pi, and the 1080p target.

The matrix: depth 1.0 and 0.5 x output stride 8 and 16 x 513x513 and the frame shapes 513x289
(16:9) and 513x385 (4:3), all int8 (the converter's auto recipe and defaults), each converted
once with `pibokeh-convert ... --eval` into --workdir and kept there. For every model:

  - size, and compute (multiply-accumulates per frame) from `pibokeh info --json`;
  - mIoU and person IoU on the labelled images from the converter's validation (`--eval-crop auto`:
    a frame-shaped model is judged on the images centre-cropped to its aspect), and the float
    stride-8 513x513 model's on the same images (the cost of the fast shape);
  - inference latency with ai_edge_litert and tflite_runtime at 1, 2 and 4 threads: one process per
    interpreter (running both in one process can abort), every model and thread count interleaved
    round by round, so a busy machine slows them alike -- read the ratios, not the milliseconds;
  - end to end at 1920x1080 (and 1440x1080 for 4:3) against the reference pipeline
    (scripts/bench_reference.py: the TF1 graph at longest side 513, exact blur), all models and
    the reference interleaved frame by frame in one run: speedup and mask agreement;
  - an *estimate* for a Raspberry Pi 4 and 5, scaled from a published figure by compute (below).

    .venv-full/bin/python scripts/bench_models.py                 # a report; --json for the data
    PIBOKEH_EDGE_PYTHON=.venv-edge/bin/python ...                 # time in the edge-only venv

scripts/bench_docs.py calls `measure` and puts `section` into docs/BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import bench_reference as ref  # noqa: E402  (shared data paths, the converter command)

GRAPHS = {"1.0": ref.SHARED / "frozen_graphs" / "deeplabv3_mnv2_dm10_pascal_weightquant.pb",
          "0.5": ref.SHARED / "frozen_graphs" / "deeplabv3_mnv2_dm05_pascal.pb"}
STRIDES = (8, 16)
SHAPES = ((513, 513), (513, 289), (513, 385))  # (width, height)
BACKENDS = ("ai_edge_litert", "tflite_runtime")
THREADS = (1, 2, 4)
RECOMMENDED = ("1.0", 16, (513, 289))  # the target's model: depth 1.0, stride 16, 16:9, int8
FRAME_SIZES = {(513, 289): (1920, 1080), (513, 385): (1440, 1080), (513, 513): (1920, 1080)}
TARGET_SPEEDUP, TARGET_AGREEMENT, TARGET_MIOU_DROP = 15.0, 0.97, 2.5

# The published figure the Pi estimates are scaled from (not measured here): Alasdair Allan,
# "Benchmarking TensorFlow and TensorFlow Lite on Raspberry Pi 5" (hackster.io, 2024) and
# github.com/aallan/benchmarking-ml-on-the-edge (README table; benchmark_tf_lite.py): the
# repository's quantized SSD MobileNet v1 0.75 depth, 300x300 COCO model
# (ssd_mobilenet_v1/tflite_for_rpi/mobilenet_v1.tflite, uint8) under TensorFlow Lite with 4 threads
# takes 82.7 ms on a Raspberry Pi 4 and 16.9 ms on a Raspberry Pi 5. Its compute, counted from
# that file by pibokeh.compute.graph_compute (the counter `pibokeh info` uses): 0.728 GMAC.
PUBLISHED = {
    "source": "Alasdair Allan, Benchmarking TensorFlow and TensorFlow Lite on Raspberry Pi 5 (hackster.io, "
              "2024), https://github.com/aallan/benchmarking-ml-on-the-edge",
    "model": "SSD MobileNet v1 0.75 depth, 300x300, uint8-quantized (COCO)",
    "file": "ssd_mobilenet_v1/tflite_for_rpi/mobilenet_v1.tflite",
    "runtime": "TensorFlow Lite, 4 threads",
    "gmacs": 0.728,
    "ms": {"Raspberry Pi 4": 82.7, "Raspberry Pi 5": 16.9},
}


def log(message: str) -> None:
    print(f"bench_models: {message}", file=sys.stderr, flush=True)


# ---- the matrix -----------------------------------------------------------------------------------

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
    command = ref.converter()
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
            proc = subprocess.run(command + [spec["graph"], "-o", str(out), "--quant", "int8", "--output-stride", str(spec["stride"]),
                                             "--size", f"{spec['width']}x{spec['height']}", "--calib", str(calib),
                                             "--calib-count", str(calib_count), "--eval", str(voc), "--quiet"],
                                  capture_output=True, text=True)
            if proc.returncode != 0 or not out.is_file():
                failed.append({"model": out.name, "reason": (proc.stderr.strip().splitlines() or ["failed"])[-1]})
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
    """The converter's validation, as the table needs it."""
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


def compute(edge_python: str, paths: Sequence[str]) -> dict[str, dict[str, Any]]:
    """`pibokeh info --json` of every model (one object per line): MACs, output stride, input."""
    cmd = [edge_python, "-m", "pibokeh", "info", "--json", "--threads", "1"]
    for path in paths:
        cmd += ["--model", path]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"bench_models: pibokeh info failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return {row["model"]: {"macs": row["macs"], "output_stride": row["output_stride"],
                           "output_kind": row["output_kind"], "input": row["input"]["shape"][1:3]} for row in rows}


# ---- latency --------------------------------------------------------------------------------------

def latency(edge_python: str, paths: Sequence[str], backends: Sequence[str], threads: Sequence[int],
            rounds: int, published: Path | None = None) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Inference latency per model, backend and thread count: one worker process per backend.
    With `published` (the file the Pi estimate is scaled from), that one is timed in the same rounds."""
    runs, failed = [], []
    for backend in backends:
        log(f"latency with {backend}: {len(paths)} models x threads {','.join(map(str, threads))}, {rounds} rounds")
        extra = ["--published", str(published)] if published else []
        proc = subprocess.run([edge_python, str(Path(__file__).resolve()), "latency-worker", "--backend", backend,
                               "--threads", ",".join(map(str, threads)), "--rounds", str(rounds), *extra, *paths],
                              capture_output=True, text=True)
        if proc.returncode != 0 or not proc.stdout.strip():
            failed.append({"model": f"all ({backend})",
                           "reason": (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]})
            continue
        runs += json.loads(proc.stdout)["runs"]
    return runs, failed


def latency_worker(args: argparse.Namespace) -> int:
    """Run in the edge environment: every (model, threads) interpreter loaded at once, then `rounds`
    rounds each timing one inference of every one in turn. Prints JSON."""
    import numpy as np
    from pibokeh import bench
    from pibokeh.model.interpreters import interpreter_class
    from pibokeh.model import open_model, fit_input

    cells: list[tuple[str, int, Callable[[], Any], list[float]]] = []
    for n in (int(t) for t in args.threads.split(",")):
        for path in args.models:
            seg = open_model(path, backend=args.backend, threads=n)
            height, width = seg.input_size
            rgb, _ = fit_input(bench.synthetic_frame((width, height), 0), seg.input_size)
            cells.append((path, n, lambda seg=seg, rgb=rgb: seg.infer(rgb), []))
        if args.published:  # not a segmentation model: the bare interpreter, invoke only
            interpreter = interpreter_class(args.backend)[1](model_path=args.published, num_threads=n)
            interpreter.allocate_tensors()
            detail = interpreter.get_input_details()[0]
            interpreter.set_tensor(detail["index"], np.full(detail["shape"], 128, detail["dtype"]))
            cells.append((args.published, n, interpreter.invoke, []))
    for _, _, run, _ in cells:
        run()  # warm-up: the first invoke allocates and packs weights
    for _ in range(args.rounds):
        for _, _, run, times in cells:
            start = time.perf_counter()
            run()
            times.append((time.perf_counter() - start) * 1000.0)
    runs = [{"model": str(path), "backend": args.backend, "threads": n, "median_ms": round(float(np.median(t)), 2),
             "p90_ms": round(float(np.percentile(t, 90)), 2)} for path, n, _, t in cells]
    print(json.dumps({"rounds": args.rounds, "peak_rss_mb": bench.peak_rss_mb(), "runs": runs}))
    return 0


# ---- end to end at 1080p --------------------------------------------------------------------------

def end_to_end(paths: Sequence[str], graph: Path, video: Path, sizes: Sequence[tuple[int, int]], frames: int
               ) -> dict[str, Any]:
    """scripts/bench_reference.py with every model at once: the reference and all of them on the same
    frames, interleaved, at each size."""
    cmd = [sys.executable, str(ROOT / "scripts" / "bench_reference.py"), "--json", "--graph", str(graph),
           "--input", str(video), "--frames", str(frames), "--sizes", ",".join(f"{w}x{h}" for w, h in sizes)]
    for path in paths:
        cmd += ["--model", path]
    log(f"end to end against the reference at {', '.join(f'{w}x{h}' for w, h in sizes)}: {len(paths)} models, "
        f"{frames} frames")
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise SystemExit(f"bench_models: bench_reference failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")
    return json.loads(proc.stdout)


# ---- the Pi estimate ------------------------------------------------------------------------------

def pi_estimate(macs: int | None) -> dict[str, float]:
    """ms per frame on each Pi: the published ms per GMAC times this model's GMACs (an estimate)."""
    if not macs:
        return {}
    gmacs = macs / 1e9
    return {pi: round(ms / PUBLISHED["gmacs"] * gmacs, 1) for pi, ms in PUBLISHED["ms"].items()}


def which_model(rows: list[dict[str, Any]]) -> str:
    """The one-line answer: per Pi, the most accurate frame-shaped depth and stride (mIoU on the
    labelled images, averaged over both shapes: every depth is judged on the same crops) whose slower
    shape is estimated at 10 inferences a second or more, else the fastest."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in rows:
        if r["width"] != r["height"] and r.get("pi"):
            groups.setdefault((r["depth"], r["stride"]), []).append(r)
    answers = []
    for pi in PUBLISHED["ms"]:
        if not groups:
            break
        est = {key: max(r["pi"][pi] for r in group) for key, group in groups.items()}
        acc = {key: sum(r["accuracy"]["miou"] for r in group) / len(group) for key, group in groups.items()}
        fast_enough = [key for key in groups if est[key] <= 100.0]
        depth, stride = max(fast_enough, key=acc.get) if fast_enough else min(groups, key=est.get)
        answers.append(f"**{pi}**: depth {depth}, output stride {stride}, the frame's shape "
                       f"(~{1000 / est[(depth, stride)]:.0f} inferences/s estimated)")
    return "; ".join(answers)


# ---- putting it together --------------------------------------------------------------------------

def measure(workdir: Path, edge_python: str, graphs: dict[str, Path] | None = None,
            strides: Sequence[int] = STRIDES, shapes: Sequence[tuple[int, int]] = SHAPES,
            calib: Path | None = None, voc: Path | None = None, video: Path | None = None,
            reference_graph: Path | None = None, backends: Sequence[str] = BACKENDS,
            threads: Sequence[int] = THREADS, rounds: int = 10, frames: int = 10, calib_count: int = 100,
            only: Sequence[tuple[str, int, tuple[int, int]]] | None = None,
            published: Path | None = None) -> dict[str, Any]:
    """Everything the page and the README need, as one dict (see the module docstring)."""
    graphs = graphs or GRAPHS
    calib, voc, video = calib or ref.SHARED / "calib", voc or ref.SHARED / "voc", video or ref.VIDEO
    reference_graph = reference_graph or ref.REFERENCE_GRAPH
    made, failed = convert(matrix(graphs, strides, shapes, only), workdir, calib, voc, calib_count)
    if not made:
        return {"models": [], "failed": failed}
    paths = [m["path"] for m in made]
    info = compute(edge_python, paths)
    runs, lat_failed = latency(edge_python, paths, backends, threads, rounds, published)
    sizes = sorted({FRAME_SIZES.get((m["width"], m["height"]), (1920, 1080)) for m in made}, reverse=True)
    e2e = end_to_end(paths, reference_graph, video, sizes, frames)
    rows = []
    for m in made:
        comparisons = {tuple(c["size"]): c for c in e2e["comparisons"] if c["model"] == m["path"]}
        natural = comparisons.get(FRAME_SIZES.get((m["width"], m["height"]), (1920, 1080)))
        row = {key: m[key] for key in ("depth", "stride", "width", "height", "name", "path")}
        row.update({"size_mb": round(Path(m["path"]).stat().st_size / 1e6, 2), **info.get(m["path"], {}),
                    "accuracy": accuracy(m["card"]),
                    "latency": {f"{r['backend']} {r['threads']}": r["median_ms"] for r in runs if r["model"] == m["path"]},
                    "e2e": {f"{w}x{h}": _e2e_summary(c) for (w, h), c in comparisons.items()},
                    "frames": f"{natural['size'][0]}x{natural['size'][1]}" if natural else None})
        row["pi"] = pi_estimate(row.get("macs"))
        rows.append(row)
    base = next((r for r in rows if (r["depth"], r["stride"], r["width"], r["height"]) == ("1.0", 8, 513, 513)), None)
    for row in rows:
        default = base["latency"] if base else {}
        row["latency_ratio"] = {k: round(v / default[k], 3) for k, v in row["latency"].items() if default.get(k)}
    here = {f"{r['backend']} {r['threads']}": r["median_ms"] for r in runs if published and r["model"] == str(published)}
    return {"models": rows, "failed": failed + lat_failed, "published": PUBLISHED, "published_here": here,
            "backends": list(backends),
            "threads": list(threads), "rounds": rounds, "host": e2e["host"], "reference": _reference_summary(e2e),
            "comparisons": e2e["comparisons"], "which_model": which_model(rows), "targets": targets(rows)}


def _e2e_summary(c: dict[str, Any]) -> dict[str, Any]:
    return {"speedup": c["speedup"]["end_to_end"], "inference_speedup": c["speedup"]["inference"],
            "ms": c["default"]["end_to_end"]["median_ms"], "reference_ms": c["reference"]["end_to_end"]["median_ms"],
            "agreement": c["mask_agreement"], "iou": c["mask_iou"], "frames": c["frames"]}


def _reference_summary(e2e: dict[str, Any]) -> dict[str, Any]:
    return {"graph": Path(e2e["reference_graph"]).name, "tensorflow": e2e["tensorflow"], "threads": e2e["threads"],
            "backend": e2e["backend"]}


def recommended(rows: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    depth, stride, (width, height) = RECOMMENDED
    return next((r for r in rows if (r["depth"], r["stride"], r["width"], r["height"]) == (depth, stride, width, height)),
                None)


def targets(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's three figures for the recommended model, each with what was measured."""
    rec = recommended(rows)
    if rec is None or not rec["frames"]:
        return []
    e2e = rec["e2e"][rec["frames"]]
    drop = rec["accuracy"]["miou_drop_points"]
    return [
        {"target": f"end to end vs the reference, {rec['frames']}", "goal": f">= {TARGET_SPEEDUP:.0f}x",
         "measured": f"{e2e['speedup']:.1f}x", "met": e2e["speedup"] >= TARGET_SPEEDUP},
        {"target": f"mask agreement with the reference, {rec['frames']}", "goal": f">= {100 * TARGET_AGREEMENT:.0f} %",
         "measured": f"{100 * e2e['agreement']:.2f} % (foreground IoU {e2e['iou']:.3f})",
         "met": e2e["agreement"] >= TARGET_AGREEMENT},
        {"target": "mIoU vs the float stride-8 513x513 model, same images", "goal": f"within {TARGET_MIOU_DROP} points",
         "measured": f"{rec['accuracy']['miou']:.3f} vs {rec['accuracy']['baseline_miou']:.3f} ({-drop:+.1f} points)",
         "met": drop <= TARGET_MIOU_DROP},
    ]


# ---- tables ---------------------------------------------------------------------------------------

def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    return (["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
            + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def _acc(row: dict[str, Any]) -> tuple[str, str]:
    a = row["accuracy"]
    return (f"{a['miou']:.3f} ({-a['miou_drop_points']:+.1f})", f"{a['person_iou']:.3f}")


def _agreement(row: dict[str, Any]) -> str:
    e = row["e2e"].get(row["frames"] or "")
    return f"{100 * e['agreement']:.1f} % ({row['frames']})" if e else "–"


def _speedup(row: dict[str, Any]) -> str:
    e = row["e2e"].get(row["frames"] or "")
    return f"{e['speedup']:.1f}x" if e else "–"


def _ms(row: dict[str, Any], column: str) -> str:
    ms = row["latency"].get(column)
    return f"{ms:.1f}" if ms else "–"


def _ratio(row: dict[str, Any], column: str) -> str:
    ratio = row["latency_ratio"].get(column)
    return f"{ratio:.2f}" if ratio else "–"


def _pi(row: dict[str, Any], pi: str) -> str:
    ms = row.get("pi", {}).get(pi)
    return f"~{ms:.0f}" if ms else "–"


def section(data: dict[str, Any], heading: str = "##") -> str:
    """The fast-model section of docs/BENCHMARKS.md."""
    rows = data["models"]
    if not rows:
        reasons = "; ".join(f"{f['model']}: {f['reason']}" for f in data.get("failed", [])) or "nothing converted"
        return f"{heading} Fast models\n\nNot measured ({reasons}).\n"
    cols = [f"{b} {t}" for b in data["backends"] for t in data["threads"]]
    parts = [f"{heading} Fast models: depth x output stride x input shape", "",
             "Every model is int8 (the converter's `auto` recipe, 100 calibration images, scores output), converted "
             "with `pibokeh-convert --quant int8 --output-stride S --size WxH --eval` by "
             "`scripts/bench_models.py` (kept in its workdir). **mIoU** and person IoU: the converter's validation on "
             f"the {rows[0]['accuracy']['images']} labelled images; a frame-shaped model is judged on them centre-cropped to "
             "its aspect (`--eval-crop auto`, all 31 for 16:9, 21 for 4:3), and (Δ) is against the float32 "
             "stride-8 513x513 model of the same graph **on the same images**. **Latency**: inference only "
             "(input tensor, invoke, class map), median of "
             f"{data['rounds']} rounds, every model and thread count loaded at once and timed in turn, one process "
             "per interpreter; the ratio is to the depth-1.0 stride-8 513x513 model with the same interpreter and "
             "threads. This machine has 2 cores: the 4-thread column shows what oversubscribing them costs, not what "
             "a 4-core Pi gains. **End to end**: `scripts/bench_reference.py`, the reference and all models on the "
             "same frames of the shared video, interleaved, at 1920x1080 (4:3 models at 1440x1080); agreement = "
             "pixels of the 1080p mask equal to the reference's. **Pi**: an estimate, see below.", ""]
    lite2 = "ai_edge_litert 2"
    header = ["model", "GMAC", "MB", "mIoU (Δ)", "person IoU", f"{lite2} thr ms", "ratio", "1080p e2e vs reference",
              "1080p agreement", "Pi 4 ms (est.)", "Pi 5 ms (est.)"]
    table_rows = []
    for r in rows:
        miou, person = _acc(r)
        bold = "**" if recommended([r]) else ""
        table_rows.append([f"{bold}{label(r)}{bold}", f"{r['macs'] / 1e9:.2f}" if r.get("macs") else "?",
                           f"{r['size_mb']:.2f}", miou, person, _ms(r, lite2), _ratio(r, lite2), _speedup(r), _agreement(r),
                           _pi(r, "Raspberry Pi 4"), _pi(r, "Raspberry Pi 5")])
    parts += _table(header, table_rows) + [""]
    parts += ["Inference latency, median ms (ratio to the depth-1.0 stride-8 513x513 model, same column):", ""]
    parts += _table(["model"] + [f"{c} thr" for c in cols],
                    [[label(r)] + [f"{_ms(r, c)} ({_ratio(r, c)})" if c in r["latency"] else "–" for c in cols]
                     for r in rows]) + [""]
    for f in data.get("failed", []):
        parts.append(f"- not measured: {f['model']} ({f['reason']})")
    rec = recommended(rows)
    if rec:
        parts += [""] + stage_table(data, rec)
    parts += ["", f"{heading}# Raspberry Pi 4 and 5: an estimate, not a measurement", "", published_note(), ""]
    check = cross_check(data)
    if check:
        parts += [check, ""]
    parts += [
              f"**Which model for which Pi:** {data['which_model']}.", ""]
    return "\n".join(parts)


def published_note() -> str:
    """Where the Pi columns come from: the published figure, the method and its caveats."""
    p = PUBLISHED
    return (f"No Pi was available here. The Pi figures scale a published one by compute: **{p['source']}** "
            f"reports {p['model']} (`{p['file']}` in that repository) under {p['runtime']} at "
            + " and ".join(f"{ms} ms on a {pi}" for pi, ms in p["ms"].items())
            + f"; that file is {p['gmacs']} GMAC by the same counter as `pibokeh info` (convolutions, depthwise "
            "and fully connected layers of the TFLite graph). Method: ms per GMAC from the published figure ("
            + ", ".join(f"{pi}: {ms / p['gmacs']:.1f} ms/GMAC" for pi, ms in p["ms"].items())
            + ") × the model's GMAC. Caveats: 4 threads on the Pi's 4 cores (the models here were timed with 2 "
            "on 2); a uint8 model under TensorFlow's own TFLite interpreter there, int8 with XNNPACK in "
            "`ai_edge_litert` here (`tflite_runtime` 2.14 has no XNNPACK for int8: on a Pi it would be several "
            "times slower than this); DeepLab's larger feature maps move more memory per MAC than a 300x300 SSD; "
            "and what the counter leaves out (the float first layers of the int8 recipe, the upsampling to the "
            "input size and the arg-max, the input conversion) adds a few ms. Read it as the order of magnitude "
            "and the ranking; `pibokeh bench` on the Pi gives the real figures.")


def cross_check(data: dict[str, Any]) -> str:
    """The scaling tested on this machine: ms per GMAC of the published file and of the recommended
    model, timed in the same rounds with the same interpreter and threads."""
    rec = recommended(data["models"])
    here = data.get("published_here") or {}
    column = "ai_edge_litert 2" if "ai_edge_litert 2" in here else next(iter(here), None)
    if not rec or not column or not rec.get("macs") or column not in rec["latency"]:
        return ""
    theirs = here[column] / PUBLISHED["gmacs"]
    ours = rec["latency"][column] / (rec["macs"] / 1e9)
    return (f"Checked on this machine: the published file itself, timed in the same rounds ({column} "
            f"thread{'s' if not column.endswith(' 1') else ''}), takes {here[column]:.1f} ms = {theirs:.1f} ms/GMAC; "
            f"the recommended model ({label(rec)}) {rec['latency'][column]:.1f} ms = {ours:.1f} ms/GMAC, "
            f"{ours / theirs:.2f}x the published model's cost per MAC. If a Pi shows the same ratio, its figures are "
            f"{'higher' if ours > theirs else 'lower'} than the estimate by about that factor.")


def stage_table(data: dict[str, Any], rec: dict[str, Any]) -> list[str]:
    """Where the time goes at 1080p: reference vs the recommended model, per stage."""
    size = [int(v) for v in rec["frames"].split("x")]
    c = next((c for c in data["comparisons"] if c["model"] == rec["path"] and c["size"] == size), None)
    if c is None:
        return []
    rows = []
    for stage in ref.STAGES + ("end_to_end",):
        rs = c["reference"]["stages"].get(stage, c["reference"]["end_to_end"])
        ds = c["default"]["stages"].get(stage, c["default"]["end_to_end"])
        rows.append(["**end to end**" if stage == "end_to_end" else stage, f"{rs['median_ms']:.1f}",
                     f"{ds['median_ms']:.1f}", f"{100 * ds['median_ms'] / c['default']['end_to_end']['median_ms']:.0f} %",
                     f"{c['speedup'][stage]:.2f}x"])
    return ([f"Where the time goes at {rec['frames']} ({label(rec)}, {c['frames']} frames, interleaved with "
             f"{c['models_interleaved'] - 1} other models and the reference; median ms):", ""]
            + _table(["stage", "reference", "fast model", "share", "speedup"], rows) + [""])


def readme_table(data: dict[str, Any]) -> str:
    """The short table for the README: the frame-shaped models and the default."""
    rows = [r for r in data["models"] if r["width"] != r["height"] or (r["depth"], r["stride"]) == ("1.0", 8)]
    out = []
    for r in rows:
        miou, _ = _acc(r)
        out.append([label(r), f"{r['macs'] / 1e9:.2f}" if r.get("macs") else "?", miou,
                    _ratio(r, "ai_edge_litert 2"), _speedup(r), _agreement(r),
                    _pi(r, "Raspberry Pi 4"), _pi(r, "Raspberry Pi 5")])
    return "\n".join(_table(["int8 model", "GMAC", "mIoU (Δ)", "inference vs default", "1080p e2e vs reference",
                             "1080p agreement", "Pi 4 ms (est.)", "Pi 5 ms (est.)"], out))


def _triple(text: str) -> tuple[str, int, tuple[int, int]]:
    depth, stride, shape = text.split(":")
    width, height = shape.split("x")
    return depth, int(stride), (int(width), int(height))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["latency-worker"]:
        worker = argparse.ArgumentParser(prog="bench_models.py latency-worker")
        worker.add_argument("--backend", required=True)
        worker.add_argument("--threads", default="1,2,4")
        worker.add_argument("--rounds", type=int, default=10)
        worker.add_argument("--published", default=None)
        worker.add_argument("models", nargs="+")
        return latency_worker(worker.parse_args(argv[1:]))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "pibokeh-bench-models",
                        help="converted models are kept here between runs (default: %(default)s)")
    parser.add_argument("--graph", action="append", metavar="DEPTH=PB",
                        help="a frozen graph per depth (default: 1.0 and 0.5 from ../shared/data)")
    parser.add_argument("--strides", default="8,16")
    parser.add_argument("--shapes", default="513x513,513x289,513x385", help="WxH list")
    parser.add_argument("--models", metavar="DEPTH:STRIDE:WxH,...",
                        help="just these models instead of every depth x stride x shape")
    parser.add_argument("--calib", type=Path, default=None)
    parser.add_argument("--calib-count", type=int, default=100)
    parser.add_argument("--voc", type=Path, default=None, help="labelled images for --eval")
    parser.add_argument("--video", type=Path, default=None, help="frames for the 1080p run")
    parser.add_argument("--reference-graph", type=Path, default=None)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--threads", default=",".join(map(str, THREADS)))
    parser.add_argument("--rounds", type=int, default=10, help="latency rounds (default 10)")
    parser.add_argument("--frames", type=int, default=10, help="1080p frames (default 10)")
    parser.add_argument("--published-model", type=Path, default=None, metavar="TFLITE",
                        help="the file the Pi estimate is scaled from (ssd_mobilenet_v1/tflite_for_rpi/"
                             "mobilenet_v1.tflite of aallan/benchmarking-ml-on-the-edge): timed here too, as a "
                             "check of the scaling by compute")
    parser.add_argument("--json", action="store_true", help="print the data as one JSON object")
    args = parser.parse_args(argv)
    graphs = dict(g.split("=", 1) for g in args.graph) if args.graph else None
    graphs = {k: Path(v) for k, v in graphs.items()} if graphs else None
    for path in [*(graphs or GRAPHS).values(), args.calib or ref.SHARED / "calib", args.voc or ref.SHARED / "voc",
                 args.video or ref.VIDEO, args.reference_graph or ref.REFERENCE_GRAPH]:
        if not Path(path).exists():
            print(f"bench_models: error: {path} is missing (../shared/data must be beside the repository)",
                  file=sys.stderr)
            return 2
    edge_python = os.environ.get("PIBOKEH_EDGE_PYTHON") or sys.executable
    data = measure(args.workdir, edge_python, graphs, [int(s) for s in args.strides.split(",")],
                   [tuple(int(v) for v in s.split("x")) for s in args.shapes.split(",")], args.calib, args.voc,
                   args.video, args.reference_graph, args.backends.split(","),
                   [int(t) for t in args.threads.split(",")], args.rounds, args.frames, args.calib_count,
                   [_triple(m) for m in args.models.split(",")] if args.models else None, args.published_model)
    if args.json:
        print(json.dumps(data, default=str))
    elif data["models"]:
        print(section(data), "\n\nREADME table:\n", readme_table(data), sep="\n")
    else:
        print(section(data))
    return 0 if data["models"] else 2


if __name__ == "__main__":
    sys.exit(main())
