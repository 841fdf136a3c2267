"""The `pibokeh` command: blur, mask, eval, info, models, fetch (and the live commands)."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Callable, Sequence

from . import batch, core, registry
from .evaluate import evaluate
from .labels import class_ids
from .model import BACKENDS, ModelError, Segmenter
from .progress import Progress
from .sinks import OutputError
from .sources import InputError, read_image

USER_ERRORS = (ModelError, InputError, OutputError)

COLOURS = {  # RGB, as people write colours
    "black": (0, 0, 0), "white": (255, 255, 255), "gray": (128, 128, 128), "grey": (128, 128, 128),
    "red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255), "yellow": (255, 255, 0),
    "cyan": (0, 255, 255), "magenta": (255, 0, 255),
}


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit 2) instead of usage dumps."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


# ---- options shared with other commands (camera, bench) ------------------------------------------

def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", "-m", metavar="M",
                        help="a .tflite file or a registry name (default: $PIBOKEH_MODEL, then the newest "
                             "converted model in models/, then a fetched one)")
    parser.add_argument("--backend", choices=BACKENDS,
                        help="TFLite interpreter (default: the first installed of " + ", ".join(BACKENDS) + ")")
    parser.add_argument("--threads", type=positive_int, metavar="N",
                        help="interpreter threads (default: CPU cores, at most 4)")


def add_style_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--classes", default="person", metavar="LIST",
                        help="PASCAL classes to keep sharp, e.g. person,car (default: person)")
    parser.add_argument("--blur-kernel", type=odd_kernel, default=core.BLUR_KERNEL, metavar="K",
                        help=f"Gaussian kernel of the background blur, odd px (default: {core.BLUR_KERNEL})")
    parser.add_argument("--exact", action="store_true",
                        help="the reference path: full-resolution Gaussian of the whole frame (slow, and the "
                             "person's colours bleed into the background); default is a fast, halo-free blur")
    parser.add_argument("--feather", type=odd_or_zero, default=0, metavar="K",
                        help="soften the mask edge with a K px Gaussian (default: 0, a hard edge)")
    parser.add_argument("--background", default="blur", metavar="B",
                        help="blur (default), a colour (green, '#00ff00', '0,255,0'), an image file to put "
                             "behind, or transparent (PNG with alpha = mask)")


def positive_int(text: str) -> int:
    value = int(text) if text.strip().isdigit() else 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def odd_kernel(text: str) -> int:
    value = positive_int(text)
    if value % 2 == 0:
        raise argparse.ArgumentTypeError(f"kernel sizes must be odd, got {value}")
    return value


def odd_or_zero(text: str) -> int:
    return 0 if text.strip() == "0" else odd_kernel(text)


def parse_background(value: str, kernel: int = core.BLUR_KERNEL) -> core.Background:
    """blur | transparent | a colour name, #rrggbb or r,g,b | an image file."""
    text = value.strip()
    low = text.lower()
    if low == "blur":
        return core.Blur(kernel)
    if low in ("transparent", "none", "alpha"):
        return core.Transparent()
    if Path(text).is_file():
        return core.Replace(read_image(text))
    rgb = _parse_colour(low)
    if rgb is None:
        raise InputError(f"background {value!r} is not blur, transparent, a colour or an image file")
    return core.Color((rgb[2], rgb[1], rgb[0]))


def _parse_colour(text: str) -> tuple[int, int, int] | None:
    if text in COLOURS:
        return COLOURS[text]
    if text.startswith("#") and len(text) == 7:
        try:
            return tuple(int(text[i:i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]
        except ValueError:
            return None
    parts = text.split(",")
    if len(parts) == 3 and all(p.strip().isdigit() and int(p) <= 255 for p in parts):
        return tuple(int(p) for p in parts)  # type: ignore[return-value]
    return None


def style_from_args(args: argparse.Namespace) -> core.Style:
    return core.Style(background=parse_background(args.background, args.blur_kernel),
                      feather=args.feather, exact=args.exact)


def classes_from_args(args: argparse.Namespace) -> list[int]:
    try:
        return class_ids(args.classes)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def resolve_model(name: str | None) -> Path:
    """A path for --model: a file, a registry name (fetched into the cache), or the default."""
    if not name:
        return registry.find_default_model()
    path = Path(name)
    if path.exists() or path.suffix == ".tflite" or "/" in name:
        return path
    entry = registry.lookup(name)
    cached = registry.cached_path(entry)
    if not cached.is_file():
        raise ModelError(f"model {name} is not downloaded yet: run `pibokeh fetch {name}`")
    return cached


def open_segmenter(args: argparse.Namespace) -> Segmenter:
    return Segmenter(resolve_model(args.model), backend=args.backend, threads=args.threads)


# ---- commands -----------------------------------------------------------------------------------

def prepare_outdir(outdir: Path) -> None:
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{outdir}: cannot create the output folder ({exc.strerror or exc})") from None
    if not outdir.is_dir():
        raise OutputError(f"{outdir}: not a folder")
    if not os.access(outdir, os.W_OK | os.X_OK):
        raise OutputError(f"{outdir}: output folder is not writable")


def _batch(args: argparse.Namespace, frame_fn: Callable, transparent: bool, mask: bool) -> int:
    report = batch.run(args.inputs, args.output, frame_fn, transparent=transparent, mask=mask,
                       quiet=args.quiet)
    for path, reason in report.failed:
        print(f"pibokeh: {path}: {reason}", file=sys.stderr)
    if not args.quiet or report.failed:
        print(f"pibokeh: {report.summary()} -> {args.output}", file=sys.stderr)
    return report.exit_code()


def cmd_blur(args: argparse.Namespace) -> int:
    ids = classes_from_args(args)
    style = style_from_args(args)
    prepare_outdir(args.output)
    seg = open_segmenter(args)
    return _batch(args, lambda image: batch.blur_frame(seg, image, ids, style),
                  transparent=isinstance(style.background, core.Transparent), mask=False)


def cmd_mask(args: argparse.Namespace) -> int:
    ids = classes_from_args(args)
    prepare_outdir(args.output)
    seg = open_segmenter(args)
    return _batch(args, lambda image: batch.mask_frame(seg, image, ids), transparent=False, mask=True)


def cmd_eval(args: argparse.Namespace) -> int:
    seg = open_segmenter(args)
    result = evaluate(seg, args.data, quiet=args.quiet or args.json,
                      warn=lambda message: print(f"pibokeh: {message}", file=sys.stderr))
    if args.json:
        print(json.dumps({**result, "model": str(seg.path), "backend": seg.backend}))
        return 0
    print(f"model           {seg.path} ({seg.backend}, {seg.threads} threads)")
    print(f"images          {result['images']}")
    print(f"pixel accuracy  {result['pixel_accuracy']:.4f}")
    print(f"mIoU            {result['miou']:.4f}  (over the {len(result['iou'])} classes present)")
    for name, value in sorted(result["iou"].items(), key=lambda kv: -kv[1]):
        print(f"  {name:<14}{value:.4f}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    info = open_segmenter(args).describe()
    if args.json:
        print(json.dumps(info))
        return 0
    for key in ("model", "family", "backend", "threads", "output_kind"):
        print(f"{key:<12}{info[key]}")
    for key in ("input", "output"):
        t = info[key]
        quant = t["quantization"]
        q = f"  scale {quant['scale']:.6g} zero point {quant['zero_point']}" if quant else ""
        print(f"{key:<12}{t['name']} {t['shape']} {t['dtype']}{q}")
    card = info["card"]
    print(f"{'card':<12}{json.dumps(card, indent=2) if card else 'none (read from the tensors)'}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    print(f"cache: {registry.cache_dir()}")
    for entry in registry.registry():
        cached = registry.cached_path(entry)
        state = "downloaded" if cached.is_file() else "not downloaded"
        print(f"  {entry.name:<34}{entry.size_bytes / 1e6:5.1f} MB  {entry.license:<11}{state}")
        print(f"  {'':<34}{entry.family}")
    converted = registry.converted_models()
    if converted:
        print(f"converted ({registry.REPO_MODELS}):")
        for path in converted:
            print(f"  {path.name:<34}{path.stat().st_size / 1e6:5.1f} MB")
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    failures = 0
    for name in args.names:
        try:
            entry = registry.lookup(name)
            bar = Progress(entry.size_bytes, f"fetch {entry.name}", enabled=not args.quiet)
            path = registry.fetch(entry, mirror=args.mirror,
                                  progress=lambda done, total: bar.update(done - bar.done))
            bar.close()
            print(path)
        except USER_ERRORS as exc:
            print(f"pibokeh: {exc}", file=sys.stderr)
            failures += 1
    if not failures:
        return 0
    return 1 if failures < len(args.names) else 2


# ---- parser -------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="pibokeh", description=(
        "Blur (or replace) everything but people - or any PASCAL VOC class - in photos, videos and "
        "camera streams, with DeepLab-v3 MobileNetV2 TFLite models."))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True

    for name, func, helptext in (
            ("blur", cmd_blur, "blur or replace the background of images, folders and videos"),
            ("mask", cmd_mask, "write the binary mask (PNG, 0/255, original size) that blur blends with")):
        p = sub.add_parser(name, help=helptext, description=helptext + (
            ". INPUTs are image files, folders (searched recursively for images) and video files "
            "(written as .mp4 at the input's size and frame rate). Outputs keep the input's base name."))
        p.add_argument("inputs", nargs="+", metavar="INPUT")
        p.add_argument("-o", "--output", type=Path, required=True, metavar="OUTDIR", help="output folder")
        add_model_options(p)
        if name == "blur":
            add_style_options(p)
        else:
            p.add_argument("--classes", default="person", metavar="LIST",
                           help="PASCAL classes of the mask, e.g. person,car (default: person)")
        p.add_argument("--quiet", "-q", action="store_true", help="no progress bar or summary")
        p.set_defaults(func=func)

    p = sub.add_parser("eval", help="pixel accuracy and mIoU of a model on labelled images",
                       description="Evaluate a model on DIR holding <id>.jpg|png and <id>_gt.png (class id "
                                   "per pixel, 255 = void, as in PASCAL VOC).")
    p.add_argument("--data", type=Path, required=True, metavar="DIR")
    add_model_options(p)
    p.add_argument("--json", action="store_true",
                   help="print one JSON object: pixel_accuracy, miou, iou (class -> IoU), images")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("info", help="model family, tensors, card, backend and threads")
    add_model_options(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("models", help="list the known prebuilt models and the converted ones")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("fetch", help="download registry models (sha256-verified) into the cache",
                       description="Download models of `pibokeh models` into the cache "
                                   "($PIBOKEH_CACHE or ~/.cache/pibokeh), verifying their sha256.")
    p.add_argument("names", nargs="+", metavar="NAME")
    p.add_argument("--mirror", metavar="URL", default=None,
                   help="download <URL>/<file> instead of the upstream address (e.g. a local mirror)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_fetch)

    # imported here: both build on this module's option helpers
    from . import bench, camera_cli
    camera_cli.add_camera_parser(sub)
    bench.add_parser(sub)
    return parser


def run(prog: str, args: argparse.Namespace) -> int:
    """Run a parsed command: a user error is one line on stderr and exit 2, Ctrl-C exit 130."""
    try:
        return args.func(args)
    except USER_ERRORS as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `pibokeh info | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 141


def main(argv: Sequence[str] | None = None) -> int:
    return run("pibokeh", build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
