"""Is the quantized model as good as the float one? Agreement, mIoU, person IoU, size, latency,
and a picture - all measured with the edge runtime, so what is validated is what runs on the Pi."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np
from pibokeh.errors import InputError, ModelError
from pibokeh.evaluate import find_pairs
from pibokeh.media.images import read_image, to_bgr8, write_image
from pibokeh.model.labels import PERSON
from pibokeh.accuracy import confusion, summarize
from pibokeh.model import Backend, aspect_matches, open_model

PICTURE_ROWS = 4


def palette(num: int = 256) -> np.ndarray:
    """PASCAL VOC's colour map (class id -> RGB), as BGR for OpenCV."""
    colours = np.zeros((num, 3), np.uint8)
    for label in range(num):
        c, r, g, b = label, 0, 0, 0
        for shift in range(7, -1, -1):
            r |= ((c >> 0) & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        colours[label] = (b, g, r)
    return colours


def _backend(model: Path | Backend, threads: int | None) -> Backend:
    """A model file on ai_edge_litert, or a backend as given (e.g. a Keras model on the CPU)."""
    return model if isinstance(model, Backend) else open_model(model, backend="ai_edge_litert", threads=threads)


def compare(model: Path | Backend, reference: Path | Backend, data: Path, threads: int | None = None,
            tick: Callable[[str], None] = lambda name: None, baseline: Path | Backend | None = None
            ) -> dict[str, Any]:
    """Run both models on the labelled images of `data` (files with ai_edge_litert; backends as given).

    Returns label agreement (fraction of pixels where both predict the same class), pixel accuracy,
    mIoU and person IoU of each against the ground truth, and rows for the picture. With a
    `baseline` (the float stride-8 513x513 model, for a model of another shape or stride), also
    its scores and how much of it the model and the reference agree with, under "baseline":
    models of different shapes are compared at each image's own size, as `classes` returns them.
    """
    quant, ref = _backend(model, threads), _backend(reference, threads)
    base = _backend(baseline, threads) if baseline else None
    num = ref.num_classes
    conf = {"model": np.zeros((num, num), np.int64), "reference": np.zeros((num, num), np.int64)}
    if base:
        conf["baseline"] = np.zeros((num, num), np.int64)
    same = total = 0
    base_same = {"model": 0, "reference": 0}
    rows = []
    for image_path, gt_path in find_pairs(data):
        image, truth = to_bgr8(read_image(image_path)), read_image(gt_path)
        q, r = quant.classes(image), ref.classes(image)
        conf["model"] += confusion(q, truth, num)
        conf["reference"] += confusion(r, truth, num)
        same += int(np.sum(q == r))
        total += q.size
        if base:
            b = base.classes(image)
            conf["baseline"] += confusion(b, truth, num)
            base_same["model"] += int(np.sum(q == b))
            base_same["reference"] += int(np.sum(r == b))
        rows.append((image_path.name, float(np.mean(q != r)), image, r, q))
        tick(image_path.name)
    results: dict[str, Any] = {"images": len(rows), "agreement": same / total if total else 0.0}
    for key, matrix in conf.items():
        summary = summarize(matrix, ref.labels)
        results[key] = {"pixel_accuracy": summary["pixel_accuracy"], "miou": summary["miou"],
                        "person_iou": summary["iou"].get(ref.labels[PERSON])}
    results["miou_drop_points"] = 100 * (results["reference"]["miou"] - results["model"]["miou"])
    if base:
        results["baseline"].update({
            "model": f"{base.path.name} ({base.input_size[1]}x{base.input_size[0]})",
            "agreement": base_same["model"] / total if total else 0.0,
            "reference_agreement": base_same["reference"] / total if total else 0.0,
            "miou_drop_points": 100 * (results["baseline"]["miou"] - results["model"]["miou"]),
            "reference_miou_drop_points": 100 * (results["baseline"]["miou"] - results["reference"]["miou"])})
    # the rows with the most disagreement are the interesting ones to look at
    rows.sort(key=lambda row: -row[1])
    results["_rows"] = rows[:PICTURE_ROWS]
    return results


def crop_pairs(data: Path, aspect: tuple[int, int], folder: Path) -> tuple[Path, int]:
    """The labelled images of `data` centre-cropped, with their ground truth, to the aspect of an
    (h, w) input, written (losslessly) into `folder`; images already within the runtime's aspect
    tolerance are copied as they are. Returns the folder and how many were cropped.

    A frame-shaped model is made for frames of its shape: judged on images of other shapes, it would
    be judged on letterbox padding it never sees in use (a 16:9 model fills only 385x289 of itself
    with a 4:3 photo)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = aspect[1] / aspect[0]
    cropped = 0
    for image_path, gt_path in find_pairs(data):
        image, truth = to_bgr8(read_image(image_path)), read_image(gt_path)
        height, width = image.shape[:2]
        if not aspect_matches((height, width), aspect):
            if width / height > target:
                keep = max(1, round(height * target))
                x0 = (width - keep) // 2
                image, truth = image[:, x0:x0 + keep], truth[:, x0:x0 + keep]
            else:
                keep = max(1, round(width / target))
                y0 = (height - keep) // 2
                image, truth = image[y0:y0 + keep], truth[y0:y0 + keep]
            cropped += 1
        write_image(folder / f"{image_path.stem}.png", image)
        write_image(folder / gt_path.name, truth)
    return folder, cropped


def eval_frames(model: Path | Backend, data: Path, crop: str, folder: Path) -> tuple[Path, dict[str, Any] | None]:
    """The labelled images to judge `model` on, and a note for the report: `data` itself (crop
    "none", or a square input, for which letterboxing is how it is used), or with "auto" and a
    frame-shaped model, `crop_pairs` of it to the model's aspect in `folder`."""
    if crop == "none":
        return data, None
    height, width = _backend(model, 1).input_size
    if aspect_matches((height, height), (height, width)):
        return data, None
    frames, cropped = crop_pairs(data, (height, width), folder / "frames")
    return frames, {"aspect": f"{width}x{height}", "cropped": cropped, "of": len(find_pairs(data))}


def latency_ms(model: Path, backend: str = "ai_edge_litert", threads: int | None = None, runs: int = 10) -> float:
    """Median milliseconds of one inference (after a warm-up run)."""
    return latencies_ms([model], backend, threads, runs)[0]


def latencies_ms(models: list[Path], backend: str = "ai_edge_litert", threads: int | None = None,
                 runs: int = 10) -> list[float]:
    """Median milliseconds of one inference of each model, measured interleaved (one run of each
    in turn, after a warm-up of each), so that other load on the machine slows them alike and their
    ratios hold."""
    segmenters = [open_model(m, backend=backend, threads=threads) for m in models]
    rng = np.random.default_rng(0)
    inputs = [rng.integers(0, 255, s.input_size + (3,), dtype=np.uint8) for s in segmenters]
    for segmenter, rgb in zip(segmenters, inputs):
        segmenter.infer(rgb)
    times: list[list[float]] = [[] for _ in segmenters]
    for _ in range(runs):
        for segmenter, rgb, spent in zip(segmenters, inputs, times):
            start = time.perf_counter()
            segmenter.infer(rgb)
            spent.append(time.perf_counter() - start)
    return [1000 * float(np.median(spent)) for spent in times]


def eval_with_backend(model: Path, data: Path, backend: str, threads: int | None = None) -> dict[str, Any]:
    """`pibokeh eval --json` in a subprocess: TensorFlow's converter and tflite_runtime in one
    process can abort (vector::reserve), and a separate process is what the Pi runs anyway."""
    cmd = [sys.executable, "-m", "pibokeh", "eval", "--data", str(data), "--model", str(model),
           "--backend", backend, "--json", "--quiet"]
    if threads:
        cmd += ["--threads", str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or ["no output"]
        raise ModelError(f"evaluation with {backend} failed: {lines[-1]}")
    return json.loads(proc.stdout)


def picture(rows: list, path: Path, width: int = 256) -> None:
    """image | float labels | quantized labels | disagreement (red), one row per image."""
    colours = palette()
    tiles = []
    for _, _, image, ref, quant in rows:
        scale = width / image.shape[1]
        size = (width, max(1, round(image.shape[0] * scale)))
        img = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        r = cv2.resize(colours[ref], size, interpolation=cv2.INTER_NEAREST)
        q = cv2.resize(colours[quant], size, interpolation=cv2.INTER_NEAREST)
        diff = cv2.resize((ref != quant).astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
        dis = (img // 3).copy()
        dis[diff > 0] = (0, 0, 255)
        tiles.append(np.hstack([img, r, q, dis]))
    if not tiles:
        raise InputError("no images to draw")
    header = np.full((24, tiles[0].shape[1], 3), 255, np.uint8)
    for i, title in enumerate(("image", "float", "quantized", "disagreement")):
        cv2.putText(header, title, (i * width + 6, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    write_image(path, np.vstack([header] + tiles))
