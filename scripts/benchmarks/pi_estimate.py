"""Raspberry Pi figures without a Pi: a published Pi figure scaled by compute (an estimate).

The published figure (not measured here): Alasdair Allan, "Benchmarking TensorFlow and TensorFlow
Lite on Raspberry Pi 5" (hackster.io, 2024) and github.com/aallan/benchmarking-ml-on-the-edge
(README table; benchmark_tf_lite.py): the repository's quantized SSD MobileNet v1 0.75 depth,
300x300 COCO model (ssd_mobilenet_v1/tflite_for_rpi/mobilenet_v1.tflite, uint8) under TensorFlow Lite
with 4 threads takes 82.7 ms on a Raspberry Pi 4 and 16.9 ms on a Raspberry Pi 5. Its compute,
counted from that file by pibokeh.compute.graph_compute (the counter `pibokeh info` uses): 0.728 GMAC.
"""
from __future__ import annotations

from typing import Any, Sequence

PUBLISHED = {
    "source": "Alasdair Allan, Benchmarking TensorFlow and TensorFlow Lite on Raspberry Pi 5 (hackster.io, "
              "2024), https://github.com/aallan/benchmarking-ml-on-the-edge",
    "model": "SSD MobileNet v1 0.75 depth, 300x300, uint8-quantized (COCO)",
    "file": "ssd_mobilenet_v1/tflite_for_rpi/mobilenet_v1.tflite",
    "runtime": "TensorFlow Lite, 4 threads",
    "gmacs": 0.728,
    "ms": {"Raspberry Pi 4": 82.7, "Raspberry Pi 5": 16.9},
}
FAST_ENOUGH_MS = 100.0  # 10 inferences a second


def pi_estimate(macs: int | None) -> dict[str, float]:
    """ms per frame on each Pi: the published ms per GMAC times this model's GMACs (an estimate)."""
    if not macs:
        return {}
    return {pi: round(ms / PUBLISHED["gmacs"] * macs / 1e9, 1) for pi, ms in PUBLISHED["ms"].items()}


def which_model(rows: Sequence[dict[str, Any]]) -> str:
    """The one-line answer: per Pi, the most accurate frame-shaped depth and stride (mIoU on the
    labelled images, averaged over its shapes: every depth is judged on the same crops) whose slower
    shape is estimated at 10 inferences a second or more, else the fastest."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in rows:
        if r["width"] != r["height"] and r.get("pi"):
            groups.setdefault((r["depth"], r["stride"]), []).append(r)
    if not groups:
        return ""
    answers = []
    for pi in PUBLISHED["ms"]:
        est = {key: max(r["pi"][pi] for r in group) for key, group in groups.items()}
        acc = {key: sum(r["accuracy"]["miou"] for r in group) / len(group) for key, group in groups.items()}
        fast_enough = [key for key in groups if est[key] <= FAST_ENOUGH_MS]
        depth, stride = max(fast_enough, key=acc.get) if fast_enough else min(groups, key=est.get)
        answers.append(f"**{pi}**: depth {depth}, output stride {stride}, the frame's shape "
                       f"(~{1000 / est[(depth, stride)]:.0f} inferences/s estimated)")
    return "; ".join(answers)


def published_note() -> str:
    """Where the Pi columns come from: the published figure, the method and its caveats."""
    p = PUBLISHED
    return (f"No Pi was available here. The Pi figures scale a published one by compute: **{p['source']}** "
            f"reports {p['model']} (`{p['file']}` in that repository) under {p['runtime']} at "
            + " and ".join(f"{ms} ms on a {pi}" for pi, ms in p["ms"].items())
            + f"; that file is {p['gmacs']} GMAC by the same counter as `pibokeh info` (convolutions, depthwise "
            "and fully connected layers of the TFLite graph). Method: ms per GMAC from the published figure ("
            + ", ".join(f"{pi}: {ms / p['gmacs']:.1f} ms/GMAC" for pi, ms in p["ms"].items())
            + ") × the model's GMAC. Caveats: 4 threads on the Pi's 4 cores (the models here were timed with 2 "
            "on 2); a uint8 model under TensorFlow's own TFLite interpreter there, int8 with XNNPACK in "
            "`ai_edge_litert` here (`tflite_runtime` 2.14 has no XNNPACK for int8: on a Pi it would be several "
            "times slower than this); DeepLab's larger feature maps move more memory per MAC than a 300x300 SSD; "
            "and what the counter leaves out (the float first layers of the int8 recipe, the upsampling to the "
            "input size and the arg-max, the input conversion) adds a few ms. Read it as the order of magnitude "
            "and the ranking; `pibokeh bench` on the Pi gives the real figures.")


def cross_check(published_here: dict[str, float], name: str, latency: dict[str, float], macs: int | None) -> str:
    """The scaling tested on this machine: ms per GMAC of the published file and of a model (`name`,
    its `latency` per column and `macs`), timed in the same rounds with the same interpreter and threads."""
    column = "ai_edge_litert 2" if "ai_edge_litert 2" in published_here else next(iter(published_here), None)
    if not column or not macs or column not in latency:
        return ""
    theirs = published_here[column] / PUBLISHED["gmacs"]
    ours = latency[column] / (macs / 1e9)
    return (f"Checked on this machine: the published file itself, timed in the same rounds ({column} "
            f"thread{'s' if not column.endswith(' 1') else ''}), takes {published_here[column]:.1f} ms = "
            f"{theirs:.1f} ms/GMAC; the recommended model ({name}) {latency[column]:.1f} ms = {ours:.1f} ms/GMAC, "
            f"{ours / theirs:.2f}x the published model's cost per MAC. If a Pi shows the same ratio, its figures are "
            f"{'higher' if ours > theirs else 'lower'} than the estimate by about that factor.")
