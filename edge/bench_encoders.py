"""`pibokeh bench --encoders`: what writing video costs, encoder by encoder.

Every encoder pibokeh uses that opens here is timed at 640x480 and 1920x1080 (or `--size`), through
the same `VideoFileSink` that `blur` and `camera --record` write with: wall ms per frame in the
writing thread (what holds a recording's thread), CPU ms per frame over all threads (what it takes
from the rest of the pipeline), and the bitrate it gives. With `presets` and `threads`, libx264's
recording settings are timed as a table of presets x threads, the measurements `--codec auto` chose
its recording settings from (`media.encoders`). Frames are a slow pan over a synthetic picture, or
frames of a real video (`--input`), scaled to cover each size, which give honest bitrates.
"""
from __future__ import annotations

import dataclasses
import itertools
import time
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np

from . import core
from .bench import host, synthetic_frame
from .media import encoders
from .media.video import VideoFileSink, VideoFileSource

ENCODE_SIZES = ((640, 480), (1920, 1080))
PRESETS = ("ultrafast", "superfast", "veryfast")


Candidate = tuple[str, encoders.Encoder, bool, "str | None"]  # label, encoder, as a recording, why not here


def encoder_candidates(size: tuple[int, int] = (640, 480)) -> list[Candidate]:
    """(label, encoder, as a recording, why it cannot run here or None) for every encoder pibokeh uses,
    as it is set up for frames of `size`."""
    rows = []
    for name, live in (("libx264", False), ("libx264", True), ("h264_v4l2m2m", False), ("mpeg4", False),
                       ("libvpx-vp9", False)):
        encoder = encoders.encoder_for(name)
        label = encoder.describe(live, size) + (", recording" if live else "")
        if name == "libvpx-vp9":
            label += " with alpha"
        rows.append((label, encoder, live, encoders.why_not(name)))
    opencv = encoders.Encoder(encoders.OPENCV, browsers=False)  # no "PyAV is missing" warning: it is not
    rows.append(("opencv-mp4v (OpenCV's MPEG-4 Part 2 writer)", opencv, False, None))
    return rows


def x264_variants(presets: Sequence[str], threads: Sequence[int]) -> list[Candidate]:
    """libx264 recordings (zerolatency, as `camera --record` writes) at each preset and thread count."""
    base = encoders.encoder_for("libx264")
    why = encoders.why_not("libx264")
    rows = []
    for preset, n in itertools.product(presets, threads):
        encoder = dataclasses.replace(base, live_options={**base.live_options, "preset": preset, "threads": str(n)},
                                      large_live_options={})
        rows.append((f"libx264 recording, {preset}, {n} thread{'s' * (n != 1)}", encoder, True, why))
    return rows


def panning_frame(base: np.ndarray, t: int) -> np.ndarray:
    """Frame t of a slow pan over `base`: motion an encoder must really predict (not a still)."""
    return np.roll(base, 6 * t, axis=1)


def frames_of(size: tuple[int, int], count: int, video: Path | None = None) -> list[np.ndarray]:
    """`count` frames of `size` (w, h): a real video's, scaled to cover it (cycled when short), or a
    slow pan over a synthetic picture."""
    if video is None:
        base = synthetic_frame(size, 1)
        return [panning_frame(base, t) for t in range(count)]
    frames: list[np.ndarray] = []
    with VideoFileSource(video) as source:
        for frame in source:
            frames.append(core.cover(frame, (size[1], size[0])))
            if len(frames) >= count:
                break
    return list(itertools.islice(itertools.cycle(frames), count)) if frames else []


def _with_alpha(frame: np.ndarray) -> np.ndarray:
    alpha = np.zeros(frame.shape[:2], np.uint8)
    cv2.circle(alpha, (frame.shape[1] // 2, frame.shape[0] // 2), min(frame.shape[:2]) // 3, 255, -1)
    return np.dstack([frame, alpha])


def time_encoder(encoder: encoders.Encoder, frames: Sequence[np.ndarray], workdir: Path, live: bool = False,
                 fps: float = 30.0) -> dict[str, Any]:
    """Encode `frames` into a file: wall ms per frame in this thread and CPU ms per frame over all
    threads (the flush included), and the bitrate at `fps`."""
    size = (frames[0].shape[1], frames[0].shape[0])
    path = workdir / f"encode-{encoder.name}-{size[0]}x{size[1]}{encoder.suffix}"
    wall = cpu = 0.0
    ticks = iter(range(len(frames) + 1))  # a recording's clock, steady at `fps`: the machine's speed is timed
    sink = VideoFileSink(path, fps, size, encoder=encoder, live=live, clock=lambda: next(ticks) / fps)
    try:
        for frame in frames:
            frame = _with_alpha(frame) if encoder.alpha else frame
            w0, c0 = time.perf_counter(), time.process_time()
            sink.write(frame)
            wall, cpu = wall + time.perf_counter() - w0, cpu + time.process_time() - c0
        w0, c0 = time.perf_counter(), time.process_time()
        sink.close()
        wall, cpu = wall + time.perf_counter() - w0, cpu + time.process_time() - c0
    except BaseException:
        sink.abort()
        raise
    count = len(frames)
    kbps = path.stat().st_size * 8 / (count / fps) / 1000 if path.exists() else 0.0
    path.unlink(missing_ok=True)
    return {"size": list(size), "frames": count, "ms_per_frame": round(1000 * wall / count, 2),
            "cpu_ms_per_frame": round(1000 * cpu / count, 2), "fps": round(count / wall, 1) if wall else None,
            "kbps": round(kbps)}


def time_encoders(sizes: Sequence[tuple[int, int]], count: int, workdir: Path, presets: Sequence[str] = (),
                  threads: Sequence[int] = (), video: Path | None = None) -> list[dict[str, Any]]:
    """Every encoder at every size (with `presets` or `threads`, the libx264 recording table instead);
    one that does not open here is listed with the reason."""
    rows = []
    for size in sizes:
        if presets or threads:
            default = encoders.X264_RECORD
            candidates = x264_variants(presets or (default["preset"],), threads or (int(default["threads"]),))
        else:
            candidates = encoder_candidates(size)
        frames = frames_of(size, count, video)
        for label, encoder, live, why in candidates:
            row: dict[str, Any] = {"encoder": label, "name": encoder.name, "recording": live}
            if why or not frames:
                rows.append({**row, "size": list(size), "unavailable": why or "no frames could be decoded"})
                continue
            rows.append({**row, **time_encoder(encoder, frames, workdir, live)})
    return rows


def run(sizes: Sequence[tuple[int, int]], count: int, workdir: Path, presets: Sequence[str] = (),
        threads: Sequence[int] = (), video: Path | None = None) -> dict[str, Any]:
    """The `--encoders --json` object."""
    return {"host": host(), "pyav": encoders.pyav_version(), "frames": count,
            "input": str(video) if video else "a slow pan over a synthetic picture",
            "encoders": time_encoders(sizes, count, workdir, presets, threads, video),
            "default": encoders.choose().name}


def format_encoders(result: dict[str, Any]) -> str:
    h = result["host"]
    lines = [f"pibokeh bench --encoders: {result['frames']} frames of {result['input']} per encoder and size "
             "(a keyframe a second at 30 fps; CPU ms counts every thread)",
             f"host: {h['system']} {h['machine']}, {h['cpus']} CPUs, Python {h['python']}, "
             f"PyAV {result['pyav'] or 'not installed'}, OpenCV {h['opencv']}", "",
             f"  {'encoder':<58}{'size':>10}{'ms/frame':>10}{'CPU ms':>9}{'fps':>8}{'kbit/s':>9}"]
    for row in result["encoders"]:
        size = "x".join(map(str, row["size"]))
        if "unavailable" in row:
            lines.append(f"  {row['encoder'][:57]:<58}{size:>10}  {row['unavailable']}")
            continue
        lines.append(f"  {row['encoder'][:57]:<58}{size:>10}{row['ms_per_frame']:>10.2f}{row['cpu_ms_per_frame']:>9.2f}"
                     f"{row['fps'] or 0:>8.1f}{row['kbps']:>9}")
    return "\n".join(lines)
