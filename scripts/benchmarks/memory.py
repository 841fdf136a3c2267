"""Memory: the peak resident set size of `pibokeh blur` on a 1920x1080 video (the shared video scaled
up into a temp folder), run in the edge environment, beside the process with only the interpreter and
model loaded (`pibokeh info`) and `pibokeh bench` on the same clip.

    python -m scripts.benchmarks.memory --frames 30
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

from pibokeh.media.video import VideoFileSource

from . import cli, inputs, tools
from .markdown import met, paragraphs, table

LIMIT_MB = 250  # the target
MEASURE_RSS = ("import resource, subprocess, sys; "
               "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode; "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)")
log = tools.logger("memory")


def peak_rss(cmd: Sequence[str]) -> tuple[int, int]:
    """(peak RSS in KiB, exit status) of a command, measured by a fresh parent that runs only it."""
    proc = subprocess.run([sys.executable, "-c", MEASURE_RSS, *map(str, cmd)], capture_output=True, text=True,
                          cwd=inputs.ROOT)
    kib, code = proc.stdout.split()[-2:]
    return int(kib), int(code)


def frame_count(video: Path) -> int:
    if not video.is_file():
        return 0
    with VideoFileSource(video) as source:
        return source.frame_count


def measure(model: Path = inputs.CORAL, frames: int = 120, bench_frames: int = 10, video: Path = inputs.VIDEO
            ) -> dict[str, Any]:
    """Peak RSS of `pibokeh blur` on `frames` frames at 1920x1080, and of the loaded model alone."""
    inputs.require(model, video)
    python = tools.edge_python()
    with tempfile.TemporaryDirectory(prefix="pibokeh-memory-") as tmp:
        clip = inputs.scaled_clip(video, (1920, 1080), frames, Path(tmp))
        out = Path(tmp) / "blurred"
        log("pibokeh blur on the 1080p clip (peak RSS)")
        kib, code = peak_rss([python, "-m", "pibokeh", "blur", clip, "-o", out, "--model", model, "--quiet"])
        if code != 0:
            raise RuntimeError(f"pibokeh blur failed on the 1080p clip (exit status {code})")
        loaded_kib, _ = peak_rss([python, "-m", "pibokeh", "info", "--model", model])
        bench = tools.run_json([python, "-m", "pibokeh", "bench", "--json", "--input", clip, "--model", model,
                                "--frames", bench_frames], log)
        blurred = frame_count(out / clip.name)
    env = "edge environment (no TensorFlow)" if python != sys.executable else "full environment"
    return {"env": env, "clip": clip.name, "model": str(model), "frames_blurred": blurred,
            "blur_peak_rss_mb": round(kib * 1024 / 1e6, 1), "loaded_rss_mb": round(loaded_kib * 1024 / 1e6, 1),
            "bench": bench}


def render(data: dict[str, Any]) -> str:
    """The section: the target, then what the figure is."""
    peak = data["blur_peak_rss_mb"]
    run = data["bench"]["runs"][0] if data["bench"]["runs"] else None
    return paragraphs(
        "## Memory",
        table(["target", "goal", "measured", ""], [[
            f"peak RSS of `pibokeh blur` on a 1080p video ({data['frames_blurred']} frames)", f"<= {LIMIT_MB} MB",
            f"{peak:.0f} MB", met(peak <= LIMIT_MB)]]),
        f"`pibokeh blur` on a 1920x1080 clip ({data['frames_blurred']} frames, the shared video scaled up into a temp "
        f"folder), model `{Path(data['model']).name}`, run in the {data['env']}: peak RSS **{peak:.0f} MB** (`ru_maxrss` "
        f"of the process), of which {data['loaded_rss_mb']:.0f} MB is the process with the interpreter and model loaded "
        "(`pibokeh info`)." + (f" `pibokeh bench` on the same clip: {run['peak_rss_mb']:.0f} MB, {run['fps']:.1f} fps "
                               "end to end." if run else ""))


def main(argv: Sequence[str] | None = None) -> int:
    options = cli.parser("memory", __doc__)
    options.add_argument("--model", type=Path, default=inputs.CORAL, help="the model (default: %(default)s)")
    options.add_argument("--frames", type=int, default=120, help="frames of the 1080p clip (default: 120)")
    return cli.run("memory", options, lambda args: measure(args.model, args.frames, min(args.frames, 10)), render, argv)


if __name__ == "__main__":
    sys.exit(main())
