"""Recording without a hardware encoder (a Raspberry Pi 5): libx264 recordings (zerolatency, as
`camera --record` writes them) at ultrafast, superfast and veryfast with 1 to 4 threads, at 1280x720
and 1920x1080, on frames of the shared video: wall ms a frame in the recording's thread (what decides
whether it keeps up with the camera), CPU ms a frame over all threads (what it takes from the
pipeline), and kbit/s. `pibokeh bench --encoders --presets ... --threads ... --input VIDEO` measures
the same table; `--codec auto`'s recording settings (`pibokeh.media.encoders`) were chosen from it.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Sequence

from pibokeh import bench_encoders
from pibokeh.media import encoders

from . import compositing_inputs as inputs

SIZES = ((1280, 720), (1920, 1080))
THREADS = (1, 2, 3, 4)


def measure(frames: int = 60, presets: Sequence[str] = bench_encoders.PRESETS,
            threads: Sequence[int] = THREADS) -> dict[str, Any]:
    inputs.log(f"libx264 recordings: {len(presets)} presets x {len(threads)} thread counts x {len(SIZES)} sizes")
    with tempfile.TemporaryDirectory(prefix="pibokeh-encoders-") as tmp:
        data = bench_encoders.run(SIZES, frames, Path(tmp), presets, threads, inputs.need(inputs.VIDEO))
    encoder = encoders.encoder_for("libx264")
    data["chosen"] = {f"{w}x{h}": encoder.options_for((w, h), live=True) for w, h in SIZES}
    data["files"] = {f"{w}x{h}": encoder.options_for((w, h), live=False) for w, h in SIZES}
    return data
