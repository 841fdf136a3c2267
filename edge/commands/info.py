"""`pibokeh info`: what a model is and how this machine would run it."""
from __future__ import annotations

import argparse
import json
from typing import Any

from ..media import encoders
from ..model.accelerators import survey
from ..model.compute import describe_macs
from ..options import add_model_options, open_models


def register(sub: Any) -> None:
    p = sub.add_parser("info", help="model family, tensors, card, backend and threads, the video encoder, and "
                                    "the accelerators found (AI Camera, Hailo, Edge TPU) or what they lack")
    add_model_options(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_info)


def cmd_info(args: argparse.Namespace) -> int:
    video = encoders.summary()
    accelerators = survey()
    if not args.json:  # first: when the model cannot be opened, this says what the machine lacks
        print_accelerators(accelerators)
    for i, seg in enumerate(open_models(args)):
        info = {**seg.describe(), "encoder": video, "accelerators": accelerators}
        if args.json:  # one object per model, one per line
            print(json.dumps(info))
            continue
        print()
        for key in ("model", "family", "backend", "threads", "output_kind"):
            print(f"{key:<12}{info[key]}")
        for key in ("input", "output"):
            if key not in info:  # a backend without tensors to show (an accelerator's own format)
                continue
            t = info[key]
            quant = t["quantization"]
            q = f"  scale {quant['scale']:.6g} zero point {quant['zero_point']}" if quant else ""
            print(f"{key:<12}{t['name']} {t['shape']} {t['dtype']}{q}")
        print(f"{'compute':<12}{describe_compute(seg)}")
        print(f"{'encoder':<12}{video['video']}"
              + "".join(f"; {name} {why}" for name, why in video["not_used"].items())
              + ("" if video["browsers"] else "; the files will not play in web browsers")
              + (f"; PyAV {video['pyav']}" if video["pyav"] else "; PyAV not installed"))
        print(f"{'transparent':<12}{video['transparent']}")
        card = info["card"]
        print(f"{'card':<12}{json.dumps(card, indent=2) if card else 'none (read from the tensors)'}")
    return 0


def print_accelerators(accelerators: list[dict[str, Any]]) -> None:
    """One line per accelerator: found, or what is missing (a model runs on one by its file name:
    .rpk the AI Camera, .hef Hailo, _edgetpu.tflite the Edge TPU, or --backend)."""
    print("accelerators (a model's file picks one: .rpk imx500, .hef hailo, _edgetpu.tflite edgetpu; or --backend)")
    for acc in accelerators:
        print(f"  {acc['name']:<10}{'found' if acc['found'] else 'not usable'}: {acc['detail']}")


def describe_compute(seg) -> str:
    """'2.74 GMAC per 513x513 frame, output stride 16'."""
    height, width = seg.input_size
    macs = f"{describe_macs(seg.compute.macs)} per {width}x{height} frame" if seg.compute else "unknown"
    stride = f"output stride {seg.output_stride}" if seg.output_stride else "output stride unknown"
    return f"{macs}, {stride}"
