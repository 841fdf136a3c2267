"""`pibokeh blur` and `pibokeh mask`: images, folders and videos, in a batch that goes on past bad files."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .. import batch, core
from ..files import ensure_folder
from ..options import (
    add_classes,
    add_model_options,
    add_quiet,
    add_style_options,
    classes_from_args,
    open_models,
    style_from_args,
)

INPUTS_HELP = (". INPUTs are image files, folders (searched recursively for images) and video files "
               "(written as .mp4 at the input's size and frame rate). Outputs keep the input's base name.")


def register(sub: Any) -> None:
    for name, func, helptext in (
            ("blur", cmd_blur, "blur or replace the background of images, folders and videos"),
            ("mask", cmd_mask, "write the binary mask (PNG, 0/255, original size) that blur blends with")):
        p = sub.add_parser(name, help=helptext, description=helptext + INPUTS_HELP)
        p.add_argument("inputs", nargs="+", metavar="INPUT")
        p.add_argument("-o", "--output", type=Path, required=True, metavar="OUTDIR", help="output folder")
        add_model_options(p)
        if name == "blur":
            add_style_options(p)
        else:
            add_classes(p, "of the mask")
        add_quiet(p)
        p.set_defaults(func=func)


def cmd_blur(args: argparse.Namespace) -> int:
    ids = classes_from_args(args)
    style = style_from_args(args)
    ensure_folder(args.output)
    models = open_models(args)
    return _run(args, lambda image: batch.blur_frame(models.pick(*image.shape[:2]), image, ids, style),
                transparent=isinstance(style.background, core.Transparent), mask=False)


def cmd_mask(args: argparse.Namespace) -> int:
    ids = classes_from_args(args)
    ensure_folder(args.output)
    models = open_models(args)
    return _run(args, lambda image: batch.mask_frame(models.pick(*image.shape[:2]), image, ids),
                transparent=False, mask=True)


def _run(args: argparse.Namespace, frame_fn: batch.FrameFn, transparent: bool, mask: bool) -> int:
    report = batch.run(args.inputs, args.output, frame_fn, transparent=transparent, mask=mask, quiet=args.quiet)
    for path, reason in report.failed:
        print(f"pibokeh: {path}: {reason}", file=sys.stderr)
    if not args.quiet or report.failed:
        print(f"pibokeh: {report.summary()} -> {args.output}", file=sys.stderr)
    return report.exit_code()
