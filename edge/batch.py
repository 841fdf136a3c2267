"""`pibokeh blur` and `pibokeh mask` over files, folders and videos: one frame function, a batch
loop that goes on past bad files, and a summary at the end."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from . import core, encoders
from .errors import InputError, OutputError
from .files import reason
from .frames import FrameSink
from .images import read_image, to_bgr8, write_image
from .inputs import expand_inputs, is_video, real, why_unusable
from .model import Segmenter
from .png_sequence import PngSequenceSink
from .progress import Progress
from .video import VideoFileSink, VideoFileSource

FrameFn = Callable[[np.ndarray], np.ndarray]


def mask_frame(segmenter: Segmenter, image: np.ndarray, class_ids: Sequence[int]) -> np.ndarray:
    """The binary mask (uint8 0/255, the image's size) that `blur` blends with."""
    return core.frame_mask(segmenter.predict(to_bgr8(image)), class_ids, image.shape[:2])


def blur_frame(segmenter: Segmenter, image: np.ndarray, class_ids: Sequence[int],
               style: core.Style) -> np.ndarray:
    return core.compose(image, mask_frame(segmenter, image, class_ids), style)


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


def output_name(name: Path, video: bool, transparent: bool, mask: bool,
                video_output: VideoOutput = VideoOutput()) -> Path:
    """The output's path under the output folder: the input's base name, a suffix that can hold it
    (for a video: .mp4, .webm when transparent, or a folder of PNGs named like the input's stem)."""
    if video:
        return name.with_suffix(video_output.suffix(transparent and not mask))
    if mask or transparent:
        return name.with_suffix(".png")
    return name


def run(inputs: Sequence[str], outdir: Path, frame_fn: FrameFn, *, transparent: bool = False,
        mask: bool = False, quiet: bool = False, log: Callable[[str], None] = print,
        video_output: VideoOutput = VideoOutput()) -> Report:
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
        target = outdir / output_name(name, video, transparent, mask, video_output)
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
                report.frames += _video(path, target, frame_fn, quiet, mask, transparent, video_output,
                                        lambda note, path=path: log(f"{path}: {note}"))
                report.videos += 1
            else:
                image = read_image(path)
                write_image(target, _storable(frame_fn(image), target.suffix))
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


def _video(path: Path, target: Path, frame_fn: FrameFn, quiet: bool, mask: bool, transparent: bool,
           video_output: VideoOutput, note: Callable[[str], None]) -> int:
    """Process a video frame by frame into a video of the same size and timing (the input's
    timestamps, so also its duration and variable frame rate) with the input's sound copied in
    (not for masks), or into a folder of PNGs. The output appears only once it is complete."""
    with VideoFileSource(path) as source:
        bar = Progress(source.frame_count, path.name, enabled=not quiet)
        sink: FrameSink
        if video_output.frames_as_png:
            sink = PngSequenceSink(target)
        else:
            encoder = encoders.choose(video_output.codec, source.size, alpha=transparent and not mask)
            sink = VideoFileSink(target, source.fps, source.size, encoder=encoder, time_base=source.time_base,
                                 audio_from=None if mask or source.time_base is None else path)
        with sink:
            for frame in source:
                out = frame_fn(frame)
                if mask and not video_output.frames_as_png:
                    out = core.match_format(out, frame)  # a mask video: grey pictures in colour frames
                sink.write(out, pts=source.pts)
                bar.update()
            bar.close()
            if sink.frames == 0:
                raise InputError(f"{path}: no frames could be decoded")
        for line in sink.notes:
            note(line)
        if source.skipped:
            note(f"{source.skipped} damaged packet{'s' * (source.skipped != 1)} skipped")
        return sink.frames
