"""Before and after, stage by stage: the previous chain (git, `compositing_inputs.previous_version`) and
today's on the same decoded frames, interleaved frame by frame, at 1920x1080 and 1280x720; the seed's
full-frame GaussianBlur 251 timed in the same run; what the fast path gives up (mask agreement and
output PSNR against the previous path, on the shared video and the labelled photos).

Times are CPU ms of the thread that runs the step (OpenCV on one thread, so its work is all there):
on a machine shared by several jobs a step's wall time also counts the time others had the core,
its CPU time does not. Inference runs on the interpreter's own threads: its CPU time here is the
calling thread's share only, so it is shown for completeness, not compared.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np

from pibokeh import chain as chain_now
from pibokeh import core
from pibokeh.bench import StageClock, summary
from pibokeh.evaluate import find_pairs
from pibokeh.media.images import encode_image, read_image, to_bgr8
from pibokeh.media.video import VideoFileSource
from pibokeh.model import ModelSet, open_model

from . import compositing_inputs as inputs

COMPOSITING = ("preprocess", "mask", "background", "blend")  # what the 3x target counts
SIZES = ((1920, 1080), (1280, 720))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def _timed(chain: Any, clock: StageClock, frame: np.ndarray) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    clock.ms.clear()
    mask = chain.mask_of(frame)
    out = chain.compose(frame, mask)
    start = time.thread_time()
    encode_image(out, ".jpg")
    clock.record("encode", time.thread_time() - start)
    return dict(clock.ms), mask, out


def compare(pairs: Sequence[tuple[str, Path, Path]], size: tuple[int, int], count: int, threads: int = 2,
            blur_frames: int = 3) -> dict[str, Any]:
    """Every (label, before model, after model) through the previous and today's chain on the same
    `count` frames of the shared video scaled to `size`, interleaved."""
    inputs.previous_version()
    from pibokeh_before import chain as chain_then  # noqa: E402 - loaded by previous_version
    from pibokeh_before.model import open_model as open_then
    inputs.cpu_clock(chain_then, chain_now)
    clocks = {label: (StageClock(), StageClock()) for label, _, _ in pairs}
    chains = {label: (chain_then.Chain(open_then(a, threads=threads), record=clocks[label][0].record),
                      chain_now.Chain(open_model(b, threads=threads), record=clocks[label][1].record))
              for label, a, b in pairs}
    rows: dict[str, dict[str, list]] = {label: {"before": [], "after": [], "agreement": [], "psnr": []} for label in chains}
    exact = []
    with _single_threaded_opencv(), VideoFileSource(inputs.clip(size, frames=count + 1)) as source:
        for i in range(count + 1):
            start = time.thread_time()
            frame = source.read()
            decode = (time.thread_time() - start) * 1000
            if frame is None:
                break
            for label, (then, now) in chains.items():
                ms_then, mask_then, out_then = _timed(then, clocks[label][0], frame)
                ms_now, mask_now, out_now = _timed(now, clocks[label][1], frame)
                if i == 0:
                    continue  # warm-up
                rows[label]["before"].append({"decode": decode, **ms_then})
                rows[label]["after"].append({"decode": decode, **ms_now})
                rows[label]["agreement"].append(float(np.mean((mask_then > 0) == (mask_now > 0))))
                rows[label]["psnr"].append(psnr(out_then, out_now))
            if 0 < i <= blur_frames:
                start = time.thread_time()
                core.exact_blur(frame)
                exact.append((time.thread_time() - start) * 1000)
    exact_ms = float(np.median(exact))
    result = {"size": list(size), "frames": count, "threads": threads, "exact_blur_ms": round(exact_ms, 2), "models": {}}
    for label, (a, b) in ((label, (a, b)) for label, a, b in pairs):
        data = rows[label]
        stages = {when: {stage: summary([r.get(stage, 0.0) for r in data[when]])["median_ms"]
                         for stage in ("decode", "preprocess", "inference", "mask", "background", "blend", "encode")}
                  for when in ("before", "after")}
        work = {when: round(sum(stages[when][s] for s in COMPOSITING), 3) for when in stages}
        result["models"][label] = {
            "before_model": a.name, "after_model": b.name, "stages": stages, "compositing_ms": work,
            "compositing_ratio": round(work["before"] / work["after"], 2) if work["after"] else None,
            "share_of_exact_blur": {when: round(work[when] / exact_ms, 4) for when in work},
            "mask_agreement": {"mean": round(float(np.mean(data["agreement"])), 5), "min": round(min(data["agreement"]), 5)},
            "psnr_db": {"mean": round(float(np.mean(data["psnr"])), 2), "min": round(min(data["psnr"]), 2)}}
    return result


def photos(models: Sequence[Path], threads: int = 2, limit: int = 0) -> dict[str, Any]:
    """The previous and today's chain with the same models (each photo to the one of its aspect) on
    the labelled photos, at their own sizes: mask agreement and output PSNR (the compositing alone)."""
    inputs.previous_version()
    from pibokeh_before import chain as chain_then
    from pibokeh_before.model import ModelSet as ModelSetThen, open_model as open_then
    then = chain_then.Chain(ModelSetThen([open_then(m, threads=threads) for m in models]))
    now = chain_now.Chain(ModelSet([open_model(m, threads=threads) for m in models]))
    agreement, quality = [], []
    pairs = find_pairs(inputs.need(inputs.VOC))
    for image_path, _ in pairs[:limit or None]:
        image = to_bgr8(read_image(image_path))
        mask_then, mask_now = then.mask_of(image), now.mask_of(image)
        agreement.append(float(np.mean((mask_then > 0) == (mask_now > 0))))
        quality.append(psnr(then.compose(image, mask_then), now.compose(image, mask_now)))
    return {"models": [m.name for m in models], "images": len(agreement),
            "mask_agreement": {"mean": round(float(np.mean(agreement)), 5), "min": round(min(agreement), 5)},
            "psnr_db": {"mean": round(float(np.mean(quality)), 2), "min": round(min(quality), 2)}}


class _single_threaded_opencv:
    """OpenCV on the calling thread only while timing (its worker threads' time is not the caller's)."""

    def __enter__(self) -> None:
        self.threads = cv2.getNumThreads()
        cv2.setNumThreads(1)

    def __exit__(self, *exc: object) -> None:
        cv2.setNumThreads(self.threads)


def measure(frames: int = 30, sizes: Sequence[tuple[int, int]] = SIZES, threads: int = 2) -> dict[str, Any]:
    models = inputs.recommended_models()
    wide_scores, wide_logits = models["scores"][0], models["logits"][0]
    pairs = [("near-free model (tiny_wide)", inputs.TINY, inputs.TINY),
             ("recommended 16:9 model, same scores head", wide_scores, wide_scores),
             ("recommended 16:9 model, scores head -> logits head", wide_scores, wide_logits)]
    runs = []
    for size in sizes:
        inputs.log(f"before vs after at {size[0]}x{size[1]}, {frames} frames")
        runs.append(compare(pairs, size, frames, threads))
    inputs.log("before vs after on the labelled photos")
    return {"before": inputs.BEFORE, "runs": runs, "photos": photos(models["scores"], threads),
            "clock": "CPU ms of the calling thread, OpenCV on one thread"}
