"""The int8 recipe: which layers stay in float, and what each step was measured to buy.

Plain post-training int8 of DeepLab MobileNetV2 loses its accuracy in a few places: the TFLite
quantization debugger ranks MobileNetV2's first convolution and first depthwise convolution
(`Conv`, `expanded_conv/depthwise`, full 257x257 resolution) far above most other layers (RMSE/scale
1.9 for the depthwise at depth 1.0, 1.07 for the convolution at depth 0.5, the rest mostly below
0.6), and the end of the network (logits and their upsampling to the input size) decides the labels
at the borders between classes. Keeping those few, small layers in float closes the gap to the float
model at no cost in size; keeping the heavy ASPP head in float would gain a little more and cost
2.5x the size.
"""
from __future__ import annotations

from typing import Any, Sequence

from ai_edge_litert.interpreter import Interpreter
from pibokeh.errors import InputError

from .graph import UPSAMPLE

# Layer-name prefixes of the ops kept in float by `--keep-float auto`. Together they hold ~1 % of
# the weights (the first 3x3 convolution, the first depthwise convolution, the 1x1 logits
# convolution) and no weights at all (the final upsampling), so the model stays int8-sized.
AUTO_KEEP_FLOAT = (
    "MobilenetV2/Conv/",
    "MobilenetV2/expanded_conv/depthwise/",
    "logits/",
    UPSAMPLE,
)

# Measured with this converter on ../shared/data (31 VOC val images), cut sub_7 -> logits, 513,
# ai_edge_litert. Agreement = pixels labelled like the float32 model; points = mIoU drop from it
# (negative: the int8 model scored higher).
MEASURED_STEPS = [
    {"step": "plain post-training int8 (TFLiteConverter defaults, 62 images, naive preprocessing)",
     "depth_1.0": "98.3 %, -1.1 points", "depth_0.5": "97.4 %, -4.5 points",
     "source": "DESIGN.md (measured before this converter)"},
    {"step": "cut at the logits (the converter's own upsampling, exact at any size); calibration "
             "letterboxed exactly like inference; 100 images",
     "depth_1.0": "98.87 %, -0.73 points", "depth_0.5": "98.52 %, +0.04 points"},
    {"step": "first depthwise convolution (expanded_conv/depthwise) kept in float",
     "depth_1.0": "99.22 %, -0.61 points", "depth_0.5": "98.54 %, -1.36 points"},
    {"step": "final logits convolution and upsampling kept in float",
     "depth_1.0": "98.77 %, -0.55 points (62 images)", "depth_0.5": "98.53 %, -0.42 points"},
    {"step": "both, plus the first convolution (MobilenetV2/Conv): the auto recipe",
     "depth_1.0": "99.24 %, -0.57 points", "depth_0.5": "98.65 %, +0.37 points"},
    {"step": "the auto recipe with 200 calibration images instead of 100",
     "depth_1.0": "99.25 % (without the logits), -0.49 points", "depth_0.5": "98.37 %, +0.03 points"},
    {"step": "the whole ASPP head and the last three blocks in float as well (not used: 2.5x the size)",
     "depth_1.0": "99.40 %, -0.31 points", "depth_0.5": "98.76 %, -0.15 points"},
]


def keep_float(spec: str, mode: str) -> tuple[list[str], bool]:
    """Layer-name prefixes to keep in float for `--keep-float` (auto | none | comma-separated), and
    whether each must exist (given by name) or applies where present (auto)."""
    if mode != "int8" or spec.strip().lower() == "none":
        return [], True
    if spec.strip().lower() == "auto":
        return list(AUTO_KEEP_FLOAT), False
    return [part.strip() for part in spec.split(",") if part.strip()], True


def resolve(prefixes: Sequence[str], float_model: bytes, strict: bool = True) -> list[str]:
    """The TFLite tensor names (as the quantization debugger wants them) of the ops whose output
    name starts with one of `prefixes`, looked up in the float conversion of the same graph.
    `strict`: a prefix that matches nothing is an error (a typo), else it is skipped (auto)."""
    if not prefixes:
        return []
    interpreter = Interpreter(model_content=float_model)
    names = []
    ops = interpreter._get_ops_details()  # the public API lists tensors, not ops
    for op in ops:
        for index in op["outputs"]:
            name = interpreter._get_tensor_details(index, 0)["name"]
            if any(name.startswith(prefix) for prefix in prefixes):
                names.append(name)
    missing = [p for p in prefixes if not any(n.startswith(p) for n in names)]
    if missing and strict:
        raise InputError(f"--keep-float: no op named like {', '.join(map(repr, missing))} in this graph")
    if len(names) >= sum(len(op["outputs"]) for op in ops):
        if strict:
            raise InputError("--keep-float: those ops are the whole graph; nothing would be int8")
        return []  # a graph too small for the recipe (auto): plain int8
    return names


def describe(prefixes: Sequence[str], mode: str) -> dict[str, Any] | None:
    if mode != "int8":
        return None
    return {"kept_in_float": list(prefixes), "measured_steps": MEASURED_STEPS}
