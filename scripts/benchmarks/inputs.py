"""What the benchmarks run on: the graphs, models, photos and video of ../shared/data (beside the
repository, or $PIBOKEH_SHARED), and copies of the video scaled to a benchmark's frame size."""
from __future__ import annotations

import os
from pathlib import Path

from pibokeh.bench import scaled_video
from pibokeh.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("PIBOKEH_SHARED", ROOT.parent / "shared" / "data"))
REFERENCE_GRAPH = SHARED / "frozen_graphs" / "deeplabv3_mnv2_dm10_pascal_weightquant.pb"
GRAPHS = {"1.0": REFERENCE_GRAPH, "0.5": SHARED / "frozen_graphs" / "deeplabv3_mnv2_dm05_pascal.pb"}
CORAL = SHARED / "models" / "deeplabv3_mnv2_pascal_quant.tflite"
CORAL_DM05 = SHARED / "models" / "deeplabv3_mnv2_dm05_pascal_quant.tflite"
FLOAT257 = SHARED / "models" / "deeplabv3_257_mv_gpu.tflite"
PREBUILT = (CORAL, CORAL_DM05, FLOAT257)
VIDEO = SHARED / "video" / "person_handwave_854x480.mp4"
VOC = SHARED / "voc"
CALIB = SHARED / "calib"


def require(*paths: Path) -> None:
    """InputError naming the first of `paths` that is missing."""
    for path in paths:
        if not Path(path).exists():
            raise InputError(f"{path}: no such file (is ../shared/data beside the repository?)")


def need(path: Path) -> Path:
    """`path`, once `require` found it."""
    require(path)
    return path


def scaled_clip(video: Path, size: tuple[int, int], frames: int, folder: Path) -> Path:
    """The first `frames` frames of `video` scaled to cover `size` (w, h), as an MP4 in `folder`: the
    frames a camera or a file of that size would give (decoding them is part of what is timed)."""
    return scaled_video(video, folder / f"{video.stem}_{size[0]}x{size[1]}.mp4", size, frames)
