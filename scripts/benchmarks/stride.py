"""Output stride x input shape, measured: every combination of --output-stride 8|16 and 513x513,
513x289 (16:9), 513x385 (4:3), float32 and int8 (the converter's auto recipe), for the shared graphs.

For each model: size, mIoU and person IoU on the labelled images as they are and centre-cropped to
the model's aspect (what a frame-shaped model is made for; the stride-8 513 float baseline sees
the same crops), label agreement with that baseline, and latency with ai_edge_litert at 2 threads,
measured interleaved over all models of one graph so that a busy machine slows them alike (report
ratios, not milliseconds). Writes one JSON file.

    .venv-full/bin/python -m scripts.benchmarks.stride --out docs/measurements/stride.json
    .venv-full/bin/python -m scripts.benchmarks.stride --latency DIR --out docs/measurements/latency.json

The second form measures only the latency of every .tflite in DIR (the models the first one left in
its temporary folder), all interleaved in one run, so that models of both graphs compare directly.
docs/CONVERTER.md's table is made from these files; not a section of docs/BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from pibokeh.accuracy import confusion, summarize
from pibokeh.convert import quantize, recipe, shapes, stride
from pibokeh.convert.graph import choose_cut, fold_dequantize, load_graph
from pibokeh.convert.validate import crop_pairs
from pibokeh.evaluate import find_pairs
from pibokeh.media.images import read_image, to_bgr8
from pibokeh.model import open_model
from pibokeh.model.labels import PERSON

from .inputs import SHARED

GRAPHS = {"dm10": "deeplabv3_mnv2_dm10_pascal_weightquant.pb", "dm05": "deeplabv3_mnv2_dm05_pascal.pb"}
SIZES = [(513, 513), (289, 513), (385, 513)]
STRIDES = [8, 16]


def labels_of(model: Path, folder: Path, threads: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    seg = open_model(model, backend="ai_edge_litert", threads=threads)
    out = {}
    for image_path, gt_path in find_pairs(folder):
        out[image_path.stem] = (seg.classes(to_bgr8(read_image(image_path))), read_image(gt_path))
    return out


def score(pred: dict, base: dict | None) -> dict:
    conf = np.zeros((21, 21), np.int64)
    same = total = 0
    for key, (labels, truth) in pred.items():
        conf += confusion(labels, truth, 21)
        if base is not None:
            same += int(np.sum(labels == base[key][0]))
            total += labels.size
    s = summarize(conf, [str(i) for i in range(21)])
    return {"miou": s["miou"], "person_iou": s["iou"].get(str(PERSON)), "pixel_accuracy": s["pixel_accuracy"],
            "agreement_with_baseline": same / total if total else None}


def interleaved_latency(models: dict[str, Path], threads: int, rounds: int) -> dict[str, float]:
    segs = {k: open_model(p, backend="ai_edge_litert", threads=threads) for k, p in models.items()}
    rng = np.random.default_rng(0)
    inputs = {k: rng.integers(0, 255, s.input_size + (3,), dtype=np.uint8) for k, s in segs.items()}
    for k, s in segs.items():
        s.infer(inputs[k])
    times = {k: [] for k in segs}
    for _ in range(rounds):
        for k, s in segs.items():
            start = time.perf_counter()
            s.infer(inputs[k])
            times[k].append(1000 * (time.perf_counter() - start))
    return {k: float(np.median(v)) for k, v in times.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m scripts.benchmarks.stride", description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--graphs", default="dm10,dm05")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--calib-count", type=int, default=100)
    ap.add_argument("--latency", type=Path, metavar="DIR", help="only the latency of DIR/*.tflite, interleaved")
    args = ap.parse_args(argv)
    if args.latency:
        models = {p.stem: p for p in sorted(args.latency.glob("*.tflite"))}
        latency = interleaved_latency(models, args.threads, args.rounds)
        reference = latency.get("dm10_os8_513x513_int8") or max(latency.values())
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"threads": args.threads, "backend": "ai_edge_litert", "rounds": args.rounds,
                                        "median_ms": latency,
                                        "ratio_vs_dm10_os8_513x513_int8": {k: v / reference
                                                                           for k, v in latency.items()}},
                                       indent=2) + "\n")
        print(f"wrote {args.out}", file=sys.stderr)
        return 0
    voc, calib = SHARED / "voc", SHARED / "calib"
    calibration = quantize.calibration_images(calib, args.calib_count)
    keep, strict = recipe.keep_float("auto", "int8")
    results: dict = {"threads": args.threads, "backend": "ai_edge_litert", "images": len(find_pairs(voc)),
                     "calibration_images": len(calibration), "graphs": {}}
    work = Path(tempfile.mkdtemp(prefix="pibokeh-measure-"))
    crops, cropped = {}, {}
    for size in SIZES:
        if size[0] != size[1]:
            crops[size], cropped[shapes.text(size)] = crop_pairs(voc, size, work / f"voc_{shapes.text(size)}")
    results["cropped_images"] = cropped
    for name in args.graphs.split(","):
        graph, _ = fold_dequantize(load_graph(SHARED / "frozen_graphs" / GRAPHS[name]))
        cut = choose_cut(graph)
        models, rows = {}, {}
        for os_ in STRIDES:
            rewritten, _ = stride.set_output_stride(graph, os_)
            for size in SIZES:
                for mode in ("float32", "int8"):
                    key = f"os{os_}_{shapes.text(size)}_{mode}"
                    start = time.perf_counter()
                    if mode == "float32":
                        data = quantize.convert(rewritten, cut, size, "float32")
                        floats = data
                    else:
                        data = quantize.convert(rewritten, cut, size, "int8", calibration, keep_float=keep,
                                                strict=strict, float_model=floats)
                    path = work / f"{name}_{key}.tflite"
                    path.write_bytes(data)
                    models[key] = path
                    rows[key] = {"output_stride": os_, "width": size[1], "height": size[0], "quant": mode,
                                 "size_bytes": path.stat().st_size,
                                 "convert_s": round(time.perf_counter() - start, 1)}
                    print(f"{name} {key}: converted in {rows[key]['convert_s']} s", file=sys.stderr, flush=True)
        base_key = "os8_513x513_float32"
        base_plain = labels_of(models[base_key], voc, args.threads)
        base_crop = {size: labels_of(models[base_key], folder, args.threads) for size, folder in crops.items()}
        for key, path in models.items():
            row = rows[key]
            size = (row["height"], row["width"])
            row["voc"] = score(labels_of(path, voc, args.threads), base_plain)
            if size in crops:
                row["voc_cropped_to_aspect"] = score(labels_of(path, crops[size], args.threads), base_crop[size])
                row["voc_cropped_to_aspect"]["baseline_miou"] = score(base_crop[size], None)["miou"]
                row["voc_cropped_to_aspect"]["baseline_person_iou"] = score(base_crop[size], None)["person_iou"]
            print(f"{name} {key}: mIoU {row['voc']['miou']:.4f}", file=sys.stderr, flush=True)
        latency = interleaved_latency(models, args.threads, args.rounds)
        for key, ms in latency.items():
            rows[key]["latency_ms"] = ms
            rows[key]["latency_ratio_vs_os8_513_int8"] = ms / latency["os8_513x513_int8"]
            rows[key]["latency_ratio_vs_os8_513_float32"] = ms / latency[base_key]
        results["graphs"][name] = {"file": GRAPHS[name], "models": rows}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
