#!/usr/bin/env python3
"""The reference pipeline against pibokeh's default path, on the same frames, in one run.

Reference (the DeepLab background-blur notebook, as docs/DESIGN describes it): resize the frame so
its longest side is 513, run the TF1 frozen graph (ImageTensor -> SemanticPredictions) in a
tf.compat.v1 session, class mask -> resize -> Gaussian 15 -> Otsu, and blend with a full-resolution
GaussianBlur(251). Default: `pibokeh blur` as shipped (an int8 TFLite model -- letterboxed, or fed
unpadded when it is frame-shaped like 513x289 for 16:9 -- and the halo-free fast blur). All of them
time the same stages of the same decoded frame, interleaved frame by frame (the reference, then each
--model) so a busy machine slows them alike; the report is ratios, plus how well the masks agree.

Also (--quant): float32 / fp16 / dynamic / int8 models at 513 and 257, 1 and 2 threads, with
ai_edge_litert and tflite_runtime, through `pibokeh bench` in a subprocess per backend (running the
TF converter and tflite_runtime in one process can abort). Models are converted with
`pibokeh-convert` when it is installed, into --workdir (kept, so a second run converts nothing).

Needs the full environment (TensorFlow). Prints a report, or one JSON object with --json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np
from pibokeh import bench, core
from pibokeh import styles
from pibokeh.chain import Chain, Recipe
from pibokeh.errors import InputError, ModelError
from pibokeh.evaluate import find_pairs
from pibokeh.media.images import encode_image, read_image, to_bgr8
from pibokeh.model.labels import LABELS, class_ids
from pibokeh.accuracy import confusion, summarize
from pibokeh.model import Backend, letterbox, open_model
from pibokeh.options import frame_size

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PIBOKEH_SHARED", ROOT.parent / "shared" / "data"))
REFERENCE_GRAPH = SHARED / "frozen_graphs" / "deeplabv3_mnv2_dm10_pascal_weightquant.pb"
DEFAULT_MODEL = SHARED / "models" / "deeplabv3_mnv2_pascal_quant.tflite"
VIDEO = SHARED / "video" / "person_handwave_854x480.mp4"
PREBUILT = [SHARED / "models" / name for name in (
    "deeplabv3_mnv2_pascal_quant.tflite", "deeplabv3_mnv2_dm05_pascal_quant.tflite", "deeplabv3_257_mv_gpu.tflite")]
QUANT_MODES = ("float32", "fp16", "dynamic", "int8")
REFERENCE_SIZE = 513
STAGES = bench.STAGES


# ---- the reference ------------------------------------------------------------------------------

class ReferenceGraph:
    """The TF1 frozen graph in a tf.compat.v1 session, fed the way the notebook feeds it."""

    def __init__(self, graph: Path, threads: int):
        import tensorflow as tf  # the full environment only
        graph_def = tf.compat.v1.GraphDef()
        try:
            graph_def.ParseFromString(graph.read_bytes())
        except Exception as exc:  # OSError, or protobuf's own DecodeError
            raise InputError(f"{graph}: not a readable frozen graph ({type(exc).__name__})") from None
        self.graph = tf.Graph()
        with self.graph.as_default():
            tf.compat.v1.import_graph_def(graph_def, name="")
        config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=threads, inter_op_parallelism_threads=1)
        self.session = tf.compat.v1.Session(graph=self.graph, config=config)
        self.path, self.threads = graph, threads

    def preprocess(self, frame: np.ndarray) -> np.ndarray:
        """RGB, longest side 513: the letterbox without its padding (the same resize, cropped)."""
        rgb, (height, width) = letterbox(frame, (REFERENCE_SIZE, REFERENCE_SIZE))
        return rgb[:height, :width]

    def infer(self, rgb: np.ndarray) -> np.ndarray:
        return self.session.run("SemanticPredictions:0", {"ImageTensor:0": rgb[None]})[0].astype(np.uint8)


def time_reference(ref: ReferenceGraph, frame: np.ndarray, ids: Sequence[int], kernel: int
                   ) -> tuple[list[float], np.ndarray]:
    """The reference's four steps on a decoded frame: (ms per stage after decode, mask)."""
    clock = time.perf_counter
    t1 = clock()
    rgb = ref.preprocess(frame)
    t2 = clock()
    labels = ref.infer(rgb)
    t3 = clock()
    mask = core.frame_mask(labels, ids, frame.shape[:2])
    t4 = clock()
    background = core.exact_blur(frame, kernel)
    t5 = clock()
    out = core.blend(frame, background, mask)
    t6 = clock()
    encode_image(out, ".jpg")
    t7 = clock()
    return [(b - a) * 1000.0 for a, b in zip((t1, t2, t3, t4, t5, t6), (t2, t3, t4, t5, t6, t7))], mask


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def compare(ref: ReferenceGraph, segs: Sequence[Backend], frames: bench.Frames, count: int, warmup: int,
            ids: Sequence[int], kernel: int) -> list[dict[str, Any]]:
    """Reference and every default-path model on the same frames, interleaved frame by frame (so a
    busy machine slows them alike); per model: speed ratios against the reference, mask agreement."""
    recipe = Recipe(tuple(ids), styles.Style(styles.Blur(kernel)))
    clocks = [bench.StageClock() for _ in segs]
    chains = [Chain(seg, recipe, clock.record) for seg, clock in zip(segs, clocks)]
    ref_rows: list[list[float]] = []
    rows: list[list[list[float]]] = [[] for _ in segs]
    blur = {"exact_blur": [], "fast_blur": [], "psnr_fast": []}
    background = [[] for _ in segs]
    counts = [dict(same=0, total=0, inter=0, union=0) for _ in segs]
    for i in range(warmup + count):
        t0 = time.perf_counter()
        frame = frames.decode()
        decode_ms = (time.perf_counter() - t0) * 1000.0
        ref_times, ref_mask = time_reference(ref, frame, ids, kernel)
        results = [bench.time_stages(chain, frame, clock) for chain, clock in zip(chains, clocks)]
        # the fast background alone, for the blur target (exact_blur is the reference's background stage)
        t0 = time.perf_counter()
        fast = core.fast_blur(frame, kernel)
        fast_ms = (time.perf_counter() - t0) * 1000.0
        if i < warmup:
            continue
        ref_rows.append([decode_ms] + ref_times)
        blur["exact_blur"].append(ref_times[STAGES.index("background") - 1])
        blur["fast_blur"].append(fast_ms)
        blur["psnr_fast"].append(psnr(fast, core.exact_blur(frame, kernel)))
        a = ref_mask > 127
        for j, (def_times, def_mask, _) in enumerate(results):
            rows[j].append([decode_ms] + def_times)
            background[j].append(def_times[STAGES.index("background") - 1])
            b = def_mask > 127
            c = counts[j]
            c["same"] += int(np.count_nonzero(a == b))
            c["total"] += a.size
            c["inter"] += int(np.count_nonzero(a & b))
            c["union"] += int(np.count_nonzero(a | b))
    reference = _stage_summary(ref_rows)
    medians = {k: float(np.median(v)) for k, v in blur.items() if k != "psnr_fast"}
    out = []
    for seg, table, bg, c in zip(segs, rows, background, counts):
        result: dict[str, Any] = {"model": str(seg.path), "backend": seg.backend, "size": list(frames.size),
                                  "frames": count, "input_size": list(seg.input_size), "models_interleaved": len(segs),
                                  "reference": reference, "default": _stage_summary(table)}
        ref_stages, def_stages = reference["stages"], result["default"]["stages"]
        result["speedup"] = {s: _ratio(ref_stages[s]["median_ms"], def_stages[s]["median_ms"]) for s in STAGES}
        result["speedup"]["end_to_end"] = _ratio(reference["end_to_end"]["median_ms"],
                                                 result["default"]["end_to_end"]["median_ms"])
        background_ms = float(np.median(bg))
        result["blur"] = {**{k: round(v, 3) for k, v in medians.items()}, "background_blur": round(background_ms, 3),
                          "fast_speedup": _ratio(medians["exact_blur"], medians["fast_blur"]),
                          "background_blur_speedup": _ratio(medians["exact_blur"], background_ms),
                          "fast_psnr_db": round(float(np.mean(blur["psnr_fast"])), 2)}
        result["mask_agreement"] = round(c["same"] / c["total"], 5)
        result["mask_iou"] = round(c["inter"] / c["union"], 5) if c["union"] else 1.0
        out.append(result)
    return out


def _stage_summary(table: Sequence[Sequence[float]]) -> dict[str, Any]:
    arr = np.array(table)
    return {"stages": {s: bench.summary(arr[:, j]) for j, s in enumerate(STAGES)},
            "end_to_end": bench.summary(arr.sum(axis=1))}


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b > 0 else None


def reference_accuracy(ref: ReferenceGraph, folder: Path) -> dict[str, Any]:
    """Pixel accuracy and mIoU of the frozen graph on `folder` (the eval pairs), fed like the notebook."""
    num = len(LABELS)
    total = np.zeros((num, num), np.int64)
    pairs = find_pairs(folder)
    for image_path, gt_path in pairs:
        frame = to_bgr8(read_image(image_path))
        labels = ref.infer(ref.preprocess(frame))
        full = cv2.resize(labels, (frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_NEAREST)
        total += confusion(full, read_image(gt_path), num)
    return {**summarize(total, LABELS), "images": len(pairs)}


# ---- quantisation matrix ------------------------------------------------------------------------

def converter() -> list[str] | None:
    """The pibokeh-convert command, when the converter is installed."""
    exe = shutil.which("pibokeh-convert") or str(Path(sys.executable).with_name("pibokeh-convert"))
    if not Path(exe).is_file():
        return None
    # an installed entry point whose package is not there yet fails at import: not a converter
    probe = subprocess.run([exe, "--help"], capture_output=True, text=True)
    return [exe] if probe.returncode == 0 else None


def convert_models(graph: Path, workdir: Path, sizes: Sequence[int], calib: Path | None,
                   log=lambda message: None) -> tuple[list[Path], list[dict[str, str]]]:
    """float32/fp16/dynamic/int8 at each size, converted with pibokeh-convert (kept between runs)."""
    command = converter()
    if command is None:
        return [], [{"model": "converted models", "reason": "pibokeh-convert is not installed"}]
    workdir.mkdir(parents=True, exist_ok=True)
    made, failed = [], []
    for size in sizes:
        for mode in QUANT_MODES:
            out = workdir / f"{graph.stem}_{size}_{mode}.tflite"
            if not out.is_file():
                args = command + [str(graph), "-o", str(out), "--quant", mode, "--size", str(size)]
                if mode == "int8" and calib is not None:
                    args += ["--calib", str(calib)]
                log(f"converting {out.name}")
                proc = subprocess.run(args, capture_output=True, text=True)
                if proc.returncode != 0 or not out.is_file():
                    reason = (proc.stderr.strip().splitlines() or ["failed"])[-1]
                    failed.append({"model": out.name, "reason": reason})
                    continue
            made.append(out)
    return made, failed


def quant_matrix(models: Sequence[Path], backends: Sequence[str], threads: Sequence[int], frames: int,
                 video: Path | None, size: tuple[int, int]) -> dict[str, Any]:
    """`pibokeh bench --json` per backend and model, each in its own process (a crash loses one cell)."""
    runs, failed = [], []
    for backend in backends:
        for model in models:
            cmd = [sys.executable, "-m", "pibokeh", "bench", "--json", "--frames", str(frames), "--model", str(model),
                   "--threads", ",".join(map(str, threads)), "--backend", backend, "--size", f"{size[0]}x{size[1]}"]
            if video is not None:
                cmd += ["--input", str(video)]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.stdout.strip():
                out = json.loads(proc.stdout)
                runs.extend(out["runs"])
                failed.extend({**f, "model": f"{Path(f['model']).name} ({backend})"} for f in out["failed"])
            else:
                reason = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
                failed.append({"model": f"{model.name} ({backend})", "reason": reason})
    return {"size": list(size), "frames": frames, "runs": runs, "failed": failed}


# ---- report -------------------------------------------------------------------------------------

def format_report(result: dict[str, Any]) -> str:
    lines = [f"reference: {Path(result['reference_graph']).name} (TF {result['tensorflow']} session, "
             f"{result['threads']} threads), exact blur {result['kernel']}",
             f"default:   {result['backend']}, {result['threads']} threads, fast halo-free blur {result['kernel']}", ""]
    for c in result["comparisons"]:
        lines.append(f"{Path(c['model']).name} at {c['size'][0]}x{c['size'][1]}, {c['frames']} frames: "
                     "median ms (reference / default = speedup)")
        for stage in STAGES + ("end_to_end",):
            r = c["reference"]["stages"][stage] if stage in STAGES else c["reference"]["end_to_end"]
            d = c["default"]["stages"][stage] if stage in STAGES else c["default"]["end_to_end"]
            lines.append(f"  {stage:<12}{r['median_ms']:>10.2f}{d['median_ms']:>10.2f}"
                         f"{c['speedup'][stage] or 0:>9.2f}x")
        b = c["blur"]
        lines.append(f"  blur: exact {b['exact_blur']:.1f} ms, fast {b['fast_blur']:.2f} ms "
                     f"({b['fast_speedup']:.1f}x, {b['fast_psnr_db']:.1f} dB PSNR), halo-free "
                     f"{b['background_blur']:.2f} ms ({b['background_blur_speedup']:.1f}x)")
        lines.append(f"  mask agreement {100 * c['mask_agreement']:.2f} %, foreground IoU {c['mask_iou']:.4f}")
        lines.append("")
    if result.get("reference_accuracy"):
        acc = result["reference_accuracy"]
        lines.append(f"reference on {acc['images']} VOC pairs: pixel accuracy {acc['pixel_accuracy']:.4f}, "
                     f"mIoU {acc['miou']:.4f}")
    quant = result.get("quant")
    if quant:
        lines.append(f"models at {quant['size'][0]}x{quant['size'][1]}, {quant['frames']} frames: "
                     "median inference ms")
        for run in quant["runs"]:
            lines.append(f"  {Path(run['model']).name:<52}{run['backend']:<16}{run['threads']:>2} thr"
                         f"{run['stages']['inference']['median_ms']:>10.1f}")
        for fail in quant["failed"]:
            lines.append(f"  {fail['model']}: not measured ({fail['reason']})")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--graph", type=Path, default=REFERENCE_GRAPH, help="TF1 frozen graph (reference)")
    parser.add_argument("--model", type=Path, action="append",
                        help="TFLite model of the default path, square (letterboxed like the reference) or "
                             "frame-shaped (e.g. 513x289 for 16:9, fed unpadded); repeat to compare several, all "
                             "interleaved frame by frame with the reference in one run "
                             f"(default: {DEFAULT_MODEL.name})")
    parser.add_argument("--input", type=Path, default=VIDEO, help="video or image to take frames from")
    parser.add_argument("--sizes", type=lambda t: [frame_size(s) for s in t.split(",")],
                        default=[(640, 480), (1920, 1080)], metavar="WxH[,WxH]")
    parser.add_argument("--frames", type=int, default=10, help="timed frames per size (default: 10)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2, help="threads for both pipelines (default: 2)")
    parser.add_argument("--classes", default="person")
    parser.add_argument("--voc", type=Path, default=None, help="also the reference's mIoU on these eval pairs")
    parser.add_argument("--quant", action="store_true",
                        help="also the float32/fp16/dynamic/int8 x 513/257 x threads x backends matrix")
    parser.add_argument("--quant-models", type=Path, nargs="*", default=None,
                        help="models for the matrix (default: converted ones plus the prebuilt ones)")
    parser.add_argument("--quant-threads", default="1,2")
    parser.add_argument("--quant-backends", default="ai_edge_litert,tflite_runtime")
    parser.add_argument("--quant-frames", type=int, default=5)
    parser.add_argument("--quant-graph", type=Path, default=REFERENCE_GRAPH, help="graph to convert for the matrix")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "pibokeh-bench-models",
                        help="where converted models are kept (default: %(default)s)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    log = lambda message: print(f"bench_reference: {message}", file=sys.stderr)  # noqa: E731
    try:
        return run(args, log)
    except (InputError, ModelError, ValueError) as exc:
        print(f"bench_reference: error: {exc}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace, log) -> int:
    models = args.model or [DEFAULT_MODEL]
    for path in (args.graph, args.input, *models):
        if not path.exists():
            raise InputError(f"{path}: no such file (is ../shared/data beside the repository?)")
    ids = class_ids(args.classes)
    import tensorflow as tf
    ref = ReferenceGraph(args.graph, args.threads)
    segs = [open_model(model, threads=args.threads) for model in models]
    result: dict[str, Any] = {"host": bench.host(), "tensorflow": tf.__version__, "reference_graph": str(args.graph),
                              "model": str(models[0]), "models": [str(m) for m in models],
                              "backend": segs[0].backend, "threads": args.threads, "kernel": styles.BLUR_KERNEL,
                              "classes": ids, "comparisons": []}
    for size in args.sizes:
        log(f"reference vs {', '.join(seg.path.name for seg in segs)} at {size[0]}x{size[1]}, interleaved")
        with tempfile.TemporaryDirectory(prefix="pibokeh-ref-") as tmp:
            frames = bench.prepare_frames([str(args.input)], size, args.frames + args.warmup, Path(tmp))
            try:
                result["comparisons"] += compare(ref, segs, frames, args.frames, args.warmup, ids, styles.BLUR_KERNEL)
            finally:
                frames.close()
    if args.voc:
        log(f"reference accuracy on {args.voc}")
        result["reference_accuracy"] = reference_accuracy(ref, args.voc)
    if args.quant:
        models, failed = list(args.quant_models or []), []
        if args.quant_models is None:
            models, failed = convert_models(args.quant_graph, args.workdir, (513, 257), SHARED / "calib", log)
            models += [p for p in PREBUILT if p.is_file()]
        log(f"model matrix: {len(models)} models")
        quant = quant_matrix(models, args.quant_backends.split(","), [int(t) for t in args.quant_threads.split(",")],
                             args.quant_frames, args.input if args.input.suffix == ".mp4" else None, args.sizes[0])
        quant["failed"] = failed + quant["failed"]
        result["quant"] = quant
    print(json.dumps(result) if args.json else format_report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
