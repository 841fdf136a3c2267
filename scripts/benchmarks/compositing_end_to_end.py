"""End to end against the seed at 1920x1080: the reference pipeline (the TF1 frozen graph in a
TensorFlow session at longest side 513, the reference's mask step, a full-frame GaussianBlur 251), the
previous default path (the recommended 16:9 model with the scores head, the previous chain) and
today's (the same model with the logits head, today's chain), on the same decoded frames of the
shared video, interleaved frame by frame; each frame also JPEG-encoded. Wall ms (TensorFlow and the
interpreter run on threads of their own). Needs TensorFlow (the full environment).
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from pibokeh import chain as chain_now
from pibokeh import styles
from pibokeh.bench import StageClock, time_stages
from pibokeh.media.video import VideoFileSource
from pibokeh.model import PERSON, open_model

from . import compositing_inputs as inputs

try:  # the benchmark package's module (scripts/benchmarks/reference_graph.py, from its own branch)
    from .reference_graph import ReferenceGraph, time_reference
except ImportError:  # until that branch is merged: the script it comes from
    from scripts.bench_reference import ReferenceGraph, time_reference

TARGET = 18.0


def measure(frames: int = 10, size: tuple[int, int] = (1920, 1080), threads: int = 2) -> dict[str, Any]:
    models = inputs.recommended_models()
    inputs.previous_version()
    from pibokeh_before import chain as chain_then
    from pibokeh_before.model import open_model as open_then
    from pibokeh_before.bench import StageClock as StageClockThen, time_stages as time_stages_then
    inputs.log(f"the seed, before and now at {size[0]}x{size[1]}, {frames} frames, interleaved")
    reference = ReferenceGraph(inputs.need(inputs.GRAPH), threads)
    clock_then, clock_now = StageClockThen(), StageClock()
    then = chain_then.Chain(open_then(models["scores"][0], threads=threads), record=clock_then.record)
    now = chain_now.Chain(open_model(models["logits"][0], threads=threads), record=clock_now.record)
    rows: dict[str, list[float]] = {"seed": [], "before": [], "now": []}
    with VideoFileSource(inputs.clip(size, frames=frames + 1)) as source:
        for i in range(frames + 1):
            start = time.perf_counter()
            frame = source.read()
            decode = (time.perf_counter() - start) * 1000
            if frame is None:
                break
            seed_ms, _ = time_reference(reference, frame, [PERSON], styles.BLUR_KERNEL)
            before_ms, _, _ = time_stages_then(then, frame, clock_then)
            now_ms, _, _ = time_stages(now, frame, clock_now)
            if i:
                for name, ms in (("seed", seed_ms), ("before", before_ms), ("now", now_ms)):
                    rows[name].append(decode + sum(ms))
    medians = {name: round(float(np.median(v)), 1) for name, v in rows.items()}
    return {"size": list(size), "frames": len(rows["now"]), "threads": threads, "tensorflow": reference.tensorflow
            if hasattr(reference, "tensorflow") else None, "models": {"before": models["scores"][0].name,
                                                                       "now": models["logits"][0].name},
            "median_ms": medians, "ratio": {"before": round(medians["seed"] / medians["before"], 2),
                                            "now": round(medians["seed"] / medians["now"], 2)}, "target": TARGET}
