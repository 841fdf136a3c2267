"""Quantisation x input size x interpreter: float32 / fp16 / dynamic / int8 models at 513 and 257,
converted with `pibokeh-convert` from the reference graph (into --workdir, kept: a second run converts
nothing), and the prebuilt models of ../shared/data; each timed by `pibokeh bench --json` at 1 and 2
threads with ai_edge_litert and tflite_runtime (one process per interpreter and model), and scored by
`pibokeh eval --json` on the labelled VOC pairs. Both in the edge environment ($PIBOKEH_EDGE_PYTHON).

    python -m scripts.benchmarks.quantization --no-convert       # the prebuilt models only
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

from pibokeh.chain import STAGES

from . import cli, inputs, tools
from .figures import figure
from .markdown import count, met, paragraphs, pct, size, table

QUANT_MODES = ("float32", "fp16", "dynamic", "int8")
SIZES = (513, 257)
WORKDIR = Path(tempfile.gettempdir()) / "pibokeh-bench-models"
POSTPROCESS_LIMIT = 0.30  # the target: mask + background + blend at most 30 % of inference
log = tools.logger("quantization")


def convert_models(graph: Path, workdir: Path, sizes: Sequence[int] = SIZES, calib: Path | None = inputs.CALIB,
                   modes: Sequence[str] = QUANT_MODES, log: Callable[[str], None] = log
                   ) -> tuple[list[Path], list[dict[str, str]]]:
    """Every mode at every size, converted with pibokeh-convert (kept in `workdir` between runs)."""
    command = tools.converter()
    if command is None:
        return [], [{"model": "converted models", "reason": "pibokeh-convert is not installed"}]
    workdir.mkdir(parents=True, exist_ok=True)
    made, failed = [], []
    for side in sizes:
        for mode in modes:
            out = workdir / f"{graph.stem}_{side}_{mode}.tflite"
            if not out.is_file():
                args = command + [str(graph), "-o", str(out), "--quant", mode, "--size", str(side)]
                if mode == "int8" and calib is not None:
                    args += ["--calib", str(calib)]
                log(f"converting {out.name}")
                proc = subprocess.run(args, capture_output=True, text=True)
                if proc.returncode != 0 or not out.is_file():
                    failed.append({"model": out.name, "reason": tools.last_line(proc)})
                    continue
            made.append(out)
    return made, failed


def describe_model(path: str | Path) -> tuple[str, str, str]:
    """(short label, quantisation, origin) of a model, for the tables and the plot's legend."""
    name = Path(path).stem
    for mode in QUANT_MODES:
        if name.endswith(f"_{mode}"):
            side = name.split("_")[-2]
            return f"converted {mode} {side}", mode, f"pibokeh-convert from {name[: -len(mode) - len(side) - 2]}.pb"
    known = {"deeplabv3_mnv2_pascal_quant": ("Coral int8 513 (depth 1.0)", "int8", "prebuilt (google-coral/test_data)"),
             "deeplabv3_mnv2_dm05_pascal_quant": ("Coral int8 513 (depth 0.5)", "int8", "prebuilt (google-coral/test_data)"),
             "deeplabv3_257_mv_gpu": ("float32 257 (depth 0.5)", "float32", "prebuilt (picamera2/backscrub)")}
    return known.get(name, (name, "?", "given"))


def bench_models(python: str, models: Sequence[Path], backends: Sequence[str], threads: Sequence[int], frames: int,
                 video: Path | None, frame_size: tuple[int, int]) -> tuple[list[dict], list[dict[str, str]]]:
    """`pibokeh bench --json` per interpreter and model, each in its own process (a crash loses one cell)."""
    runs, failed = [], []
    for backend in backends:
        for model in models:
            cmd = [python, "-m", "pibokeh", "bench", "--json", "--frames", str(frames), "--model", str(model),
                   "--threads", ",".join(map(str, threads)), "--backend", backend, "--size", size(frame_size)]
            if video is not None:
                cmd += ["--input", str(video)]
            log(f"pibokeh bench {Path(model).name} with {backend}")
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=inputs.ROOT)
            if proc.stdout.strip():
                out = json.loads(proc.stdout)
                runs.extend(out["runs"])
                failed.extend({**f, "model": f"{Path(f['model']).name} ({backend})"} for f in out["failed"])
            else:
                failed.append({"model": f"{Path(model).name} ({backend})", "reason": tools.last_line(proc)})
    return runs, failed


def evaluate(python: str, models: Sequence[Path], voc: Path) -> dict[str, dict[str, Any]]:
    """`pibokeh eval --json` per model: mIoU and pixel accuracy on the VOC pairs."""
    return {str(model): tools.run_json([python, "-m", "pibokeh", "eval", "--data", voc, "--json", "--model", model,
                                        "--quiet"], log) for model in models}


def measure(models: Sequence[Path] | None = None, convert: bool = True, graph: Path = inputs.REFERENCE_GRAPH,
            workdir: Path = WORKDIR, backends: Sequence[str] = ("ai_edge_litert", "tflite_runtime"),
            threads: Sequence[int] = (1, 2), frames: int = 5, frame_size: tuple[int, int] = (640, 480),
            video: Path | None = inputs.VIDEO, voc: Path = inputs.VOC) -> dict[str, Any]:
    """Latency per model, interpreter and thread count, and accuracy per model. `models` None: the
    converted matrix (unless `convert` is False) and the prebuilt models."""
    converted, failed = [], []
    if models is None:
        if convert:
            converted, failed = convert_models(graph, workdir)
        models = converted + [p for p in inputs.PREBUILT if p.is_file()]
    inputs.require(voc, *models, *([video] if video else []))
    python = tools.edge_python()
    runs, bench_failed = bench_models(python, models, backends, threads, frames, video, frame_size)
    return {"size": list(frame_size), "frames": frames, "runs": runs, "failed": failed + bench_failed,
            "graph": graph.name, "converted": [str(m) for m in converted], "convert_asked": convert,
            "eval": evaluate(python, [Path(m) for m in dict.fromkeys(r["model"] for r in runs)], voc)}


# ---- the section --------------------------------------------------------------------------------

def default_run(data: dict[str, Any]) -> dict[str, Any] | None:
    """The default path's model (the converted int8 513, else Coral's) with ai_edge_litert at the most
    threads measured."""
    most = max((r["threads"] for r in data["runs"]), default=1)
    runs = [r for r in data["runs"] if r["backend"] == "ai_edge_litert" and r["threads"] == most]
    return next((r for r in runs if Path(r["model"]).stem.endswith("_513_int8")), None) or next(
        (r for r in runs if Path(r["model"]).name == inputs.CORAL.name), None)


def backend_ratios(runs: Sequence[dict[str, Any]]) -> dict[str, str]:
    """'a-bx' ranges of tflite_runtime / ai_edge_litert inference time, for int8 and float models."""
    lite = {(r["model"], r["threads"]): r["stages"]["inference"]["median_ms"] for r in runs
            if r["backend"] == "ai_edge_litert"}
    ratios: dict[str, list[float]] = {"int8": [], "float": []}
    for r in runs:
        key = (r["model"], r["threads"])
        if r["backend"] == "tflite_runtime" and lite.get(key):
            kind = "int8" if describe_model(r["model"])[1] == "int8" else "float"
            ratios[kind].append(r["stages"]["inference"]["median_ms"] / lite[key])
    if not ratios["int8"] and not ratios["float"]:
        return {}
    return {k: f"{min(v):.1f}-{max(v):.1f}x" if v else "not measured" for k, v in ratios.items()}


def _target(data: dict[str, Any]) -> str:
    run = default_run(data)
    if run is None:
        return ""
    post = run["postprocess_ratio"]
    return table(["target", "goal", "measured", ""], [[
        f"post-processing / inference, {size(data['size'])}, {Path(run['model']).name}", f"<= {pct(POSTPROCESS_LIMIT, 0)}",
        f"{pct(post, 0)} (mask+blur+blend); {pct(run['non_inference_ratio'], 0)} with decode, letterbox, encode",
        met(post <= POSTPROCESS_LIMIT)]])


def _models_note(data: dict[str, Any]) -> str:
    if data["converted"]:
        return f"{len(data['converted'])} converted by `pibokeh-convert` from `{data['graph']}` and the prebuilt ones"
    reasons = "; ".join(f["reason"] for f in data["failed"] if f["model"] == "converted models")
    return (f"no converted models ({'pibokeh-convert was not usable: ' + reasons if reasons else 'not asked for'}); "
            "the prebuilt ones")


def _latency_table(data: dict[str, Any]) -> str:
    cells: dict[str, dict[tuple[str, int], float]] = {}
    for run in data["runs"]:
        cells.setdefault(run["model"], {})[(run["backend"], run["threads"])] = run["stages"]["inference"]["median_ms"]
    columns = sorted({key for row in cells.values() for key in row})
    mbs = {run["model"]: run["model_mb"] for run in data["runs"]}
    rows = []
    for model, row in cells.items():
        label, mode, origin = describe_model(model)
        ev = data["eval"].get(model)
        rows.append([label, mode, origin, f"{mbs[model]:.2f}", f"{ev['miou']:.3f}" if ev else "–", f"{ev['pixel_accuracy']:.3f}" if ev else "–"]
                    + [f"{row[c]:.1f}" if c in row else "–" for c in columns])
    return table(["model", "quant", "origin", "MB", "mIoU", "pixel acc"] + [f"{b} {t} thr ms" for b, t in columns], rows)


def _pipeline_table(data: dict[str, Any]) -> str:
    most = max((r["threads"] for r in data["runs"]), default=1)
    lite = [r for r in data["runs"] if r["backend"] == "ai_edge_litert" and r["threads"] == most]
    if not lite:
        return ""
    rows = [[describe_model(r["model"])[0]] + [f"{r['stages'][s]['median_ms']:.1f}" for s in STAGES]
            + [f"{r['end_to_end']['median_ms']:.1f}", f"{r['fps']:.1f}", f"{pct(r['postprocess_ratio'], 0)}"] for r in lite]
    return (f"### Whole pipeline per model ({size(data['size'])}, ai_edge_litert, {count(most, 'thread')})\n\n"
            + table(["model", *STAGES, "end to end", "fps", "post / inference"], rows))


def render(data: dict[str, Any]) -> str:
    """The section: the post-processing target, latency and accuracy per model, the whole pipeline."""
    slow = backend_ratios(data["runs"])
    notes = [f"- `tflite_runtime` vs `ai_edge_litert`, same model and threads: int8 models {slow['int8']} slower, "
             f"float models {slow['float']} (tflite_runtime 2.14 has no XNNPACK for int8)."] if slow else []
    notes += [f"- not measured: {f['model']} ({f['reason']})" for f in data["failed"]]
    return paragraphs(
        "## Models: latency and accuracy",
        _target(data),
        f"Inference median ms at {size(data['size'])} ({count(data['frames'], 'frame')} each, `pibokeh bench` per interpreter "
        "and model in its own process); mIoU and pixel accuracy from `pibokeh eval` on the labelled VOC pairs. "
        f"Models: {_models_note(data)} from `../shared/data/models`.",
        _latency_table(data), "\n".join(notes), "![latency vs accuracy](img/latency_vs_miou.png)", _pipeline_table(data))


def plot(data: dict[str, Any], folder: Path) -> None:
    """img/latency_vs_miou.png: inference ms (ai_edge_litert, the most threads measured) against mIoU."""
    markers = {"float32": "o", "fp16": "s", "dynamic": "D", "int8": "^", "?": "x"}
    most = max((r["threads"] for r in data["runs"]), default=1)
    with figure(folder / "latency_vs_miou.png", (7.5, 4.8)) as ax:
        for run in data["runs"]:
            ev = data["eval"].get(run["model"])
            if run["backend"] != "ai_edge_litert" or run["threads"] != most or not ev:
                continue
            label, mode, _ = describe_model(run["model"])
            ms = run["stages"]["inference"]["median_ms"]
            ax.scatter(ms, ev["miou"], marker=markers.get(mode, "x"), s=60,
                       color="#1f77b4" if "513" in label else "#ff7f0e", zorder=3)
            ax.annotate(label, (ms, ev["miou"]), textcoords="offset points", xytext=(6, 4), fontsize=7)
        ax.set_xscale("log")
        ax.set_xlabel(f"inference, median ms per frame (log scale; ai_edge_litert, {count(most, 'thread')})")
        ax.set_ylabel("mIoU on the shared VOC pairs")
        ax.set_title("Latency vs accuracy (blue: 513 input, orange: 257; marker: quantisation)", fontsize=9)
        ax.grid(True, which="both", alpha=0.3)


def main(argv: Sequence[str] | None = None) -> int:
    options = cli.parser("quantization", __doc__)
    options.add_argument("--model", type=Path, action="append", help="just these models (repeat)")
    options.add_argument("--no-convert", action="store_true", help="only the prebuilt models")
    options.add_argument("--workdir", type=Path, default=WORKDIR,
                         help="converted models are kept here (default: %(default)s)")
    options.add_argument("--threads", default="1,2")
    options.add_argument("--backends", default="ai_edge_litert,tflite_runtime")
    options.add_argument("--frames", type=int, default=5, help="timed frames per model (default: 5)")
    return cli.run("quantization", options, lambda args: measure(
        args.model, not args.no_convert, workdir=args.workdir, backends=args.backends.split(","),
        threads=[int(t) for t in args.threads.split(",")], frames=args.frames), render, argv)


if __name__ == "__main__":
    sys.exit(main())
