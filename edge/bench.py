"""`pibokeh bench`: the per-frame pipeline timed stage by stage, on real or synthetic frames.

Each stage is the runtime's own function, so the figures are those of `pibokeh blur`:

    decode      images.read_image (+ to_bgr8) or VideoFileSource.read
    preprocess  }
    inference   }  the chain (chain.Chain), timed by its own clock: the stages and names that
    mask        }  `/stats` and `/metrics` show for a camera
    background  }
    blend       }
    encode      images.encode_image as JPEG (what a file or the MJPEG preview gets)

`pibokeh bench --encoders` times the video encoders instead (`bench_encoders`).

Several models and thread counts run one after the other in one process, on the same frames, so
their figures compare as ratios even on a busy machine.
"""
from __future__ import annotations

import os
import platform
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import cv2
import numpy as np

from . import core, thermal
from .chain import STAGES, Chain, Recipe
from .errors import InputError, ModelError
from .media import encoders
from .media.images import encode_image, read_image, to_bgr8, write_image
from .media.inputs import expand_inputs, is_video
from .media.video import VideoFileSink, VideoFileSource
from .model import open_model
from .styles import Blur, Lens, Style, Transparent

POSTPROCESS = ("mask", "background", "blend")  # what the frame needs after the model, before encoding
DEFAULT_SIZE = (640, 480)
SYNTHETIC_FRAMES = 8  # distinct synthetic pictures, cycled


# ---- frames -------------------------------------------------------------------------------------

@dataclass
class Frames:
    """Where the timed loop gets its frames: `decode()` returns the next one, cycling forever."""
    describe: str
    size: tuple[int, int]  # (width, height) of the frames decoded
    decode: Callable[[], np.ndarray]
    close: Callable[[], None] = lambda: None


def synthetic_frame(size: tuple[int, int], seed: int) -> np.ndarray:
    """A BGR picture with gradients, shapes and texture (JPEG work like a photo's, not a flat card)."""
    width, height = size
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.dstack([x / max(width, 1), y / max(height, 1), (x + y) / max(width + height, 1)]) * 200
    frame = base.astype(np.uint8)
    for _ in range(12):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        radius = int(rng.integers(max(2, min(size) // 20), max(3, min(size) // 4)))
        cv2.circle(frame, centre, radius, tuple(int(c) for c in rng.integers(0, 256, 3)), -1)
    noise = rng.normal(0, 6, frame.shape)
    return np.clip(frame + noise, 0, 255).astype(np.uint8)


def _image_frames(paths: Sequence[Path], describe: str, size: tuple[int, int]) -> Frames:
    state = {"i": 0}

    def decode() -> np.ndarray:
        path = paths[state["i"] % len(paths)]
        state["i"] += 1
        return to_bgr8(read_image(path))
    return Frames(describe, size, decode)


def _video_frames(path: Path, describe: str) -> Frames:
    source = VideoFileSource(path)

    def decode() -> np.ndarray:
        frame = source.read()
        if frame is None:  # loop the clip so any --frames works
            source.rewind()
            frame = source.read()
        if frame is None:
            raise InputError(f"{path}: no frames could be decoded")
        return frame
    return Frames(describe, source.size, decode, source.close)


def prepare_frames(inputs: Sequence[str], size: tuple[int, int] | None, count: int, workdir: Path) -> Frames:
    """The frames to time: synthetic, image files, or one video; brought to `size` (w, h) if given.

    Resizing happens here, before timing, by writing resized copies into `workdir`: the timed
    decode then decodes frames of the benchmark size, as a camera or file of that size would give.
    """
    if not inputs:
        size = size or DEFAULT_SIZE
        paths = []
        for i in range(min(count, SYNTHETIC_FRAMES)):
            paths.append(workdir / f"synthetic_{i}.jpg")
            write_image(paths[-1], synthetic_frame(size, i))
        return _image_frames(paths, "synthetic frames", size)
    pairs, problems = expand_inputs(inputs)
    if problems:
        path, reason = problems[0]
        raise InputError(f"{path}: {reason}")
    videos = [p for p, _ in pairs if is_video(p)]
    if videos:
        if len(pairs) > 1:
            raise InputError("give one video, or images and folders, as --input (not both)")
        return _prepared_video(videos[0], size, count, workdir)
    images = [p for p, _ in pairs]
    if size is None:
        first = read_image(images[0])
        return _image_frames(images, f"{len(images)} image(s)", (first.shape[1], first.shape[0]))
    resized = []
    for i, path in enumerate(images[:count]):
        resized.append(workdir / f"{i}_{path.stem}.jpg")
        write_image(resized[-1], core.cover(to_bgr8(read_image(path)), (size[1], size[0])))
    return _image_frames(resized, f"{len(images)} image(s) scaled to cover", size)


def _prepared_video(path: Path, size: tuple[int, int] | None, count: int, workdir: Path) -> Frames:
    with VideoFileSource(path) as source:
        if size is None or tuple(size) == tuple(source.size):
            return _video_frames(path, f"video {path.name}")
    target = scaled_video(path, workdir / f"clip{encoders.choose(size=size).suffix}", size, count)
    return _video_frames(target, f"video {path.name} scaled to cover")


def scaled_video(path: Path, target: Path, size: tuple[int, int], frames: int = 0) -> Path:
    """`target`: the video at `path` (its first `frames` frames, or all of it) scaled to cover `size`
    (w, h): the frames a camera or a file of that size would give. InputError if none decode."""
    with VideoFileSource(path) as source, VideoFileSink(target, source.fps, size) as sink:
        for frame in source:
            sink.write(core.cover(frame, (size[1], size[0])))
            if frames and sink.frames >= frames:
                break
    if not Path(target).is_file():
        raise InputError(f"{path}: no frames could be decoded")
    return Path(target)


# ---- timing -------------------------------------------------------------------------------------

def describe_style(style: Style) -> str:
    """'fast halo-free blur 251', 'color', 'transparent, feather 9', ... for the report."""
    bg = style.background
    name = type(bg).__name__.lower()
    if isinstance(bg, Blur):
        name = f"{'exact' if style.exact else 'fast halo-free'} blur {bg.kernel}"
    elif isinstance(bg, Lens):
        name = (f"{'exact' if style.exact else 'fast'} halo-free lens {bg.kernel}, "
                f"{f'{bg.blades} blades' if bg.blades else 'disc'}, bloom {bg.bloom:g}"
                + (f", falloff {bg.falloff:g}" if bg.falloff else ""))
    return name + (f", feather {style.feather}" if style.feather else "")


class StageClock:
    """The ms each stage took for one frame, filled by the chain's `record` callback."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = {}

    def record(self, stage: str, seconds: float) -> None:
        self.ms[stage] = self.ms.get(stage, 0.0) + seconds * 1000.0

    def row(self) -> list[float]:
        return [self.ms.get(name, 0.0) for name in STAGES]


def time_stages(chain: Chain, frame: np.ndarray, clock: StageClock) -> tuple[list[float], np.ndarray, np.ndarray]:
    """A decoded frame through the chain and the encode: (ms per stage of STAGES after decode, mask,
    output); `chain` records into `clock`."""
    clock.ms.clear()
    mask = chain.mask_of(frame)
    out = chain.compose(frame, mask)
    start = time.perf_counter()
    encode_image(out, ".png" if isinstance(chain.recipe.style.background, Transparent) else ".jpg")
    clock.record("encode", time.perf_counter() - start)
    return clock.row()[1:], mask, out


def time_frame(chain: Chain, frames: Frames, clock: StageClock) -> tuple[list[float], float]:
    """The next frame through the whole pipeline: (ms per stage in STAGES order, foreground fraction)."""
    start = time.perf_counter()
    frame = frames.decode()
    decode_ms = (time.perf_counter() - start) * 1000.0
    times, mask, _ = time_stages(chain, frame, clock)
    return [decode_ms] + times, float(np.count_nonzero(mask)) / mask.size


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e6 if sys.platform == "darwin" else peak * 1024 / 1e6


def summary(values: Sequence[float]) -> dict[str, float]:
    return {"median_ms": round(float(np.median(values)), 3), "p90_ms": round(float(np.percentile(values, 90)), 3)}


def run_model(model: Path, frames: Frames, recipe: Recipe, count: int, warmup: int,
              threads: int | None = None, backend: str | None = None) -> dict[str, Any]:
    """Time `count` frames (after `warmup` untimed ones) of one model with one thread count."""
    seg = open_model(model, backend=backend, threads=threads)
    clock = StageClock()
    chain = Chain(seg, recipe, clock.record)
    for _ in range(warmup):
        time_frame(chain, frames, clock)
    rows, foreground = [], []
    for _ in range(count):
        times, fg = time_frame(chain, frames, clock)
        rows.append(times)
        foreground.append(fg)
    table = np.array(rows)
    totals = table.sum(axis=1)
    stages = {name: summary(table[:, i]) for i, name in enumerate(STAGES)}
    inference = stages["inference"]["median_ms"]
    # ratios of summed stage medians: steadier on a busy machine than a difference of medians
    post = sum(stages[name]["median_ms"] for name in POSTPROCESS)
    rest = sum(stage["median_ms"] for name, stage in stages.items() if name != "inference")
    e2e = summary(totals)
    return {
        "model": str(model), "name": model.stem, "family": seg.family, "backend": seg.backend,
        "threads": seg.threads, "input_size": list(seg.input_size), "model_mb": round(model.stat().st_size / 1e6, 2),
        "frames": count, "stages": stages, "end_to_end": e2e,
        "fps": round(1000.0 * count / float(totals.sum()), 2),
        # the targets: post-processing (mask, background, blend) and everything but the model, per inference
        "postprocess_ratio": round(post / inference, 4) if inference else None,
        "non_inference_ratio": round(rest / inference, 4) if inference else None,
        "foreground": round(float(np.mean(foreground)), 4),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def host() -> dict[str, Any]:
    """What the figures were measured on."""
    return {"system": platform.system(), "machine": platform.machine(), "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(), "python": platform.python_version(),
            "numpy": np.__version__, "opencv": cv2.__version__}


def heat(before: thermal.Reading, after: thermal.Reading) -> dict[str, Any]:
    """The heat around a benchmark, for its JSON: the readings before and after, and whether the Pi
    ran throttled in between (flags set at either end, or a "since boot" flag that appeared);
    `throttled` is None where the machine cannot tell (no vcgencmd)."""
    flags: set[str] = set()
    throttled = None
    if before.throttled_bits is not None and after.throttled_bits is not None:
        appeared = after.throttled_bits & ~before.throttled_bits
        flags = set(before.throttled_now) | set(after.throttled_now) | set(thermal.flags_of(appeared, since_boot=True))
        throttled = bool(flags)
    elif after.throttled_bits is not None:
        flags = set(after.throttled_now)
        throttled = bool(flags)
    return {"before": before.as_dict(), "after": after.as_dict(), "throttled": throttled,
            "throttled_flags": [f for f in thermal.FLAGS.values() if f in flags],
            "before_line": thermal.describe(before), "after_line": thermal.describe(after)}


def heat_lines(result: dict[str, Any]) -> list[str]:
    """The report's lines about heat: none on a machine that says nothing about it."""
    info = result.get("heat") or {}
    lines = []
    if info.get("before_line") or info.get("after_line"):
        lines.append(f"heat: before {info.get('before_line') or 'unknown'}")
        lines.append(f"      after  {info.get('after_line') or 'unknown'}")
    if info.get("throttled"):
        flags = ", ".join(thermal.FLAG_TEXT[f] for f in info["throttled_flags"])
        lines.append(f"WARNING: this Pi was throttled during the benchmark ({flags}): its figures are lower "
                     "than it gives when cool and well powered")
    return lines


def bench(models: Sequence[Path], frames: Frames, recipe: Recipe, count: int, warmup: int = 1,
          threads: Sequence[int | None] = (None,), backend: str | None = None,
          on_error: Callable[[Path, str], None] = lambda model, reason: None) -> list[dict[str, Any]]:
    """Every model at every thread count on the same frames; a model that fails is reported, not raised."""
    runs = []
    for model in models:
        for n in threads:
            try:
                runs.append(run_model(model, frames, recipe, count, warmup, n, backend))
            except ModelError as exc:
                on_error(model, str(exc))
                break
    return runs


# ---- report -------------------------------------------------------------------------------------

STAGE_LABELS = {"decode": "decode", "preprocess": "preprocess (resize)", "inference": "inference",
                "mask": "mask + resize + Otsu", "background": "background blur", "blend": "blend",
                "encode": "encode (JPEG/PNG)"}


def format_report(result: dict[str, Any]) -> str:
    """The table people read: one block per run, then a comparison when there are several."""
    h = result["host"]
    lines = [f"pibokeh bench: {result['input']}, {result['size'][0]}x{result['size'][1]}, "
             f"{result['frames']} frames (+{result['warmup']} warm-up), background: {result['background']}",
             f"host: {h['system']} {h['machine']}, {h['cpus']} CPUs, Python {h['python']}, "
             f"NumPy {h['numpy']}, OpenCV {h['opencv']}", *heat_lines(result), ""]
    for run in result["runs"]:
        size = "x".join(str(v) for v in run["input_size"][::-1])
        lines.append(f"{Path(run['model']).name}  ({run['family']}; {run['backend']}, {run['threads']} thread{'s' * (run['threads'] != 1)}, "
                     f"input {size})")
        lines.append(f"  {'stage':<24}{'median ms':>10}{'p90 ms':>10}{'share':>8}")
        total = run["end_to_end"]["median_ms"] or 1.0
        for name in STAGES:
            s = run["stages"][name]
            lines.append(f"  {STAGE_LABELS[name]:<24}{s['median_ms']:>10.2f}{s['p90_ms']:>10.2f}"
                         f"{100 * s['median_ms'] / total:>7.1f}%")
        e2e = run["end_to_end"]
        lines.append(f"  {'end to end':<24}{e2e['median_ms']:>10.2f}{e2e['p90_ms']:>10.2f}   {run['fps']:.2f} fps")
        lines.append(f"  post-processing / inference {run['postprocess_ratio']:.3f}, everything but inference / "
                     f"inference {run['non_inference_ratio']:.3f}, foreground {100 * run['foreground']:.1f} %, "
                     f"peak RSS {run['peak_rss_mb']:.0f} MB")
        lines.append("")
    if len(result["runs"]) > 1:
        lines.append(f"{'model':<44}{'backend':<16}{'threads':>7}{'infer ms':>10}{'e2e ms':>9}{'fps':>8}")
        for run in result["runs"]:
            lines.append(f"{Path(run['model']).name[:43]:<44}{run['backend']:<16}{run['threads']:>7}"
                         f"{run['stages']['inference']['median_ms']:>10.1f}{run['end_to_end']['median_ms']:>9.1f}"
                         f"{run['fps']:>8.2f}")
    return "\n".join(lines).rstrip()
