"""`pibokeh eval`: pixel accuracy and mIoU of a model on labelled images."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..evaluate import evaluate
from ..options import add_model_options, add_quiet, open_models


def register(sub: Any) -> None:
    p = sub.add_parser("eval", help="pixel accuracy and mIoU of a model on labelled images",
                       description="Evaluate a model on DIR holding <id>.jpg|png and <id>_gt.png (class id "
                                   "per pixel, 255 = void, as in PASCAL VOC).")
    p.add_argument("--data", type=Path, required=True, metavar="DIR")
    add_model_options(p)
    p.add_argument("--json", action="store_true",
                   help="print one JSON object: pixel_accuracy, miou, iou (class -> IoU), images")
    add_quiet(p, "no progress bar")
    p.set_defaults(func=cmd_eval)


def cmd_eval(args: argparse.Namespace) -> int:
    models = open_models(args)
    result = evaluate(models, args.data, quiet=args.quiet or args.json,
                      warn=lambda message: print(f"pibokeh: {message}", file=sys.stderr))
    seg = models.first
    if args.json:
        print(json.dumps({**result, "model": str(seg.path), "models": [str(p) for p in models.paths],
                          "backend": seg.backend}))
        return 0
    for seg in models:
        print(f"model           {seg.path} ({seg.backend}, {seg.threads} threads)")
    print(f"images          {result['images']}")
    print(f"pixel accuracy  {result['pixel_accuracy']:.4f}")
    print(f"mIoU            {result['miou']:.4f}  (over the {len(result['iou'])} classes present)")
    for name, value in sorted(result["iou"].items(), key=lambda kv: -kv[1]):
        print(f"  {name:<14}{value:.4f}")
    return 0
