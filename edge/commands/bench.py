"""`pibokeh bench`: every stage of the per-frame pipeline timed, for models and thread counts."""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from .. import bench_encoders, thermal
from ..bench import (
    DEFAULT_SIZE,
    bench,
    describe_style,
    format_report,
    heat,
    host,
    peak_rss_mb,
    prepare_frames,
)
from ..errors import InputError
from ..model.search import resolve_models
from ..options import (
    add_model_options,
    add_style_options,
    frame_size,
    int_in,
    positive_int,
    recipe_from_args,
    thread_count,
)


X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")


def preset_name(text: str) -> str:
    if text not in X264_PRESETS:
        raise argparse.ArgumentTypeError(f"expected libx264 presets ({', '.join(X264_PRESETS)}), got {text!r}")
    return text


def thread_list(text: str) -> list[int]:
    """'1,2,4' -> [1, 2, 4]."""
    return [thread_count(part) for part in text.split(",")]


def register(sub: Any) -> None:
    helptext = "time every stage of the pipeline per frame, for one or several models and thread counts"
    p = sub.add_parser("bench", help=helptext, conflict_handler="resolve", description=helptext + (
        ". Frames come from --input (images, a folder or one video) or are synthetic; with --size they are "
        "scaled to cover that size first (outside the timing). Prints median and p90 ms per stage, "
        "end-to-end fps and peak RSS; on a Raspberry Pi also the SoC temperature, the CPU clock and whether "
        "the Pi was throttled during the run (vcgencmd get_throttled). With --encoders, the video encoders "
        "instead: ms per frame for each at 640x480 and 1920x1080 (or --size)."))
    add_model_options(p)
    add_style_options(p)
    # bench compares: each --model is timed on its own, and --threads takes a list
    p.add_argument("--model", "-m", action="append", metavar="M",
                   help="a .tflite file, registry name or folder of converted models; repeat to compare models "
                        "(default: the default model)")
    p.add_argument("--threads", type=thread_list, metavar="N[,N...]",
                   help="interpreter threads, a comma list to compare, e.g. 1,2,4 (default: CPU cores, at most 4); "
                        "with --encoders: libx264's threads")
    p.add_argument("--input", "-i", nargs="+", metavar="PATH", default=[],
                   help="images, folders or one video to take frames from (default: synthetic frames)")
    p.add_argument("--size", type=frame_size, metavar="WxH",
                   help=f"frame size, e.g. 1920x1080 (default: {DEFAULT_SIZE[0]}x{DEFAULT_SIZE[1]} for synthetic "
                        "frames, else the input's own size)")
    p.add_argument("--frames", "-n", type=positive_int, metavar="N",
                   help="timed frames per model and thread count (default: 20), or per encoder and size with "
                        "--encoders (default: 60)")
    p.add_argument("--warmup", type=int_in(0, 1000, "a number of warm-up frames"), default=1, metavar="N",
                   help="untimed frames first, per model and thread count (default: 1)")
    p.add_argument("--encoders", action="store_true",
                   help="time the video encoders (H.264, MPEG-4, VP9 with alpha, OpenCV) instead of the pipeline; "
                        "needs no model. With --input VIDEO its frames are encoded (honest bitrates) instead of a "
                        "synthetic pan; with --presets and/or --threads, libx264 recordings at each preset and "
                        "thread count (what --codec auto's recording settings were chosen from)")
    p.add_argument("--presets", type=lambda text: [preset_name(p) for p in text.split(",")], metavar="P[,P...]",
                   help="--encoders: libx264 presets to compare, e.g. ultrafast,superfast,veryfast")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.set_defaults(func=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    if args.encoders:
        return cmd_encoders(args)
    args.frames = args.frames or 20
    recipe = recipe_from_args(args)
    models = resolve_models(args.model)
    failed: list[tuple[Path, str]] = []
    with tempfile.TemporaryDirectory(prefix="pibokeh-bench-") as tmp:
        frames = prepare_frames(args.input, args.size, args.frames + args.warmup, Path(tmp))
        before = thermal.read()  # a throttled Pi gives lower figures: the report says so
        try:
            runs = bench(models, frames, recipe, args.frames, args.warmup, args.threads or [None],
                         args.backend, on_error=lambda model, reason: failed.append((model, reason)))
        finally:
            frames.close()
        after = thermal.read()
    result = {"host": host(), "input": frames.describe, "size": list(frames.size), "frames": args.frames,
              "warmup": args.warmup, "classes": list(recipe.class_ids), "background": describe_style(recipe.style),
              "heat": heat(before, after),
              "runs": runs, "failed": [{"model": str(m), "reason": r} for m, r in failed],
              "peak_rss_mb": round(peak_rss_mb(), 1)}
    if runs:
        print(json.dumps(result) if args.json else format_report(result))
    for model, reason in failed:
        print(f"pibokeh: error: {reason if str(model) in reason else f'{model}: {reason}'}", file=sys.stderr)
    if not failed:
        return 0
    return 1 if runs else 2



def cmd_encoders(args: argparse.Namespace) -> int:
    """`pibokeh bench --encoders`: what writing video costs per frame, encoder by encoder."""
    frames = args.frames or 60
    sizes = [args.size] if args.size else list(bench_encoders.ENCODE_SIZES)
    if len(args.input) > 1:
        raise InputError("--encoders takes one video as --input")
    video = Path(args.input[0]) if args.input else None
    with tempfile.TemporaryDirectory(prefix="pibokeh-bench-") as tmp:
        result = bench_encoders.run(sizes, frames, Path(tmp), args.presets or (), args.threads or (), video)
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    print(json.dumps(result) if args.json else bench_encoders.format_encoders(result))
    return 0
