"""`pibokeh blur` and `pibokeh mask`: images, folders and videos, in a batch that goes on past bad files."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .. import batch
from ..files import ensure_folder
from ..media import encoders
from ..options import add_classes, add_model_options, add_quiet, add_style_options, open_models, recipe_from_args
from ..stopping import Stopped, stop_on_signals

INPUTS_HELP = (". INPUTs are image files, folders (searched recursively for images) and video files "
               "(written as H.264 .mp4 with the input's size, timing and sound; a transparent background as "
               "VP9 .webm with alpha). Outputs keep the input's base name. SIGTERM and SIGHUP stop like "
               "Ctrl-C: the unfinished file is discarded; exit 130 (Ctrl-C), 143 (SIGTERM), 129 (SIGHUP).")


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
            p.add_argument("--exact", action="store_true",
                           help="the reference's mask step: class mask resized to the frame, Gaussian 15x15 and "
                                "Otsu at full size (default: the same steps at the model's resolution and one "
                                "upscale, >= 99.5 %% of pixels equal, several times faster)")
        video = p.add_argument_group("video outputs")
        video.add_argument("--codec", choices=encoders.CODECS, metavar="C",
                           help="video encoder: auto (default: the Pi 4's hardware H.264 encoder if it opens, "
                                "else libx264; `pibokeh info` says which), libx264, h264_v4l2m2m, mpeg4 "
                                "(MPEG-4 Part 2, not for browsers) or libvpx-vp9 (.webm)")
        video.add_argument("--frames-as-png", action="store_true",
                           help="write each video as a folder OUTDIR/<stem>/ of numbered PNGs (RGBA with "
                                "--background transparent), for video editors")
        add_quiet(p)
        p.set_defaults(func=func)


def cmd_blur(args: argparse.Namespace) -> int:
    return _run(args, masks=False)


def cmd_mask(args: argparse.Namespace) -> int:
    return _run(args, masks=True)


def _run(args: argparse.Namespace, masks: bool) -> int:
    recipe = recipe_from_args(args)
    ensure_folder(args.output)
    job = batch.Job(open_models(args), recipe, masks=masks, video=batch.VideoOutput(args.codec, args.frames_as_png))
    job.video.check(job.transparent)  # a --codec that cannot work fails once, up front
    try:
        with stop_on_signals():
            report = batch.run(args.inputs, args.output, job, quiet=args.quiet,
                               log=lambda line: print(f"pibokeh: warning: {line}", file=sys.stderr))
    except Stopped as stop:
        print(f"pibokeh: stopped by {stop}; the unfinished output was discarded", file=sys.stderr)
        return stop.exit_code
    for path, reason in report.failed:
        print(f"pibokeh: {path}: {reason}", file=sys.stderr)
    if not args.quiet or report.failed:
        print(f"pibokeh: {report.summary()} -> {args.output}", file=sys.stderr)
    return report.exit_code()
