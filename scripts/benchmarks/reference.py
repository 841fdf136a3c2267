"""The reference pipeline against pibokeh's default path, on the same frames, in one run.

Reference (reference_graph.py): the TF1 frozen graph in a session at longest side 513, exact
GaussianBlur(251). Default: `pibokeh blur` as shipped -- the chain (pibokeh.chain) with an int8
TFLite model (letterboxed, or fed unpadded when it is frame-shaped like 513x289 for 16:9) and the
halo-free fast blur. Every stage of the same decoded frame is timed, interleaved frame by frame (the
reference, then each model) so a busy machine slows them alike: the figures are ratios, plus how
well the masks agree. Needs the full environment (TensorFlow).

    python -m scripts.benchmarks.reference --sizes 640x480 --frames 3 --no-convert
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from pibokeh import bench, core, styles
from pibokeh.chain import STAGES, Chain, Recipe
from pibokeh.model import Backend, open_model
from pibokeh.model.labels import class_ids
from pibokeh.options import frame_size

from . import cli, inputs, quantization
from .figures import figure
from .markdown import count, met, paragraphs, pct, size, table
from .reference_graph import ReferenceGraph, reference_accuracy, time_reference

SIZES = ((640, 480), (1920, 1080))
SPEEDUP_GOAL, AGREEMENT_GOAL, BLUR_GOAL = 10.0, 0.97, 20.0  # the targets of the page


# ---- measuring ----------------------------------------------------------------------------------

def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


class _Agreement:
    """Pixels of the default path's masks equal to the reference's, and the foreground IoU."""

    def __init__(self) -> None:
        self.same = self.total = self.inter = self.union = 0

    def add(self, reference: np.ndarray, mask: np.ndarray) -> None:
        a, b = reference > 127, mask > 127
        self.same += int(np.count_nonzero(a == b))
        self.total += a.size
        self.inter += int(np.count_nonzero(a & b))
        self.union += int(np.count_nonzero(a | b))

    def result(self) -> dict[str, float]:
        return {"mask_agreement": round(self.same / self.total, 5),
                "mask_iou": round(self.inter / self.union, 5) if self.union else 1.0}


def compare(ref: ReferenceGraph, segs: Sequence[Backend], frames: bench.Frames, count: int, warmup: int,
            ids: Sequence[int], kernel: int) -> list[dict[str, Any]]:
    """Reference and every default-path model on the same frames, interleaved frame by frame; per
    model: ms per stage of both, speed ratios against the reference, mask agreement."""
    clocks = [bench.StageClock() for _ in segs]
    chains = [Chain(seg, Recipe(tuple(ids), styles.Style(styles.Blur(kernel))), clock.record)
              for seg, clock in zip(segs, clocks)]
    ref_rows: list[list[float]] = []
    rows: list[list[list[float]]] = [[] for _ in segs]
    fast_ms, fast_psnr = [], []
    agreements = [_Agreement() for _ in segs]
    for i in range(warmup + count):
        start = time.perf_counter()
        frame = frames.decode()
        decode_ms = (time.perf_counter() - start) * 1000.0
        ref_times, ref_mask = time_reference(ref, frame, ids, kernel)
        timed = [bench.time_stages(chain, frame, clock) for chain, clock in zip(chains, clocks)]
        start = time.perf_counter()  # the fast blur alone (exact_blur is the reference's background stage)
        fast = core.fast_blur(frame, kernel)
        blur_ms = (time.perf_counter() - start) * 1000.0
        if i < warmup:
            continue
        ref_rows.append([decode_ms] + ref_times)
        fast_ms.append(blur_ms)
        fast_psnr.append(psnr(fast, core.exact_blur(frame, kernel)))
        for j, (times, mask, _) in enumerate(timed):
            rows[j].append([decode_ms] + times)
            agreements[j].add(ref_mask, mask)
    reference = _stage_summary(ref_rows)
    exact = reference["stages"]["background"]["median_ms"]
    fast = float(np.median(fast_ms))
    out = []
    for seg, table_, agreement in zip(segs, rows, agreements):
        default = _stage_summary(table_)
        speedup = {s: _ratio(reference["stages"][s]["median_ms"], default["stages"][s]["median_ms"]) for s in STAGES}
        speedup["end_to_end"] = _ratio(reference["end_to_end"]["median_ms"], default["end_to_end"]["median_ms"])
        halo_free = default["stages"]["background"]["median_ms"]
        out.append({"model": str(seg.path), "backend": seg.backend, "size": list(frames.size), "frames": count,
                    "input_size": list(seg.input_size), "models_interleaved": len(segs),
                    "reference": reference, "default": default, "speedup": speedup,
                    "blur": {"exact_blur": round(exact, 3), "fast_blur": round(fast, 3),
                             "background_blur": round(halo_free, 3), "fast_speedup": _ratio(exact, fast),
                             "background_blur_speedup": _ratio(exact, halo_free),
                             "fast_psnr_db": round(float(np.mean(fast_psnr)), 2)},
                    **agreement.result()})
    return out


def _stage_summary(table_: Sequence[Sequence[float]]) -> dict[str, Any]:
    arr = np.array(table_)
    return {"stages": {s: bench.summary(arr[:, j]) for j, s in enumerate(STAGES)},
            "end_to_end": bench.summary(arr.sum(axis=1))}


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b > 0 else None


def default_models(convert: bool = True, workdir: Path = quantization.WORKDIR) -> list[Path]:
    """The default path's models: the int8 513 model converted from the reference graph itself (when
    the converter is here), Coral's, then the smaller prebuilt ones (which trade-off meets what)."""
    converted = []
    if convert:
        converted, _ = quantization.convert_models(inputs.REFERENCE_GRAPH, workdir, (513,), modes=("int8",))
    return converted + [p for p in inputs.PREBUILT if p.is_file()]


def measure(models: Sequence[Path] | None = None, graph: Path = inputs.REFERENCE_GRAPH, video: Path = inputs.VIDEO,
            sizes: Sequence[tuple[int, int]] = SIZES, frames: int = 10, warmup: int = 1, threads: int = 2,
            classes: str = "person", voc: Path | None = inputs.VOC, convert: bool = True) -> dict[str, Any]:
    """The reference and `models` (default: `default_models`) at every size; with `voc`, also the
    reference graph's accuracy on those labelled pairs."""
    models = list(models) if models else default_models(convert)
    inputs.require(graph, video, *models, *([voc] if voc else []))
    ids = class_ids(classes)
    ref = ReferenceGraph(graph, threads)
    segs = [open_model(model, threads=threads) for model in models]
    data: dict[str, Any] = {"tensorflow": ref.tensorflow, "reference_graph": str(graph), "models": [str(m) for m in models],
                            "backend": segs[0].backend, "threads": threads, "kernel": styles.BLUR_KERNEL,
                            "classes": ids, "comparisons": []}
    for wh in sizes:
        with tempfile.TemporaryDirectory(prefix="pibokeh-ref-") as tmp:
            frame_source = bench.prepare_frames([str(video)], wh, frames + warmup, Path(tmp))
            try:
                data["comparisons"] += compare(ref, segs, frame_source, frames, warmup, ids, styles.BLUR_KERNEL)
            finally:
                frame_source.close()
    if voc:
        data["reference_accuracy"] = reference_accuracy(ref, voc)
    return data


# ---- the section --------------------------------------------------------------------------------

STAGE_TABLE = table(["stage", "default path (the runtime's own functions, through `pibokeh.chain`)", "reference"], [
    ["decode", "`media.video.VideoFileSource.read` (or `media.images.read_image`)", "the same"],
    ["preprocess", "`Backend.prepare` (`model.preprocess.fit_input`): resize to the model's input (by 2x2 halvings "
     "first when it is half the frame or less; letterboxed when its aspect differs), BGR→RGB",
     "the same resize, unpadded (longest side 513)"],
    ["inference", "`Backend.infer`: input tensor, invoke, class map (arg-max of scores)", "`sess.run(SemanticPredictions)`"],
    ["mask", "`Backend.crop` + `core.frame_mask`: class mask, resize, Gaussian 15, Otsu", "the same (`core.frame_mask`)"],
    ["background", "`core.background_blur` (halo-free, made at 1/8 scale by 2x2 halvings at 1080p)",
     "`core.exact_blur` (GaussianBlur 251)"],
    ["blend", "`core.blend`", "the same"],
    ["encode", "`media.images.encode_image` as JPEG", "the same"]])


def label(model: str) -> str:
    return quantization.describe_model(model)[0]


def largest(data: dict[str, Any], model: str) -> dict[str, Any] | None:
    """`model`'s comparison at the largest frame size."""
    return max((c for c in data["comparisons"] if c["model"] == model), key=lambda c: c["size"][0] * c["size"][1],
               default=None)


def _targets(data: dict[str, Any]) -> str:
    rows = []
    for model in data["models"][:2]:  # the int8 513 default-path models; the rest are in the tables below
        c = largest(data, model)
        e2e, agree = c["speedup"]["end_to_end"], c["mask_agreement"]
        rows.append([f"end to end, default ({label(model)}) vs reference, {size(c['size'])}", f">= {SPEEDUP_GOAL:.0f}x",
                     f"{e2e:.1f}x", met(e2e >= SPEEDUP_GOAL)])
        rows.append([f"mask agreement of {label(model)} with the reference, {size(c['size'])}",
                     f">= {pct(AGREEMENT_GOAL, 0)}", f"{pct(agree, 2)} (foreground IoU {c['mask_iou']:.3f})",
                     met(agree >= AGREEMENT_GOAL)])
    blur = largest(data, data["models"][0])["blur"]
    at = size(largest(data, data["models"][0])["size"])
    rows.append([f"`fast_blur` vs exact 251x251 blur, {at}", f">= {BLUR_GOAL:.0f}x",
                 f"{blur['fast_speedup']:.1f}x ({blur['fast_psnr_db']:.1f} dB PSNR)", met(blur["fast_speedup"] >= BLUR_GOAL)])
    rows.append([f"default halo-free `background_blur` vs exact blur, {at}", f"(>= {BLUR_GOAL:.0f}x)",
                 f"{blur['background_blur_speedup']:.1f}x", met(blur["background_blur_speedup"] >= BLUR_GOAL)])
    return table(["target", "goal", "measured", ""], rows)


def _notes(data: dict[str, Any]) -> str:
    """What the figures say about the targets that were missed, from the figures themselves."""
    big = largest(data, data["models"][0])
    at, lines = size(big["size"]), []
    if big["speedup"]["end_to_end"] < SPEEDUP_GOAL:
        ref_ms, d = big["reference"]["end_to_end"]["median_ms"], big["default"]["stages"]
        infer = d["inference"]["median_ms"]
        lines.append(
            f"- **End to end at {at}.** The reference takes {ref_ms:.0f} ms a frame, the default "
            f"{big['default']['end_to_end']['median_ms']:.0f} ms, of which inference is {infer:.0f} ms and the "
            f"halo-free background {d['background']['median_ms']:.0f} ms. With this model even a free "
            f"post-processing would give at most {ref_ms / infer:.1f}x: the int8 model is only "
            f"{big['speedup']['inference']:.1f}x faster than TensorFlow running the float graph. What closes the "
            "gap: the fast models (output stride 16, the frame's shape; see *Fast models*).")
    for model in data["models"][:2]:
        c = largest(data, model)
        if c["mask_agreement"] < AGREEMENT_GOAL:
            lines.append(
                f"- **Mask agreement** of {label(model)} with the reference is {pct(c['mask_agreement'], 2)} at {at} "
                f"(foreground IoU {c['mask_iou']:.3f}). The reference runs the float graph; the masks differ where "
                "the models do (int8 weights and activations, output stride, letterbox padding), not in the shared "
                "mask code." + ("" if label(model).startswith("converted") else " An int8 model converted from the "
                                "reference graph itself is the one to hold to this target."))
    blur = big["blur"]
    if blur["background_blur_speedup"] < BLUR_GOAL <= blur["fast_speedup"]:
        lines.append(f"- **Blur.** `fast_blur` alone meets the target ({blur['fast_speedup']:.0f}x); the default "
                     f"halo-free `background_blur` is {blur['background_blur_speedup']:.1f}x: it also downscales and "
                     "grows the mask, and weights the blur by it.")
    return "\n".join(lines)


def _method(data: dict[str, Any]) -> str:
    return (f"Reference: the notebook's pipeline — `{Path(data['reference_graph']).name}` in a `tf.compat.v1` session "
            f"(TF {data['tensorflow']}, {data['threads']} threads) at longest side 513, mask → Gaussian 15 → Otsu, "
            f"full-resolution `GaussianBlur(251)`. Default: `pibokeh blur` as shipped — an int8 model ({data['backend']}, "
            f"{data['threads']} threads), letterboxed (or fed unpadded when frame-shaped), the same mask steps, "
            "halo-free fast blur. Frames: the shared video, scaled to cover each size. At each size the reference and "
            "all default models run interleaved frame by frame in one run. Median ms per frame; speedup = reference / "
            "default.")


def _summary(data: dict[str, Any]) -> str:
    rows = [[label(c["model"]), size(c["size"]), f"{c['reference']['end_to_end']['median_ms']:.0f}",
             f"{c['default']['end_to_end']['median_ms']:.0f}", f"{c['speedup']['inference']:.1f}x",
             f"**{c['speedup']['end_to_end']:.1f}x**", f"{pct(c['mask_agreement'], 2)}", f"{c['mask_iou']:.3f}"]
            for c in data["comparisons"]]
    return table(["default-path model", "frame size", "reference ms", "default ms", "inference speedup",
                  "end-to-end speedup", "mask agreement", "foreground IoU"], rows)


def _per_stage(c: dict[str, Any]) -> str:
    rows = []
    for stage in STAGES + ("end_to_end",):
        r = c["reference"]["stages"].get(stage, c["reference"]["end_to_end"])
        d = c["default"]["stages"].get(stage, c["default"]["end_to_end"])
        rows.append(["**end to end**" if stage == "end_to_end" else stage, f"{r['median_ms']:.1f}", f"{r['p90_ms']:.1f}",
                     f"{d['median_ms']:.1f}", f"{d['p90_ms']:.1f}", f"{c['speedup'][stage]:.2f}x"])
    b = c["blur"]
    return paragraphs(
        f"### {label(c['model'])} (`{Path(c['model']).name}`), {size(c['size'])}, {count(c['frames'], 'frame')}",
        table(["stage", "reference median", "p90", "default median", "p90", "speedup"], rows),
        f"Blur alone: exact {b['exact_blur']:.1f} ms, `fast_blur` {b['fast_blur']:.1f} ms ({b['fast_speedup']:.1f}x, "
        f"{b['fast_psnr_db']:.1f} dB PSNR against the exact blur), halo-free `background_blur` {b['background_blur']:.1f} "
        f"ms ({b['background_blur_speedup']:.1f}x). Mask agreement {pct(c['mask_agreement'], 2)}, foreground IoU "
        f"{c['mask_iou']:.3f}.")


def _accuracy(data: dict[str, Any]) -> str:
    acc = data.get("reference_accuracy")
    if not acc:
        return ""
    return (f"The reference graph itself on the {acc['images']} labelled VOC pairs (fed like the notebook): "
            f"mIoU {acc['miou']:.3f}, pixel accuracy {acc['pixel_accuracy']:.3f}.")


def render(data: dict[str, Any]) -> str:
    """The section: targets, what each stage is, reference vs default per size and per stage."""
    first_two = [c for c in data["comparisons"] if c["model"] in data["models"][:2]]
    return paragraphs(
        "## Reference vs default, per stage", _targets(data), _notes(data),
        "### What each stage is", STAGE_TABLE, _method(data), _summary(data), _accuracy(data),
        "Per stage, for the first two models:", *map(_per_stage, first_two), "![stage breakdown](img/stages.png)")


STAGE_COLOURS = {"decode": "#8c8c8c", "preprocess": "#bcbd22", "inference": "#1f77b4", "mask": "#2ca02c",
                 "background": "#d62728", "blend": "#9467bd", "encode": "#ff7f0e"}


def plot(data: dict[str, Any], folder: Path) -> None:
    """img/stages.png: the ms of each stage, the reference and the first two models, at each size."""
    bars = []
    for c in (c for c in data["comparisons"] if c["model"] in data["models"][:2]):
        if c["model"] == data["models"][0]:  # the reference once per size: every model shares its frames
            bars.append((f"reference {size(c['size'])}", c["reference"]["stages"]))
        bars.append((f"default {size(c['size'])}\n{label(c['model'])}", c["default"]["stages"]))
    with figure(folder / "stages.png", (7.5, 0.5 * len(bars) + 1.6)) as ax:
        for row, (name, stages) in enumerate(bars):
            left = 0.0
            for stage in STAGES:
                width = stages[stage]["median_ms"]
                ax.barh(row, width, left=left, color=STAGE_COLOURS[stage], label=stage if row == 0 else None)
                left += width
            ax.text(left, row, f" {left:.0f} ms", va="center", fontsize=7)
        ax.set_yticks(range(len(bars)), [name for name, _ in bars], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("median ms per frame, by stage")
        ax.legend(ncol=4, fontsize=7, loc="lower right")
        ax.set_xlim(0, ax.get_xlim()[1] * 1.12)


def main(argv: Sequence[str] | None = None) -> int:
    options = cli.parser("reference", __doc__)
    options.add_argument("--graph", type=Path, default=inputs.REFERENCE_GRAPH, help="TF1 frozen graph (the reference)")
    options.add_argument("--model", type=Path, action="append",
                         help="a TFLite model of the default path, square (letterboxed like the reference) or "
                              "frame-shaped (fed unpadded); repeat to compare several, all interleaved frame by frame "
                              "with the reference (default: the converted int8 513 model and the prebuilt ones)")
    options.add_argument("--no-convert", action="store_true", help="without --model: the prebuilt models only")
    options.add_argument("--input", type=Path, default=inputs.VIDEO, help="video or image to take frames from")
    options.add_argument("--sizes", type=lambda t: [frame_size(s) for s in t.split(",")], default=list(SIZES),
                         metavar="WxH[,WxH]", help="frame sizes (default: 640x480,1920x1080)")
    options.add_argument("--frames", type=int, default=10, help="timed frames per size (default: 10)")
    options.add_argument("--warmup", type=int, default=1)
    options.add_argument("--threads", type=int, default=2, help="threads for both pipelines (default: 2)")
    options.add_argument("--classes", default="person")
    options.add_argument("--voc", type=Path, default=inputs.VOC, help="also the reference's mIoU on these eval pairs")
    options.add_argument("--no-voc", dest="voc", action="store_const", const=None, help="without the reference's mIoU")
    return cli.run("reference", options, lambda args: measure(
        args.model, args.graph, args.input, args.sizes, args.frames, args.warmup, args.threads, args.classes, args.voc,
        convert=not args.no_convert), render, argv)


if __name__ == "__main__":
    sys.exit(main())
