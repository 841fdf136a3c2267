"""The fast models, measured: which DeepLab shape to run on a Pi, and the 1080p target.

The matrix: depth 1.0 and 0.5 x output stride 8 and 16 x 513x513 and the frame shapes 513x289
(16:9) and 513x385 (4:3), all int8 (the converter's auto recipe and defaults), each converted
once with `pibokeh-convert ... --eval` into --workdir and kept there. For every model:

  - size, and compute (multiply-accumulates per frame) from `pibokeh info --json`;
  - mIoU and person IoU on the labelled images from the converter's validation (`--eval-crop auto`:
    a frame-shaped model is judged on the images centre-cropped to its aspect), and the float
    stride-8 513x513 model's on the same images (the cost of the fast shape);
  - inference latency with ai_edge_litert and tflite_runtime at 1, 2 and 4 threads (latency_worker:
    one process per interpreter, every model and thread count interleaved round by round, so a busy
    machine slows them alike -- read the ratios, not the milliseconds);
  - end to end at 1920x1080 (and 1440x1080 for 4:3) against the reference pipeline (reference.py),
    all models and the reference interleaved frame by frame in one run: speedup and mask agreement;
  - an *estimate* for a Raspberry Pi 4 and 5, scaled from a published figure by compute (pi_estimate).

Needs the full environment; $PIBOKEH_EDGE_PYTHON (the edge venv) times the models where a Pi's
runtime runs. --readme prints the README's short table instead of the section.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Sequence

from pibokeh.chain import STAGES
from pibokeh.errors import InputError

from . import cli, inputs, reference, tools
from .markdown import count, met, paragraphs, pct, size, table
from .model_matrix import accuracy, compute, convert, label, latency, matrix, recommended
from .pi_estimate import PUBLISHED, cross_check, pi_estimate, published_note, which_model
from .quantization import WORKDIR

STRIDES = (8, 16)
SHAPES = ((513, 513), (513, 289), (513, 385))  # (width, height)
BACKENDS = ("ai_edge_litert", "tflite_runtime")
THREADS = (1, 2, 4)
FRAME_SIZES = {(513, 289): (1920, 1080), (513, 385): (1440, 1080), (513, 513): (1920, 1080)}
TARGET_SPEEDUP, TARGET_AGREEMENT, TARGET_MIOU_DROP = 15.0, 0.97, 2.5
log = tools.logger("fast_models")


# ---- putting it together --------------------------------------------------------------------------

def measure(workdir: Path = WORKDIR, graphs: dict[str, Path] | None = None, strides: Sequence[int] = STRIDES,
            shapes: Sequence[tuple[int, int]] = SHAPES, calib: Path = inputs.CALIB, voc: Path = inputs.VOC,
            video: Path = inputs.VIDEO, reference_graph: Path = inputs.REFERENCE_GRAPH,
            backends: Sequence[str] = BACKENDS, threads: Sequence[int] = THREADS, rounds: int = 10, frames: int = 10,
            calib_count: int = 100, only: Sequence[tuple[str, int, tuple[int, int]]] | None = None,
            published: Path | None = None) -> dict[str, Any]:
    """Everything the section and the README table need, as one dict (see the module docstring)."""
    graphs = graphs or inputs.GRAPHS
    inputs.require(*graphs.values(), calib, voc, video, reference_graph)
    made, failed = convert(matrix(graphs, strides, shapes, only), workdir, calib, voc, calib_count)
    if not made:
        return {"models": [], "failed": failed}
    paths = [m["path"] for m in made]
    python = tools.edge_python()
    info = compute(python, paths)
    runs, lat_failed = latency(python, paths, backends, threads, rounds, published)
    sizes = sorted({FRAME_SIZES.get((m["width"], m["height"]), (1920, 1080)) for m in made}, reverse=True)
    log(f"end to end against the reference at {', '.join(map(size, sizes))}: {len(paths)} models, {frames} frames")
    e2e = reference.measure([Path(p) for p in paths], reference_graph, video, sizes, frames, voc=None)
    rows = []
    for m in made:
        comparisons = {tuple(c["size"]): c for c in e2e["comparisons"] if c["model"] == m["path"]}
        natural = comparisons.get(FRAME_SIZES.get((m["width"], m["height"]), (1920, 1080)))
        row = {key: m[key] for key in ("depth", "stride", "width", "height", "name", "path")}
        row.update({"size_mb": round(Path(m["path"]).stat().st_size / 1e6, 2), **info.get(m["path"], {}),
                    "accuracy": accuracy(m["card"]),
                    "latency": {f"{r['backend']} {r['threads']}": r["median_ms"] for r in runs if r["model"] == m["path"]},
                    "e2e": {f"{w}x{h}": _e2e_summary(c) for (w, h), c in comparisons.items()},
                    "frames": size(natural["size"]) if natural else None})
        row["pi"] = pi_estimate(row.get("macs"))
        rows.append(row)
    base = next((r for r in rows if (r["depth"], r["stride"], r["width"], r["height"]) == ("1.0", 8, 513, 513)), None)
    for row in rows:
        default = base["latency"] if base else {}
        row["latency_ratio"] = {k: round(v / default[k], 3) for k, v in row["latency"].items() if default.get(k)}
    here = {f"{r['backend']} {r['threads']}": r["median_ms"] for r in runs if published and r["model"] == str(published)}
    return {"models": rows, "failed": failed + lat_failed, "published": PUBLISHED, "published_here": here,
            "backends": list(backends), "threads": list(threads), "rounds": rounds,
            "reference": {"graph": Path(e2e["reference_graph"]).name, "tensorflow": e2e["tensorflow"],
                          "threads": e2e["threads"], "backend": e2e["backend"]},
            "comparisons": e2e["comparisons"], "which_model": which_model(rows), "targets": targets(rows)}


def _e2e_summary(c: dict[str, Any]) -> dict[str, Any]:
    return {"speedup": c["speedup"]["end_to_end"], "inference_speedup": c["speedup"]["inference"],
            "ms": c["default"]["end_to_end"]["median_ms"], "reference_ms": c["reference"]["end_to_end"]["median_ms"],
            "agreement": c["mask_agreement"], "iou": c["mask_iou"], "frames": c["frames"]}


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
        {"target": f"mask agreement with the reference, {rec['frames']}", "goal": f">= {pct(TARGET_AGREEMENT, 0)}",
         "measured": f"{pct(e2e['agreement'], 2)} (foreground IoU {e2e['iou']:.3f})", "met": e2e["agreement"] >= TARGET_AGREEMENT},
        {"target": "mIoU vs the float stride-8 513x513 model, same images", "goal": f"within {TARGET_MIOU_DROP} points",
         "measured": f"{rec['accuracy']['miou']:.3f} vs {rec['accuracy']['baseline_miou']:.3f} ({-drop:+.1f} points)",
         "met": drop <= TARGET_MIOU_DROP},
    ]


# ---- the section ----------------------------------------------------------------------------------

def _ms(row: dict[str, Any], column: str) -> str:
    ms = row["latency"].get(column)
    return f"{ms:.1f}" if ms else "–"


def _ratio(row: dict[str, Any], column: str) -> str:
    ratio = row["latency_ratio"].get(column)
    return f"{ratio:.2f}" if ratio else "–"


def _pi(row: dict[str, Any], pi: str) -> str:
    ms = row.get("pi", {}).get(pi)
    return f"~{ms:.0f}" if ms else "–"


def _e2e(row: dict[str, Any]) -> dict[str, Any] | None:
    return row["e2e"].get(row["frames"] or "")


def _miou(row: dict[str, Any]) -> str:
    a = row["accuracy"]
    return f"{a['miou']:.3f} ({-a['miou_drop_points']:+.1f})"


def _gmac(row: dict[str, Any]) -> str:
    return f"{row['macs'] / 1e9:.2f}" if row.get("macs") else "?"


def _method(data: dict[str, Any]) -> str:
    return ("Every model is int8 (the converter's `auto` recipe, 100 calibration images, scores output), converted "
            "with `pibokeh-convert --quant int8 --output-stride S --size WxH --eval` by "
            "`python -m scripts.benchmarks.fast_models` (kept in its workdir). **mIoU** and person IoU: the converter's "
            f"validation on the {data['models'][0]['accuracy']['images']} labelled images; a frame-shaped model is judged "
            "on them centre-cropped to its aspect (`--eval-crop auto`, all 31 for 16:9, 21 for 4:3), and (Δ) is against "
            "the float32 stride-8 513x513 model of the same graph **on the same images**. **Latency**: inference only "
            f"(input tensor, invoke, class map), median of {data['rounds']} rounds, every model and thread count loaded "
            "at once and timed in turn, one process per interpreter; the ratio is to the depth-1.0 stride-8 513x513 "
            "model with the same interpreter and threads. This machine has 2 cores: the 4-thread column shows what "
            "oversubscribing them costs, not what a 4-core Pi gains. **End to end**: the reference and all models on "
            "the same frames of the shared video, interleaved, at 1920x1080 (4:3 models at 1440x1080); agreement = "
            "pixels of the 1080p mask equal to the reference's. **Pi**: an estimate, see below.")


def _targets(data: dict[str, Any]) -> str:
    rec = recommended(data["models"])
    if not data.get("targets") or rec is None:
        return ""
    return table(["target", "goal", "measured", ""], [[f"fast model ({label(rec)}, int8): {t['target']}", t["goal"],
                                                       t["measured"], met(t["met"])] for t in data["targets"]])


def _main_table(data: dict[str, Any]) -> str:
    lite2 = "ai_edge_litert 2"
    rows = []
    for r in data["models"]:
        bold = "**" if recommended([r]) else ""
        e2e = _e2e(r)
        rows.append([f"{bold}{label(r)}{bold}", _gmac(r), f"{r['size_mb']:.2f}", _miou(r), f"{r['accuracy']['person_iou']:.3f}",
                     _ms(r, lite2), _ratio(r, lite2), f"{e2e['speedup']:.1f}x" if e2e else "–",
                     f"{pct(e2e['agreement'], 1)} ({r['frames']})" if e2e else "–",
                     _pi(r, "Raspberry Pi 4"), _pi(r, "Raspberry Pi 5")])
    return table(["model", "GMAC", "MB", "mIoU (Δ)", "person IoU", f"{lite2} thr ms", "ratio", "1080p e2e vs reference",
                  "1080p agreement", "Pi 4 ms (est.)", "Pi 5 ms (est.)"], rows)


def _latency_table(data: dict[str, Any]) -> str:
    cols = [f"{b} {t}" for b in data["backends"] for t in data["threads"]]
    rows = [[label(r)] + [f"{_ms(r, c)} ({_ratio(r, c)})" if c in r["latency"] else "–" for c in cols]
            for r in data["models"]]
    return ("Inference latency, median ms (ratio to the depth-1.0 stride-8 513x513 model, same column):\n\n"
            + table(["model"] + [f"{c} thr" for c in cols], rows))


def _stage_table(data: dict[str, Any]) -> str:
    """Where the time goes at 1080p: reference vs the recommended model, per stage."""
    rec = recommended(data["models"])
    wh = [int(v) for v in rec["frames"].split("x")] if rec and rec["frames"] else None
    c = next((c for c in data["comparisons"] if rec and c["model"] == rec["path"] and c["size"] == wh), None)
    if c is None:
        return ""
    rows = []
    for stage in STAGES + ("end_to_end",):
        rs = c["reference"]["stages"].get(stage, c["reference"]["end_to_end"])
        ds = c["default"]["stages"].get(stage, c["default"]["end_to_end"])
        rows.append(["**end to end**" if stage == "end_to_end" else stage, f"{rs['median_ms']:.1f}", f"{ds['median_ms']:.1f}",
                     f"{pct(ds['median_ms'] / c['default']['end_to_end']['median_ms'], 0)}", f"{c['speedup'][stage]:.2f}x"])
    return (f"Where the time goes at {rec['frames']} ({label(rec)}, {count(c['frames'], 'frame')}, interleaved with "
            f"{c['models_interleaved'] - 1} other models and the reference; median ms):\n\n"
            + table(["stage", "reference", "fast model", "share", "speedup"], rows))


def _pi_section(data: dict[str, Any]) -> str:
    rec = recommended(data["models"])
    check = cross_check(data.get("published_here") or {}, label(rec), rec["latency"], rec.get("macs")) if rec else ""
    return paragraphs("### Raspberry Pi 4 and 5: an estimate, not a measurement", published_note(), check,
                      f"**Which model for which Pi:** {data['which_model']}.")


def render(data: dict[str, Any]) -> str:
    """The fast-model section of docs/BENCHMARKS.md."""
    if not data["models"]:
        reasons = "; ".join(f"{f['model']}: {f['reason']}" for f in data.get("failed", [])) or "nothing converted"
        return f"## Fast models\n\nNot measured ({reasons}).\n"
    failed = "\n".join(f"- not measured: {f['model']} ({f['reason']})" for f in data.get("failed", []))
    return paragraphs("## Fast models: depth x output stride x input shape", _targets(data), _method(data),
                      _main_table(data), _latency_table(data), failed, _stage_table(data), _pi_section(data))


def readme_table(data: dict[str, Any]) -> str:
    """The short table for the README: the frame-shaped models and the default."""
    rows = []
    for r in data["models"]:
        if r["width"] != r["height"] or (r["depth"], r["stride"]) == ("1.0", 8):
            e2e = _e2e(r)
            rows.append([label(r), _gmac(r), _miou(r), _ratio(r, "ai_edge_litert 2"),
                         f"{e2e['speedup']:.1f}x" if e2e else "–", f"{pct(e2e['agreement'], 1)}" if e2e else "–",
                         _pi(r, "Raspberry Pi 4"), _pi(r, "Raspberry Pi 5")])
    return table(["int8 model", "GMAC", "mIoU (Δ)", "inference vs default", "1080p e2e vs reference",
                  "1080p agreement", "Pi 4 ms (est.)", "Pi 5 ms (est.)"], rows)


# ---- the command line -----------------------------------------------------------------------------

def _triple(text: str) -> tuple[str, int, tuple[int, int]]:
    depth, stride, shape = text.split(":")
    width, height = shape.split("x")
    return depth, int(stride), (int(width), int(height))


def _measure(args: Any) -> dict[str, Any]:
    graphs = {k: Path(v) for k, v in (g.split("=", 1) for g in args.graph)} if args.graph else None
    data = measure(args.workdir, graphs, [int(s) for s in args.strides.split(",")],
                   [tuple(int(v) for v in s.split("x")) for s in args.shapes.split(",")], args.calib, args.voc,
                   args.video, args.reference_graph, args.backends.split(","), [int(t) for t in args.threads.split(",")],
                   args.rounds, args.frames, args.calib_count,
                   [_triple(m) for m in args.models.split(",")] if args.models else None, args.published_model)
    if not data["models"]:
        raise InputError("no model could be converted: " + "; ".join(f"{f['model']}: {f['reason']}" for f in data["failed"]))
    return data


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    options = cli.parser("fast_models", __doc__)
    options.add_argument("--workdir", type=Path, default=WORKDIR,
                         help="converted models are kept here between runs (default: %(default)s)")
    options.add_argument("--graph", action="append", metavar="DEPTH=PB",
                         help="a frozen graph per depth (default: 1.0 and 0.5 from ../shared/data)")
    options.add_argument("--strides", default="8,16")
    options.add_argument("--shapes", default="513x513,513x289,513x385", help="WxH list")
    options.add_argument("--models", metavar="DEPTH:STRIDE:WxH,...", help="just these models instead of the matrix")
    options.add_argument("--calib", type=Path, default=inputs.CALIB)
    options.add_argument("--calib-count", type=int, default=100)
    options.add_argument("--voc", type=Path, default=inputs.VOC, help="labelled images for --eval")
    options.add_argument("--video", type=Path, default=inputs.VIDEO, help="frames for the 1080p run")
    options.add_argument("--reference-graph", type=Path, default=inputs.REFERENCE_GRAPH)
    options.add_argument("--backends", default=",".join(BACKENDS))
    options.add_argument("--threads", default=",".join(map(str, THREADS)))
    options.add_argument("--rounds", type=int, default=10, help="latency rounds (default 10)")
    options.add_argument("--frames", type=int, default=10, help="1080p frames (default 10)")
    options.add_argument("--published-model", type=Path, default=None, metavar="TFLITE",
                         help="the file the Pi estimate is scaled from (ssd_mobilenet_v1/tflite_for_rpi/"
                              "mobilenet_v1.tflite of aallan/benchmarking-ml-on-the-edge): timed here too, as a "
                              "check of the scaling by compute")
    options.add_argument("--readme", action="store_true", help="print the README's short table instead of the section")
    return cli.run("fast_models", options, _measure, readme_table if "--readme" in argv else render, argv)


if __name__ == "__main__":
    sys.exit(main())
