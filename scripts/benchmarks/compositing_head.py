"""The model's head: the recommended pair converted with the scores head (float scores upsampled to
the input inside the model, then an arg-max) and with the logits head (`--output logits`: scores at
the network's resolution; the mask step upsamples one margin channel), compared on the labelled photos
and the shared video at 1920x1080.

Today's mask is the scores pair through the previous chain's mask step; the new one is the logits
pair through today's chain. Accuracy: `pibokeh eval`'s mIoU and person IoU (class maps) of both
pairs, and the person IoU of the masks themselves against the ground truth. Speed: the inference step
(input tensor, invoke, what comes out) and the mask step, interleaved model by model, wall ms (the
interpreter runs on threads of its own) and the output's size.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from pibokeh import chain as chain_now
from pibokeh.evaluate import evaluate, find_pairs
from pibokeh.media.images import read_image, to_bgr8
from pibokeh.model import ModelSet, PERSON, open_model

from . import compositing_inputs as inputs


def _mask_iou(counts: dict[str, int]) -> float:
    return round(counts["inter"] / counts["union"], 4) if counts["union"] else 1.0


def photos(scores: Sequence[Path], logits: Sequence[Path], threads: int = 2) -> dict[str, Any]:
    """Mask agreement (today's mask vs the logits head's) and person IoU of both masks on the photos."""
    inputs.previous_version()
    from pibokeh_before import chain as chain_then
    from pibokeh_before.model import ModelSet as ModelSetThen, open_model as open_then
    then = chain_then.Chain(ModelSetThen([open_then(m, threads=threads) for m in scores]))
    now = chain_now.Chain(ModelSet([open_model(m, threads=threads) for m in logits]))
    agreement = []
    counts = {name: {"inter": 0, "union": 0} for name in ("today", "logits")}
    for image_path, truth_path in find_pairs(inputs.need(inputs.VOC)):
        image, truth = to_bgr8(read_image(image_path)), read_image(truth_path)
        a, b = then.mask_of(image) > 0, now.mask_of(image) > 0
        agreement.append(float(np.mean(a == b)))
        person, valid = truth == PERSON, truth != 255
        for name, mask in (("today", a), ("logits", b)):
            counts[name]["inter"] += int(np.count_nonzero(mask & person & valid))
            counts[name]["union"] += int(np.count_nonzero((mask | person) & valid))
    return {"images": len(agreement), "mask_agreement": {"mean": round(float(np.mean(agreement)), 5),
                                                         "min": round(min(agreement), 5)},
            "mask_person_iou": {name: _mask_iou(c) for name, c in counts.items()}}


def video(scores: Path, logits: Path, size: tuple[int, int] = (1920, 1080), count: int = 32,
          threads: int = 2) -> dict[str, Any]:
    """Mask agreement on the shared video scaled to `size`, and the inference and mask steps timed."""
    inputs.previous_version()
    from pibokeh_before import chain as chain_then
    from pibokeh_before.model import open_model as open_then
    then = chain_then.Chain(open_then(scores, threads=threads))
    now = chain_now.Chain(open_model(logits, threads=threads))
    agreement, times = [], {"scores": {"inference": [], "mask": []}, "logits": {"inference": [], "mask": []}}
    for i, frame in enumerate(inputs.frames_of(inputs.clip(size), count + 1, step=2)):
        for name, chain in (("scores", then), ("logits", now)):
            model = chain.model_for(frame.shape[:2])
            rgb, valid = model.prepare(frame)
            start = time.perf_counter()
            raw = model.crop(model.infer(rgb), valid)
            middle = time.perf_counter()
            mask = chain.mask(raw, frame.shape[:2])
            end = time.perf_counter()
            if i:  # the first is the warm-up
                times[name]["inference"].append((middle - start) * 1000)
                times[name]["mask"].append((end - middle) * 1000)
            if name == "scores":
                reference = mask
        if i:
            agreement.append(float(np.mean((reference > 0) == (mask > 0))))
    medians = {name: {step: round(float(np.median(v)), 2) for step, v in steps.items()} for name, steps in times.items()}
    outputs = {name: list(open_model(path, threads=1).describe()["output"]["shape"])
               for name, path in (("scores", scores), ("logits", logits))}
    return {"size": list(size), "frames": len(agreement), "ms": medians, "output_shape": outputs,
            "mask_agreement": {"mean": round(float(np.mean(agreement)), 5), "min": round(min(agreement), 5)}}


def accuracy(models: Sequence[Path], threads: int = 2) -> dict[str, Any]:
    """`pibokeh eval` of a pair on the labelled photos."""
    result = evaluate(ModelSet([open_model(m, threads=threads) for m in models]), inputs.need(inputs.VOC))
    return {"miou": round(result["miou"], 4), "person_iou": round(result["iou"].get("person", 0.0), 4),
            "images": result["images"]}


def measure(threads: int = 2, frames: int = 32) -> dict[str, Any]:
    models = inputs.recommended_models()
    inputs.log("the two heads on the labelled photos")
    result = {"models": {head: [m.name for m in paths] for head, paths in models.items()},
              "photos": photos(models["scores"], models["logits"], threads),
              "eval": {head: accuracy(paths, threads) for head, paths in models.items()}}
    inputs.log("the two heads on the shared video at 1920x1080")
    result["video"] = video(models["scores"][0], models["logits"][0], count=frames, threads=threads)
    return result
