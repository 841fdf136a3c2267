"""Command-line building blocks every command shares: the parser class, value types with sane
ranges, the option groups (model, style, classes, --quiet), and turning parsed options into the
objects the runtime works with. Commands import this module; it imports no command."""
from __future__ import annotations

import argparse
from typing import Callable

from . import api
from .chain import MIN_BLOB, Recipe
from .media.images import DEFAULT_MAX_PIXELS, MAX_PIXELS_LIMIT, MEMORY_SHARE, limit_pixels
from .model import BACKENDS, ModelSet
from .model.interpreters import INTERPRETERS
from .model.kinds import ACCELERATORS
from .styles import BLADES, BLOOM, BLUR_KERNEL, LOOKS, Style
MAX_KERNEL = 1001   # px: a 1001 Gaussian already blurs a 4K frame to mush; more only costs time
MAX_THREADS = 64
MAX_SIDE = 16384    # px: the largest frame side any option accepts
MAX_FRAME_PIXELS = 50_000_000  # the largest --size: 8K is 33 MP


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit 2) instead of usage dumps."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


# ---- value types --------------------------------------------------------------------------------

def int_in(low: int, high: int, what: str = "a whole number") -> Callable[[str], int]:
    """An argparse type: a whole number from `low` to `high`."""
    def parse(text: str) -> int:
        stripped = text.strip()
        digits = stripped[1:] if stripped.startswith("-") else stripped
        value = int(stripped) if digits.isdecimal() and len(digits) < 12 else None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected {what} from {low} to {high}, got {text!r}")
        return value
    parse.__name__ = what  # argparse names the type in its messages
    return parse


positive_int = int_in(1, 10**9, "a positive whole number")
non_negative_int = int_in(0, 10**9, "a whole number")
thread_count = int_in(1, MAX_THREADS, "a thread count")


def odd_kernel(text: str, low: int = 1) -> int:
    """An odd kernel size in px, at most MAX_KERNEL (0 allowed when `low` is 0: off)."""
    value = int_in(low, MAX_KERNEL, "a kernel size in px")(text)
    if value and value % 2 == 0:
        raise argparse.ArgumentTypeError(f"kernel sizes must be odd, got {value}")
    return value


def odd_or_zero(text: str) -> int:
    return odd_kernel(text, low=0)


def float_in(low: float, high: float, what: str = "a number", zero: bool = False) -> Callable[[str], float]:
    """An argparse type: a number from `low` to `high` (more than 0 when `low` is 0; NaN and infinities
    refused), or exactly 0 too when `zero` (0 meaning "off")."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except (ValueError, OverflowError):
            value = None
        if value is not None and zero and value == 0:
            return 0.0
        if value is None or not (low < value if low == 0 else low <= value) or not value <= high:  # NaN: False
            if low:
                allowed = f"{'0 or ' if zero else ''}from {low:g} to {high:g}"
            else:
                allowed = f"from 0 to {high:g}" if zero else f"more than 0 and at most {high:g}"
            raise argparse.ArgumentTypeError(f"expected {what}, {allowed}, got {text!r}")
        return value
    parse.__name__ = what
    return parse


positive_float = float_in(0, 1e9, "a positive number")
non_negative_float = float_in(0, 1e9, "a number", zero=True)
share = float_in(0, 1, "a share from 0 to 1", zero=True)


def blade_count(text: str) -> int:
    """--blades: 0 (a round aperture) or BLADES[0] to BLADES[1]."""
    value = int_in(0, BLADES[1], "a number of blades")(text)
    if 0 < value < BLADES[0]:
        raise argparse.ArgumentTypeError(f"expected 0 (round) or {BLADES[0]} to {BLADES[1]} blades, got {text!r}")
    return value


def pixel_count(text: str) -> int:
    """A number of pixels for --max-pixels: 70000000, 70M or 70MP; from 1 MP to OpenCV's ceiling."""
    stripped = text.strip().upper().removesuffix("P")
    scale = 1_000_000 if stripped.endswith("M") else 1
    try:
        value = round(float(stripped.removesuffix("M")) * scale)
    except (ValueError, OverflowError):
        value = 0
    if not 1_000_000 <= value <= MAX_PIXELS_LIMIT:
        raise argparse.ArgumentTypeError(f"expected a number of pixels from 1M to {MAX_PIXELS_LIMIT} "
                                         f"(e.g. 70M), got {text!r}")
    return value


def frame_size(text: str) -> tuple[int, int]:
    """'1920x1080' -> (1920, 1080): WIDTHxHEIGHT, each side from 16 to MAX_SIDE px, and at most
    MAX_FRAME_PIXELS in all (a frame is held several times over in the pipeline)."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdecimal() and len(p.strip()) < 7 and 16 <= int(p) <= MAX_SIDE
                                  for p in parts):
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT like 1280x720 (each 16 to {MAX_SIDE}), "
                                         f"got {text!r}")
    width, height = int(parts[0]), int(parts[1])
    if width * height > MAX_FRAME_PIXELS:
        raise argparse.ArgumentTypeError(f"{width}x{height} is more than {MAX_FRAME_PIXELS / 1e6:g} megapixels")
    return width, height


# ---- option groups ------------------------------------------------------------------------------

def add_quiet(parser: argparse.ArgumentParser, help: str = "no progress bar or summary") -> None:  # noqa: A002
    parser.add_argument("--quiet", "-q", action="store_true", help=help)


def add_classes(parser: argparse.ArgumentParser, what: str = "to keep sharp") -> None:
    """--classes, and --min-blob (which parts of those classes' mask are kept)."""
    parser.add_argument("--classes", default="person", metavar="LIST",
                        help=f"PASCAL classes {what}, names or ids, e.g. person,car (default: person)")
    parser.add_argument("--min-blob", type=float_in(0, 0.5, "a share of the frame", zero=True), default=MIN_BLOB,
                        metavar="F", help="drop parts of the mask smaller than F of the frame's area, e.g. 0.002 "
                                          f"(stray patches the model took for the class; default: {MIN_BLOB:g}"
                                          f"{', off' if not MIN_BLOB else ''})")


def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", "-m", metavar="M", action="append",
                        help="a .tflite file (an accelerator's: .rpk, .hef, _edgetpu.tflite), a registry name, "
                             "or a folder of converted models; repeat it to "
                             "give several: each input then goes to the model whose input aspect is closest to "
                             "its own (default: $PIBOKEH_MODEL, then the converted models in the user data folder, "
                             "the newest of each input aspect, then a fetched one; see `pibokeh models`)")
    parser.add_argument("--backend", choices=BACKENDS,
                        help="what runs the model: a TFLite interpreter on the CPU (" + ", ".join(INTERPRETERS)
                             + "; default: the first installed) or an accelerator, which the model's file "
                             "otherwise picks: " + "; ".join(f"{k}: {v}" for k, v in ACCELERATORS.items())
                             + " (`pibokeh info` says what this machine has)")
    parser.add_argument("--threads", type=thread_count, metavar="N",
                        help=f"interpreter threads, 1 to {MAX_THREADS} (default: CPU cores, at most 4)")
    parser.add_argument("--max-pixels", type=pixel_count, metavar="N",
                        help="memory budget, in pixels of an 8-bit colour photo: a picture that would take more "
                             "memory is refused from its header, before decoding (16-bit and alpha pixels count "
                             "for more, grey ones for less, a video frame's for about 9), e.g. 100M (default: "
                             f"{MEMORY_SHARE * 100:.0f}%% of this machine's memory, here "
                             f"{DEFAULT_MAX_PIXELS / 1e6:g}M; about 50M on a 1 GB Pi: a 48 MP photo and 1440p "
                             "video pass)")


def add_style_options(parser: argparse.ArgumentParser) -> None:
    add_classes(parser)
    parser.add_argument("--blur-kernel", type=odd_kernel, default=BLUR_KERNEL, metavar="K",
                        help=f"strength of the background blur: the Gaussian's kernel, odd px up to {MAX_KERNEL} "
                             f"(default: {BLUR_KERNEL}); the lens look's aperture has the same spread")
    parser.add_argument("--look", choices=LOOKS, default="gaussian",
                        help="how the background is blurred: gaussian (default, the reference's blur) or lens "
                             "(an aperture in linear light: bright points bloom into flat discs)")
    parser.add_argument("--blades", type=blade_count, default=0, metavar="N",
                        help=f"lens look: an aperture of N blades, a polygon, {BLADES[0]} to {BLADES[1]} "
                             "(default: 0, a round disc)")
    parser.add_argument("--bloom", type=share, default=BLOOM, metavar="B",
                        help="lens look: how much brighter than stored the clipped highlights count, 0 to 1 "
                             f"(0: as stored, 1: 64 times; default: {BLOOM:g}, 8 times)")
    parser.add_argument("--falloff", type=share, default=0.0, metavar="F",
                        help="lens look: blur growing with the distance from the subject, sharp at its edge and "
                             "full strength F of the frame's longer side away, 0 to 1 (default: 0, even blur)")
    parser.add_argument("--exact", action="store_true",
                        help="the reference path: full-resolution Gaussian of the whole frame (slow, and the "
                             "person's colours bleed into the background); default is a fast, halo-free blur. "
                             "With --look lens: the lens blur at full resolution (slow; what its fast path is "
                             "measured against)")
    parser.add_argument("--feather", type=odd_or_zero, default=0, metavar="K",
                        help=f"soften the mask edge with a K px Gaussian, odd, up to {MAX_KERNEL} "
                             "(default: 0, a hard edge)")
    parser.add_argument("--background", default="blur", metavar="B",
                        help="blur (default), a colour (green, '#00ff00', '0,255,0'), an image file to put "
                             "behind, a video or animated GIF/WebP to play behind (a frame per output frame, "
                             "looped; a photo gets its first frame), or transparent (PNG with alpha = mask; "
                             "videos: VP9 WebM with alpha)")


# ---- from options to objects --------------------------------------------------------------------

def apply_limits(args: argparse.Namespace) -> None:
    """Put --max-pixels into effect (before any image is read: OpenCV reads its limit once)."""
    limit_pixels(getattr(args, "max_pixels", None))


def style_from_args(args: argparse.Namespace) -> Style:
    apply_limits(args)  # a background image is the first image some commands read
    blur = api.look_of(args.look, args.blur_kernel, args.blades, args.bloom, args.falloff)
    return Style(background=api.as_background(args.background, args.blur_kernel, blur), feather=args.feather,
                 exact=args.exact)


def open_models(args: argparse.Namespace) -> ModelSet:
    """The models that --model, --backend and --threads ask for."""
    apply_limits(args)
    return api.models_of(api.load_model(args.model, threads=args.threads, backend=args.backend))


def recipe_from_args(args: argparse.Namespace, smooth: float = 0.0) -> Recipe:
    """--classes and, where the command has them, the look options, as the chain's recipe."""
    style = style_from_args(args) if hasattr(args, "background") else Style(exact=getattr(args, "exact", False))
    return Recipe(api.recipe(args.classes).class_ids, style, smooth, args.min_blob)
