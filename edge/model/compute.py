"""What a TFLite segmentation model costs per frame, read from its graph: multiply-accumulates of
its convolutions and fully connected layers, and the output stride of its feature maps."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Compute:
    macs: int                   # multiply-accumulates per frame (convolutions, depthwise, fully connected)
    output_stride: int | None   # input size / smallest feature map (8 or 16 for DeepLab), None if unknown


def graph_compute(interpreter: Any, input_height: int) -> Compute | None:
    """The compute of a (not necessarily allocated) TFLite interpreter's graph; None when this
    interpreter cannot list its ops (`_get_ops_details` is private API, present in ai-edge-litert
    and tflite-runtime 2.x)."""
    try:
        ops = interpreter._get_ops_details()
        shapes = {d["index"]: [int(x) for x in d["shape"]] for d in interpreter.get_tensor_details()}
    except (AttributeError, ValueError, RuntimeError):
        return None
    macs = 0
    heights = set()
    for op in ops:
        name = op.get("op_name", "")
        inputs, outputs = list(op.get("inputs", ())), list(op.get("outputs", ()))
        if name not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED") or len(inputs) < 2 or not outputs:
            continue
        weights, out = shapes.get(inputs[1]), shapes.get(outputs[0])
        if not weights or not out:
            continue
        macs += _macs(name, weights, out)
        if len(out) == 4 and name != "FULLY_CONNECTED":
            heights.add(out[1])
    features = [h for h in heights if h > 1]  # 1x1: DeepLab's image-level pooling branch
    stride = None
    if features and min(features) > 1 and input_height > 1:
        ratio = (input_height - 1) / (min(features) - 1)
        stride = round(ratio) if abs(ratio - round(ratio)) < 0.05 else None
    return Compute(macs, stride)


def _macs(op: str, weights: list[int], out: list[int]) -> int:
    spatial = out[1] * out[2] if len(out) == 4 else 1
    if op == "CONV_2D":        # weights [out_c, kh, kw, in_c]
        return spatial * out[-1] * weights[1] * weights[2] * weights[3]
    if op == "DEPTHWISE_CONV_2D":  # weights [1, kh, kw, out_c]
        return spatial * out[-1] * weights[1] * weights[2]
    batch = out[0] if len(out) == 2 else 1  # FULLY_CONNECTED: weights [out, in]
    return batch * weights[0] * weights[1]


def describe_macs(macs: int) -> str:
    """'2.74 GMAC' / '157 kMAC'."""
    for unit, scale in (("GMAC", 1e9), ("MMAC", 1e6), ("kMAC", 1e3)):
        if macs >= scale:
            return f"{macs / scale:.3g} {unit}"
    return f"{macs} MAC"
