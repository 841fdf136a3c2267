#!/usr/bin/env python3
"""Regenerate docs/BENCHMARKS.md and its plots from real runs on this machine, with one command:

    .venv-full/bin/python scripts/bench_docs.py            # full environment (TensorFlow, matplotlib)

It runs, each in its own process: scripts/bench_reference.py (reference vs default at 640x480 and
1920x1080, the blur paths, and the model matrix, converting models with pibokeh-convert when it is
installed), `pibokeh eval --json` on ../shared/data/voc for every model (mIoU), and the edge process
on a 1080p clip (an upscaled copy of the shared video, in a temp folder) for peak RSS, and
scripts/bench_models.py (the fast models: depth x output stride x input shape, the 1080p target,
the Raspberry Pi estimate). The edge process uses $PIBOKEH_EDGE_PYTHON (the TensorFlow-free venv scripts/test.sh makes) when set.
Raw results go to --raw (JSON) next to the written pages, for anyone re-plotting.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

import cv2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import bench_models  # noqa: E402  (the fast models: the matrix, the 1080p target, the Pi estimate)
import bench_reference as ref  # noqa: E402  (the same defaults: shared data paths, models)
from pibokeh import bench  # noqa: E402
from pibokeh.files import atomic_path  # noqa: E402
from pibokeh.media.video import VideoFileSink, VideoFileSource  # noqa: E402

STAGE_COLOURS = {"decode": "#8c8c8c", "preprocess": "#bcbd22", "inference": "#1f77b4", "mask": "#2ca02c",
                 "background": "#d62728", "blend": "#9467bd", "encode": "#ff7f0e"}
RSS_LIMIT_MB = 250
MEASURE_RSS = ("import resource, subprocess, sys; "
               "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode; "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)")


def log(message: str) -> None:
    print(f"bench_docs: {message}", file=sys.stderr, flush=True)


def run_json(cmd: Sequence[str]) -> dict[str, Any]:
    log(" ".join(Path(c).name if i == 0 else str(c) for i, c in enumerate(cmd)))
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=ROOT)
    if proc.returncode not in (0, 1) or not proc.stdout.strip():
        raise SystemExit(f"bench_docs: {Path(cmd[1]).name} failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")
    return json.loads(proc.stdout)


# ---- measurements -------------------------------------------------------------------------------

def upscaled_clip(video: Path, size: tuple[int, int], frames: int, folder: Path) -> Path:
    """A copy of `video` resized to `size` (w, h) with OpenCV, at most `frames` frames."""
    target = folder / f"{video.stem}_{size[0]}x{size[1]}.mp4"
    with VideoFileSource(video) as source, VideoFileSink(target, source.fps, size) as sink:
        for frame in source:
            sink.write(cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR))
            if sink.frames >= frames:
                break
    return target


def edge_rss(edge_python: str, clip: Path, model: Path, folder: Path, frames: int) -> dict[str, Any]:
    """Peak RSS of the edge process on a 1080p clip: `pibokeh blur` on it, and `pibokeh bench` on it."""
    out = folder / "blurred"
    log("pibokeh blur on the 1080p clip (peak RSS)")
    kib, code = _peak_rss([edge_python, "-m", "pibokeh", "blur", str(clip), "-o", str(out), "--model", str(model),
                           "--quiet"])
    base_kib, _ = _peak_rss([edge_python, "-m", "pibokeh", "info", "--model", str(model)])
    bench_run = run_json([edge_python, "-m", "pibokeh", "bench", "--json", "--input", str(clip),
                          "--model", str(model), "--frames", str(frames)])
    env = "edge environment (no TensorFlow)" if edge_python != sys.executable else "full environment"
    return {"env": env, "clip": clip.name, "model": str(model), "frames_blurred": _frames(out / clip.name),
            "blur_exit": code, "blur_peak_rss_mb": round(kib * 1024 / 1e6, 1),
            "loaded_rss_mb": round(base_kib * 1024 / 1e6, 1), "bench": bench_run}


def _peak_rss(cmd: Sequence[str]) -> tuple[int, int]:
    """(peak RSS in KiB, exit code) of a command, measured by a fresh parent that runs only it."""
    proc = subprocess.run([sys.executable, "-c", MEASURE_RSS, *cmd], capture_output=True, text=True, cwd=ROOT)
    kib, code = proc.stdout.split()[-2:]
    return int(kib), int(code)


def _frames(video: Path) -> int:
    if not video.is_file():
        return 0
    with VideoFileSource(video) as source:
        return source.frame_count


def evaluate(python: str, models: Sequence[Path], voc: Path) -> dict[str, dict[str, Any]]:
    """`pibokeh eval --json` per model: mIoU and pixel accuracy on the VOC pairs."""
    results = {}
    for model in models:
        results[str(model)] = run_json([python, "-m", "pibokeh", "eval", "--data", str(voc), "--json",
                                        "--model", str(model), "--quiet"])
    return results


# ---- naming -------------------------------------------------------------------------------------

def describe_model(path: str) -> tuple[str, str, str]:
    """(short label, quantisation, origin) for the tables and the plot legend."""
    name = Path(path).stem
    for mode in ref.QUANT_MODES:
        if name.endswith(f"_{mode}"):
            size = name.split("_")[-2]
            return f"converted {mode} {size}", mode, f"pibokeh-convert from {name[: -len(mode) - len(size) - 2]}.pb"
    known = {"deeplabv3_mnv2_pascal_quant": ("Coral int8 513 (depth 1.0)", "int8", "prebuilt (google-coral/test_data)"),
             "deeplabv3_mnv2_dm05_pascal_quant": ("Coral int8 513 (depth 0.5)", "int8", "prebuilt (google-coral/test_data)"),
             "deeplabv3_257_mv_gpu": ("float32 257 (depth 0.5)", "float32", "prebuilt (picamera2/backscrub)")}
    return known.get(name, (name, "?", "given"))


# ---- plots --------------------------------------------------------------------------------------

def plot_latency_accuracy(points: list[dict[str, Any]], reference: dict[str, Any] | None, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    markers = {"float32": "o", "fp16": "s", "dynamic": "D", "int8": "^", "?": "x"}
    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=100)
    for p in points:
        ax.scatter(p["ms"], p["miou"], marker=markers.get(p["quant"], "x"), s=60,
                   color="#1f77b4" if "513" in p["label"] else "#ff7f0e", zorder=3)
        ax.annotate(p["label"], (p["ms"], p["miou"]), textcoords="offset points", xytext=(6, 4), fontsize=7)
    if reference:
        ax.scatter(reference["ms"], reference["miou"], marker="*", s=140, color="#d62728", zorder=3)
        ax.annotate("reference: TF1 graph, session", (reference["ms"], reference["miou"]),
                    textcoords="offset points", xytext=(6, -10), fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("inference, median ms per frame (log scale; ai_edge_litert, 2 threads; reference: TF)")
    ax.set_ylabel("mIoU on the 31 shared VOC pairs")
    ax.set_title("Latency vs accuracy (blue: 513 input, orange: 257; marker: quantisation)", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def plot_stages(bars: list[tuple[str, dict[str, Any]]], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7.5, 0.5 * len(bars) + 1.6), dpi=100)
    for row, (label, stages) in enumerate(bars):
        left = 0.0
        for stage in bench.STAGES:
            width = stages[stage]["median_ms"]
            ax.barh(row, width, left=left, color=STAGE_COLOURS[stage], label=stage if row == 0 else None)
            left += width
        ax.text(left, row, f" {left:.0f} ms", va="center", fontsize=7)
    ax.set_yticks(range(len(bars)), [label for label, _ in bars], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("median ms per frame, by stage")
    ax.legend(ncol=4, fontsize=7, loc="lower right")
    ax.set_xlim(0, ax.get_xlim()[1] * 1.12)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


# ---- the page -----------------------------------------------------------------------------------

def notes(data: dict[str, Any]) -> str:
    """What the figures say about the targets that were missed, from the figures themselves."""
    r = data["reference"]
    _, big = smallest_largest(of_model(r["comparisons"], r["model"]))
    at = f"{big['size'][0]}x{big['size'][1]}" if big else ""
    lines = []
    if big and big["speedup"]["end_to_end"] < 10:
        ref_ms = big["reference"]["end_to_end"]["median_ms"]
        d = big["default"]["stages"]
        infer = d["inference"]["median_ms"]
        lines.append(
            f"- **End to end at {at}.** The reference takes {ref_ms:.0f} ms a frame, the default "
            f"{big['default']['end_to_end']['median_ms']:.0f} ms, of which inference is {infer:.0f} ms and the "
            f"halo-free background {d['background']['median_ms']:.0f} ms. With this model even a free "
            f"post-processing would give at most {ref_ms / infer:.1f}x: on this x86 machine the int8 model is only "
            f"{big['speedup']['inference']:.1f}x faster than TensorFlow running the float graph. What closes the "
            "gap: the fast models (output stride 16, the frame's shape; see *Fast models*).")
    for c in (x for x in r["comparisons"] if big and x["size"] == big["size"] and x["mask_agreement"] < 0.97
              and x["model"] in r["models"][:2]):
        name = describe_model(c["model"])[0]
        lines.append(
            f"- **Mask agreement** of {name} with the reference is {100 * c['mask_agreement']:.2f} % at {at} "
            f"(foreground IoU {c['mask_iou']:.3f}). The reference runs the float graph; the masks differ where "
            "the models do (int8 weights and activations, output stride, letterbox padding), not in the shared "
            "mask code." + ("" if name.startswith("converted") else
                            " An int8 model converted from the reference graph itself is the one to hold to "
                            "this target."))
    if big and big["blur"]["background_blur_speedup"] < 20 <= big["blur"]["fast_speedup"]:
        lines.append(
            f"- **Blur.** `fast_blur` alone meets the target ({big['blur']['fast_speedup']:.0f}x); the default "
            f"halo-free `background_blur` is {big['blur']['background_blur_speedup']:.1f}x: it also downscales and "
            "grows the mask, and weights the blur by it.")
    post = data.get("post")
    if post and post["postprocess_ratio"] > 0.30:
        lines.append(f"- **Post-processing** is {100 * post['postprocess_ratio']:.0f} % of inference at {post['size']}; "
                     "the halo-free blur is most of it.")
    rss = data.get("rss")
    if rss and rss["blur_peak_rss_mb"] > RSS_LIMIT_MB:
        lines.append(f"- **Memory**: {rss['blur_peak_rss_mb']:.0f} MB peak on 1080p video.")
    return "\n".join(lines)


# ---- page helpers --------------------------------------------------------------------------------

def of_model(comparisons: Sequence[dict[str, Any]], model: str) -> list[dict[str, Any]]:
    return [c for c in comparisons if c["model"] == model]


def smallest_largest(comparisons: Sequence[dict[str, Any]]) -> tuple[dict | None, dict | None]:
    """The comparisons at the smallest and the largest frame size."""
    if not comparisons:
        return None, None
    ordered = sorted(comparisons, key=lambda c: c["size"][0] * c["size"][1])
    return ordered[0], ordered[-1]


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


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def yes(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def encoders_section(enc: dict[str, Any]) -> list[str]:
    """The page's video-encoder table, from `pibokeh bench --encoders --json`."""
    rows = []
    for row in enc["encoders"]:
        size = "x".join(map(str, row["size"]))
        if "unavailable" in row:
            rows.append([row["encoder"], size, row["unavailable"], "", "", ""])
        else:
            rows.append([row["encoder"], size, f"{row['ms_per_frame']:.1f}", f"{row['cpu_ms_per_frame']:.1f}",
                         f"{row['fps']:.1f}", row["kbps"]])
    return ["## Video encoders", "",
            f"`pibokeh bench --encoders`: {enc['frames']} frames of a panning picture through the writer that "
            f"`pibokeh blur` and `camera --record` use (PyAV {enc['pyav']}); `--codec auto` picks "
            f"`{enc['default']}` here. Wall ms include waiting for a core on a busy machine; CPU ms count every "
            "encoder thread.", "",
            table(["encoder", "size", "ms/frame", "CPU ms/frame", "fps", "kbit/s"], rows), ""]


def write_page(data: dict[str, Any]) -> str:
    r = data["reference"]
    host = r["host"]
    small, big = smallest_largest(of_model(r["comparisons"], r["model"]))
    quant = r.get("quant") or {"runs": [], "failed": [], "size": [640, 480], "frames": 0}
    evals = data["eval"]
    rss = data["rss"]
    parts = [
        "# Benchmarks",
        "",
        f"Measured on this machine on {data['date']} by `{data['command']}` (everything on this page is "
        "written by that script; re-run it to refresh). Host: "
        f"{host['system']} {host['machine']}, {host['cpus']} CPUs, Python {host['python']}, NumPy {host['numpy']}, "
        f"OpenCV {host['opencv']}, TensorFlow {r['tensorflow']}. The machine was shared with other jobs while "
        "measuring, so absolute times are noisy; every comparison below is a ratio of two pipelines timed "
        "in the same run on the same frames (interleaved frame by frame for reference vs default).",
        "",
        "Frames: the shared video `person_handwave_854x480.mp4` (a person waving), scaled to cover each size. "
        "Accuracy: `pibokeh eval` on the 31 labelled VOC pairs of `../shared/data/voc`.",
        "",
        "## Targets",
        "",
    ]
    rows = []
    for model in r["models"][:2]:  # the int8 513 default-path models; the others are in the table below
        _, c = smallest_largest(of_model(r["comparisons"], model))
        at = f"{c['size'][0]}x{c['size'][1]}"
        e2e = c["speedup"]["end_to_end"]
        name = describe_model(model)[0]
        rows.append([f"end to end, default ({name}) vs reference, {at}", ">= 10x", f"{e2e:.1f}x", yes(e2e >= 10)])
        rows.append([f"mask agreement of {name} with the reference, {at}", ">= 97 %",
                     f"{100 * c['mask_agreement']:.2f} % (foreground IoU {c['mask_iou']:.3f})",
                     yes(c["mask_agreement"] >= 0.97)])
    if big:
        at = f"{big['size'][0]}x{big['size'][1]}"
        fb = big["blur"]["fast_speedup"]
        rows.append([f"`fast_blur` vs exact 251x251 blur, {at}", ">= 20x",
                     f"{fb:.1f}x ({big['blur']['fast_psnr_db']:.1f} dB PSNR)", yes(fb >= 20)])
        hb = big["blur"]["background_blur_speedup"]
        rows.append([f"default halo-free `background_blur` vs exact blur, {at}", "(>= 20x)", f"{hb:.1f}x",
                     yes(hb >= 20)])
    post = data.get("post")
    if post:
        rows.append([f"post-processing / inference, {post['size']}, {Path(post['model']).name}", "<= 30 %",
                     f"{100 * post['postprocess_ratio']:.0f} % (mask+blur+blend); "
                     f"{100 * post['non_inference_ratio']:.0f} % with decode, letterbox, encode",
                     yes(post["postprocess_ratio"] <= 0.30)])
    if rss:
        peak = rss["blur_peak_rss_mb"]
        rows.append([f"peak RSS of `pibokeh blur` on a 1080p video ({rss['frames_blurred']} frames)",
                     f"<= {RSS_LIMIT_MB} MB", f"{peak:.0f} MB", yes(peak <= RSS_LIMIT_MB)])
    fast = data.get("fast") or {}
    for t in fast.get("targets", []):
        rows.append([f"fast model ({bench_models.label(bench_models.recommended(fast['models']))}, int8): {t['target']}",
                     t["goal"], t["measured"], yes(t["met"])])
    parts += [table(["target", "goal", "measured", ""], rows), ""]
    parts += [data["notes"], ""] if data.get("notes") else []

    parts += ["## What each stage is", "",
              table(["stage", "default path (the runtime's own functions)", "reference"], [
                  ["decode", "`video.VideoFileSource.read` (or `images.read_image`)", "the same"],
                  ["preprocess", "`model.fit_input`: resize to the model's input (by 2x2 halvings first when it is half the frame or less; letterboxed when its aspect differs), BGR→RGB", "the same resize, "
                   "unpadded (longest side 513)"],
                  ["inference", "`Segmenter.infer`: input tensor (`to_input`), invoke, class map (argmax of "
                   "scores)", "`sess.run(SemanticPredictions)`"],
                  ["mask", "`crop_valid` + `core.frame_mask`: class mask, resize, Gaussian 15, Otsu",
                   "the same (`core.frame_mask`)"],
                  ["background", "`core.background_blur` (halo-free, made at 1/8 scale by 2x2 halvings at 1080p)",
                   "`core.exact_blur` (GaussianBlur 251)"],
                  ["blend", "`core.blend`", "the same"],
                  ["encode", "`images.encode_image` as JPEG", "the same"]]), "",
              "## Reference vs default, per stage", "",
              f"Reference: the notebook's pipeline — `{Path(r['reference_graph']).name}` in a `tf.compat.v1` "
              f"session (TF {r['tensorflow']}, {r['threads']} threads) at longest side 513, mask → Gaussian 15 → "
              "Otsu, full-resolution `GaussianBlur(251)`. "
              f"Default: `pibokeh blur` as shipped — an int8 model ({r['backend']}, {r['threads']} threads), "
              "letterboxed (or fed unpadded when frame-shaped), the same mask steps, halo-free fast blur. At each "
              "size the reference and all default models run interleaved frame by frame in one run. Median ms "
              "per frame; speedup = reference / default.", ""]
    rows = [[describe_model(c["model"])[0], f"{c['size'][0]}x{c['size'][1]}",
             f"{c['reference']['end_to_end']['median_ms']:.0f}", f"{c['default']['end_to_end']['median_ms']:.0f}",
             f"{c['speedup']['inference']:.1f}x", f"**{c['speedup']['end_to_end']:.1f}x**",
             f"{100 * c['mask_agreement']:.2f} %", f"{c['mask_iou']:.3f}"] for c in r["comparisons"]]
    parts += [table(["default-path model", "frame size", "reference ms", "default ms", "inference speedup",
                     "end-to-end speedup", "mask agreement", "foreground IoU"], rows), "",
              "Per stage, for the first two models:", ""]
    for c in (c for c in r["comparisons"] if c["model"] in r["models"][:2]):
        parts += [f"### {describe_model(c['model'])[0]} (`{Path(c['model']).name}`), {c['size'][0]}x{c['size'][1]}, "
                  f"{c['frames']} frames", ""]
        rows = []
        for stage in bench.STAGES + ("end_to_end",):
            rs = c["reference"]["stages"].get(stage, c["reference"]["end_to_end"])
            ds = c["default"]["stages"].get(stage, c["default"]["end_to_end"])
            label = "**end to end**" if stage == "end_to_end" else stage
            rows.append([label, f"{rs['median_ms']:.1f}", f"{rs['p90_ms']:.1f}", f"{ds['median_ms']:.1f}",
                         f"{ds['p90_ms']:.1f}", f"{c['speedup'][stage]:.2f}x"])
        parts += [table(["stage", "reference median", "p90", "default median", "p90", "speedup"], rows), ""]
        b = c["blur"]
        parts += [f"Blur alone: exact {b['exact_blur']:.1f} ms, `fast_blur` {b['fast_blur']:.1f} ms "
                  f"({b['fast_speedup']:.1f}x, {b['fast_psnr_db']:.1f} dB PSNR against the exact blur), "
                  f"halo-free `background_blur` {b['background_blur']:.1f} ms ({b['background_blur_speedup']:.1f}x). "
                  f"Mask agreement {100 * c['mask_agreement']:.2f} %, foreground IoU {c['mask_iou']:.3f}.", ""]
    parts += ["![stage breakdown](img/stages.png)", ""]

    if fast:
        parts += [bench_models.section(fast), ""]

    parts += ["## Models: latency and accuracy", "",
              f"Inference median ms at {quant['size'][0]}x{quant['size'][1]} ({quant['frames']} frames each, "
              "`pibokeh bench` per backend in its own process); mIoU and pixel accuracy from `pibokeh eval`. "
              "Models used: " + data["models_note"], ""]
    by_model: dict[str, dict[tuple[str, int], float]] = {}
    for run in quant["runs"]:
        by_model.setdefault(run["model"], {})[(run["backend"], run["threads"])] = run["stages"]["inference"]["median_ms"]
    columns = sorted({key for cells in by_model.values() for key in cells})
    rows = []
    for model, cells in by_model.items():
        label, mode, origin = describe_model(model)
        ev = evals.get(model, {})
        rows.append([label, mode, origin, f"{Path(model).stat().st_size / 1e6:.2f}" if Path(model).exists() else "?",
                     f"{ev['miou']:.3f}" if ev else "–", f"{ev['pixel_accuracy']:.3f}" if ev else "–"]
                    + [f"{cells[c]:.1f}" if c in cells else "–" for c in columns])
    if r.get("reference_accuracy") and small:
        acc = r["reference_accuracy"]
        tf_ms = f"TF session, {r['threads']} threads: {small['reference']['stages']['inference']['median_ms']:.1f}"
        rows.append(["reference: TF1 graph", "float (8-bit stored weights)", Path(r["reference_graph"]).name,
                     f"{Path(r['reference_graph']).stat().st_size / 1e6:.2f}", f"{acc['miou']:.3f}",
                     f"{acc['pixel_accuracy']:.3f}"] + [tf_ms] + ["–" for _ in columns[1:]])
    parts += [table(["model", "quant", "origin", "MB", "mIoU", "pixel acc"]
                    + [f"{b} {t} thr ms" for b, t in columns], rows), ""]
    slow = backend_ratios(quant["runs"])
    if slow:
        parts.append(f"- `tflite_runtime` vs `ai_edge_litert`, same model and threads: int8 models "
                     f"{slow['int8']} slower, float models {slow['float']} (tflite_runtime 2.14 has no XNNPACK "
                     "for int8).")
    for fail in quant["failed"]:
        parts.append(f"- not measured: {fail['model']} ({fail['reason']})")
    parts += ["", "![latency vs accuracy](img/latency_vs_miou.png)", ""]

    lite = [run for run in quant["runs"] if run["backend"] == "ai_edge_litert" and run["threads"] == max(
        (x["threads"] for x in quant["runs"]), default=1)]
    if lite:
        parts += [f"### Whole pipeline per model ({quant['size'][0]}x{quant['size'][1]}, ai_edge_litert, "
                  f"{lite[0]['threads']} threads)", ""]
        rows = [[describe_model(run["model"])[0]] + [f"{run['stages'][s]['median_ms']:.1f}" for s in bench.STAGES]
                + [f"{run['end_to_end']['median_ms']:.1f}", f"{run['fps']:.1f}",
                   f"{100 * run['postprocess_ratio']:.0f} %"] for run in lite]
        parts += [table(["model"] + list(bench.STAGES) + ["end to end", "fps", "post / inference"], rows), ""]

    if data.get("encoders"):
        parts += encoders_section(data["encoders"])

    if rss:
        b = rss["bench"]["runs"][0] if rss["bench"]["runs"] else None
        parts += ["## Memory", "",
                  f"`pibokeh blur` on a 1920x1080 clip ({rss['frames_blurred']} frames, the shared video upscaled with "
                  f"OpenCV into a temp folder), model `{Path(rss['model']).name}`, run in the {rss['env']}: peak RSS "
                  f"**{rss['blur_peak_rss_mb']:.0f} MB** (`ru_maxrss` of the process), of which "
                  f"{rss['loaded_rss_mb']:.0f} MB is the process with the interpreter and model loaded "
                  "(`pibokeh info`)."
                  + (f" `pibokeh bench` on the same clip: {b['peak_rss_mb']:.0f} MB, {b['fps']:.1f} fps end to end."
                     if b else ""), ""]

    if not (fast and fast.get("models")):
        parts += ["## Raspberry Pi 4 and 5 (not measured here)", "", bench_models.published_note(), ""]
    parts += [
              "## Reproduce", "",
              "```sh",
              "scripts/setup.sh full                      # .venv-full: TensorFlow, matplotlib",
              "PIBOKEH_EDGE_PYTHON=$(scripts/setup.sh edge)/bin/python .venv-full/bin/python scripts/bench_docs.py",
              "# the pieces on their own:",
              "pibokeh bench --model M1 --model M2 --threads 1,2 --input ../shared/data/video/person_handwave_854x480.mp4 --size 640x480",
              ".venv-full/bin/python scripts/bench_reference.py --sizes 640x480,1920x1080 --quant",
              ".venv-full/bin/python scripts/bench_models.py    # the fast models alone",
              "# --published-model FILE (either script): also time the file the Pi estimate is scaled from,",
              "# ssd_mobilenet_v1/tflite_for_rpi/mobilenet_v1.tflite of github.com/aallan/benchmarking-ml-on-the-edge",
              "```", ""]
    return "\n".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="where BENCHMARKS.md and img/ go")
    parser.add_argument("--frames", type=int, default=10, help="timed frames per size (default: 10)")
    parser.add_argument("--quant-frames", type=int, default=5, help="timed frames per model (default: 5)")
    parser.add_argument("--rss-frames", type=int, default=120, help="frames of the 1080p clip (default: 120)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "pibokeh-bench-models",
                        help="converted models are kept here between runs (default: %(default)s)")
    parser.add_argument("--no-convert", action="store_true", help="only the prebuilt models")
    parser.add_argument("--sizes", default="640x480,1920x1080")
    parser.add_argument("--model-rounds", type=int, default=10,
                        help="latency rounds of the fast-model matrix (default: 10)")
    parser.add_argument("--published-model", type=Path, default=None, metavar="TFLITE",
                        help="the published model the Pi estimate is scaled from, to time it here too "
                             "(see scripts/bench_models.py --help)")
    args = parser.parse_args(argv)
    for path in (ref.REFERENCE_GRAPH, ref.DEFAULT_MODEL, ref.VIDEO, ref.SHARED / "voc"):
        if not path.exists():
            print(f"bench_docs: error: {path} is missing (../shared/data must be beside the repository)", file=sys.stderr)
            return 2
    python = sys.executable
    edge_python = os.environ.get("PIBOKEH_EDGE_PYTHON") or python
    img = args.out / "img"
    img.mkdir(parents=True, exist_ok=True)

    converted, convert_failed = [], []
    if not args.no_convert:
        converted, convert_failed = ref.convert_models(ref.REFERENCE_GRAPH, args.workdir, (513, 257),
                                                       ref.SHARED / "calib", log)
    # the default path: the project's own int8 513 model when it could be converted, and Coral's; then the
    # smaller prebuilt models, to show which trade-off would meet the speed and agreement targets
    defaults = ([m for m in converted if m.stem.endswith("_513_int8")] + [ref.DEFAULT_MODEL]
                + [p for p in ref.PREBUILT[1:] if p.is_file()])
    cmd = [python, ROOT / "scripts" / "bench_reference.py", "--json", "--frames", args.frames,
           "--sizes", args.sizes, "--voc", ref.SHARED / "voc", "--quant", "--quant-frames", args.quant_frames]
    for model in defaults:
        cmd += ["--model", model]
    cmd += ["--quant-models"] + converted + [p for p in ref.PREBUILT if p.is_file()]
    reference = run_json(cmd)
    reference["quant"]["failed"] = convert_failed + reference["quant"]["failed"]
    quant = reference["quant"]
    models = list(dict.fromkeys(run["model"] for run in quant["runs"]))
    models_note = (f"{len(converted)} converted by `pibokeh-convert` from `{ref.REFERENCE_GRAPH.name}` and "
                   if converted else "no converted models (`pibokeh-convert` was not usable when this ran: "
                   f"{convert_failed[0]['reason'] if convert_failed else 'not asked for'}), ")
    models_note += "the prebuilt ones from `../shared/data/models`."
    evals = evaluate(edge_python, [Path(m) for m in models], ref.SHARED / "voc")

    with tempfile.TemporaryDirectory(prefix="pibokeh-docs-") as tmp:
        clip = upscaled_clip(ref.VIDEO, (1920, 1080), args.rss_frames, Path(tmp))
        rss = edge_rss(edge_python, clip, Path(reference["model"]), Path(tmp), min(args.frames, 20))

    encoders = run_json([edge_python, "-m", "pibokeh", "bench", "--encoders", "--json"])
    fast = None
    if not args.no_convert:
        log("the fast models (scripts/bench_models.py)")
        fast = bench_models.measure(args.workdir, edge_python, rounds=args.model_rounds, frames=args.frames,
                                    published=args.published_model)
    # the post-processing target: the int8 513 default model at 640x480, from the model matrix
    post = next(({**run, "size": "x".join(map(str, quant["size"]))} for run in quant["runs"]
                 if run["model"] == reference["model"] and run["backend"] == "ai_edge_litert"
                 and run["threads"] == reference["threads"]), None)
    data = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "command": "scripts/bench_docs.py" + (" " + " ".join(argv or sys.argv[1:])).rstrip(),
            "reference": reference, "eval": evals, "rss": rss, "post": post, "models_note": models_note,
            "encoders": encoders, "fast": fast}

    points = []
    for run in quant["runs"]:
        if run["backend"] == "ai_edge_litert" and run["threads"] == reference["threads"] and run["model"] in evals:
            label, mode, _ = describe_model(run["model"])
            points.append({"label": label, "quant": mode, "ms": run["stages"]["inference"]["median_ms"],
                           "miou": evals[run["model"]]["miou"]})
    small, _ = smallest_largest(of_model(reference["comparisons"], reference["model"]))
    ref_point = ({"ms": small["reference"]["stages"]["inference"]["median_ms"],
                  "miou": reference["reference_accuracy"]["miou"]} if reference.get("reference_accuracy") else None)
    plot_latency_accuracy(points, ref_point, img / "latency_vs_miou.png")
    bars = []
    for c in (c for c in reference["comparisons"] if c["model"] in reference["models"][:2]):
        size = f"{c['size'][0]}x{c['size'][1]}"
        bars.append((f"reference {size}", c["reference"]["stages"]))
        bars.append((f"default {size}\n{describe_model(c['model'])[0]}", c["default"]["stages"]))
    plot_stages(bars, img / "stages.png")

    data["notes"] = notes(data)
    with atomic_path(args.out / "BENCHMARKS.md") as tmp:
        tmp.write_text(write_page(data))
        tmp.chmod(0o644)
    raw = args.workdir / "bench_docs.json"
    args.workdir.mkdir(parents=True, exist_ok=True)
    raw.write_text(json.dumps(data, indent=1, default=str))
    log(f"wrote {args.out / 'BENCHMARKS.md'}, {img}/latency_vs_miou.png, {img}/stages.png (raw results: {raw})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
