"""`pibokeh blur` and `pibokeh mask` over files, folders and videos: one job for every input, a batch
loop that goes on past bad files, and a summary at the end.

Images go through the chain one by one; a video runs on the engine in its no-skip mode (decode,
inference, compositing and encoding overlap), every frame written in order with the input's
timestamps and sound.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from .chain import Chain, Recipe
from .engine import Engine, Settings, ThreadedSink
from .errors import InputError, OutputError
from .files import reason
from .media import encoders
from .media.frames import FrameSink
from .media.images import read_image, write_image
from .media.inputs import expand_inputs, is_video, real, why_unusable
from .media.png_sequence import PngSequenceSink
from .media.video import VideoFileSink, VideoFileSource
from .model import ModelSet
from .progress import Progress
from .stats import Stats
from .styles import Transparent


@dataclass(frozen=True)
class VideoOutput:
    """How videos are written: `--codec` (None: auto) or, with `frames_as_png`, a folder of PNGs."""
    codec: str | None = None
    frames_as_png: bool = False

    def suffix(self, transparent: bool) -> str:
        """".mp4", ".webm" (VP9: transparent video), or "" (a folder of frames)."""
        if self.frames_as_png:
            return ""
        return ".webm" if transparent or self.codec == "libvpx-vp9" else ".mp4"

    def check(self, transparent: bool) -> None:
        """Raise InputError now if the encoder asked for cannot work here (not after the first video)."""
        if not self.frames_as_png:
            encoders.choose(self.codec, alpha=transparent)


@dataclass(frozen=True)
class Job:
    """What `blur` or `mask` does to every input: the models, the recipe (classes and look), masks
    instead of composed frames, how videos are written, and whether a video's stages run in threads
    (the default) or one after the other."""
    models: ModelSet
    recipe: Recipe = field(default_factory=Recipe)
    masks: bool = False
    video: VideoOutput = field(default_factory=VideoOutput)
    threaded: bool = True

    @property
    def transparent(self) -> bool:
        """Outputs carry an alpha channel (PNG, VP9 WebM with alpha)."""
        return isinstance(self.recipe.style.background, Transparent) and not self.masks

    def output_name(self, name: Path, video: bool) -> Path:
        """The output's path under the output folder: the input's base name, a suffix that can hold it
        (for a video: .mp4, .webm when transparent, or a folder of PNGs named like the input's stem)."""
        if video:
            return name.with_suffix(self.video.suffix(self.transparent))
        if self.masks or self.transparent:
            return name.with_suffix(".png")
        return name


@dataclass
class Report:
    done: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    videos: int = 0
    frames: int = 0
    seconds: float = 0.0

    def exit_code(self) -> int:
        if not self.failed:
            return 0
        return 1 if self.done else 2

    def summary(self) -> str:
        parts = [f"{len(self.done)} file{'s' * (len(self.done) != 1)} done"]
        if self.videos:
            parts.append(f"{self.videos} video{'s' * (self.videos != 1)}")
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        rate = self.frames / self.seconds if self.seconds > 0 else 0.0
        parts.append(f"{self.frames} frames in {self.seconds:.1f} s ({rate:.1f} frames/s)")
        return ", ".join(parts)


def process_image(image: np.ndarray, job: Job) -> np.ndarray:
    """The output of one image: its mask, or the composed frame."""
    chain = Chain(job.models, job.recipe)
    return chain.mask_of(image) if job.masks else chain(image)


@dataclass
class VideoResult:
    """What processing one video gave: the output, its frame count, and notes worth a line each
    (audio a WebM cannot hold, damaged packets skipped)."""
    path: Path
    frames: int
    notes: list[str]
    stats: Stats


def process_video(path: Path, target: Path, job: Job, quiet: bool = True) -> VideoResult:
    """Process a video frame by frame into a video of the same size and timing (the input's
    timestamps, so also its duration and variable frame rate) with the input's sound copied in
    (not for masks), or into a folder of PNGs. The output appears only once it is complete; on any
    failure or interruption nothing of it is left and an earlier file of that name is untouched."""
    if real(target) == real(path):
        raise OutputError(f"output {target} would overwrite the input; choose another name")
    stats = Stats()
    with VideoFileSource(path) as source:
        sink = _video_sink(path, target, source, job)
        bar = Progress(source.frame_count, path.name, enabled=not quiet)
        writer = ThreadedSink(sink, stage="encode", record=stats.record) if job.threaded else sink
        engine = Engine(source, job.models, [writer, _Ticks(bar)], Settings(job.recipe), stats=stats,
                        masks=job.masks)
        try:
            _run(engine, job.threaded)
            bar.close()
            if engine.failure is not None:
                raise engine.failure
            if stats.frames_out == 0:
                raise InputError(f"{path}: no frames could be decoded")
            writer.close()
        except BaseException:
            writer.abort()
            raise
    notes = list(getattr(sink, "notes", []))
    if source.skipped:
        notes.append(f"{source.skipped} damaged packet{'s' * (source.skipped != 1)} skipped")
    return VideoResult(target, stats.frames_out, notes, stats)


def _run(engine: Engine, threaded: bool) -> None:
    if not threaded:
        engine.run_serial()
        return
    engine.start()
    try:
        while not engine.wait(0.2):
            pass
    finally:  # also when Ctrl-C or SIGTERM (`Stopped`) lands here: stop the stages, then unwind
        engine.join()


def _video_sink(path: Path, target: Path, source: VideoFileSource, job: Job) -> FrameSink:
    if job.video.frames_as_png:
        return PngSequenceSink(target)
    encoder = encoders.choose(job.video.codec, source.size, alpha=job.transparent)
    return VideoFileSink(target, source.fps, source.size, encoder=encoder, time_base=source.time_base,
                         audio_from=None if job.masks or source.time_base is None else path)


class _Ticks(FrameSink):
    """Moves a progress bar by one per frame written."""

    def __init__(self, bar: Progress):
        self.bar = bar

    def write(self, frame: np.ndarray, pts: int | None = None) -> None:
        self.bar.update()


def run(inputs: Sequence[str], outdir: Path, job: Job, *, quiet: bool = False,
        log: Callable[[str], None] = print) -> Report:
    """Process every input into `outdir`. Failures are collected in the report, never raised;
    `log` gets notes worth a line (e.g. an audio track a WebM cannot hold)."""
    report = Report()
    pairs, problems = expand_inputs(inputs, exclude=outdir)
    report.failed.extend(problems)
    inputs_resolved = {real(p) for p, _ in pairs}
    claimed: dict[Path, Path] = {}
    bar = Progress(len(pairs), "pibokeh", enabled=not quiet and len(pairs) > 1)
    start = time.monotonic()
    for path, name in pairs:
        video = is_video(path)
        target = outdir / job.output_name(name, video)
        try:
            resolved = real(target)
            if resolved in inputs_resolved:
                raise OutputError(f"output {target} would overwrite an input; choose another -o folder")
            if resolved in claimed:
                raise OutputError(f"output {target} is already written for {claimed[resolved]}")
            if target.is_symlink() and not target.exists():  # a loop or a dangling link: whose file is it?
                raise OutputError(f"output {target} is a {why_unusable(target)}; remove it or choose another -o folder")
            claimed[resolved] = path
            target.parent.mkdir(parents=True, exist_ok=True)
            if video:
                result = process_video(path, target, job, quiet)
                for line in result.notes:
                    log(f"{path}: {line}")
                report.frames += result.frames
                report.videos += 1
            else:
                write_image(target, _storable(process_image(read_image(path), job), target.suffix))
                report.frames += 1
            report.done.append(path)
        except (InputError, OutputError) as exc:
            report.failed.append((path, _strip_path(str(exc), path)))
        except OSError as exc:
            report.failed.append((path, f"cannot write {target} ({reason(exc)})"))
        except MemoryError:  # one huge file must not end the batch; the next one may fit
            report.failed.append((path, "not enough memory to process it (see --max-pixels)"))
        except cv2.error as exc:
            text = " ".join(str(exc).split())
            report.failed.append((path, "not enough memory to process it (see --max-pixels)"
                                  if "Insufficient memory" in text or "Failed to allocate" in text
                                  else f"OpenCV could not process it ({text[-120:]})"))
        bar.update(note=path.name)
    bar.close()
    report.seconds = time.monotonic() - start
    return report


def _strip_path(message: str, path: Path) -> str:
    prefix = f"{path}: "
    return message[len(prefix):] if message.startswith(prefix) else message


def _storable(image: np.ndarray, suffix: str) -> np.ndarray:
    # JPEG holds 8 bits only; 16-bit results go out at their top 8 bits rather than failing.
    if image.dtype == np.uint16 and suffix.lower() in (".jpg", ".jpeg", ".webp", ".bmp"):
        return (image >> 8).astype(np.uint8)
    return image
