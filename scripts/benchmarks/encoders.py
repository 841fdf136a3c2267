"""The video encoders: `pibokeh bench --encoders --json` in the edge environment -- ms per frame of
every encoder pibokeh can use, through the writer `pibokeh blur` and `camera --record` use.

    python -m scripts.benchmarks.encoders --frames 20
"""
from __future__ import annotations

import sys
from typing import Any, Sequence

from . import cli, tools
from .markdown import paragraphs, size, table


def measure(frames: int = 60) -> dict[str, Any]:
    """`pibokeh bench --encoders --json` with `frames` frames per encoder and size."""
    return tools.run_json([tools.edge_python(), "-m", "pibokeh", "bench", "--encoders", "--json", "--frames", frames],
                          tools.logger("encoders"))


def render(data: dict[str, Any]) -> str:
    """The section: one row per encoder and size; a row for each one that does not open here."""
    rows = []
    for row in data["encoders"]:
        if "unavailable" in row:
            rows.append([row["encoder"], size(row["size"]), row["unavailable"], "", "", ""])
        else:
            rows.append([row["encoder"], size(row["size"]), f"{row['ms_per_frame']:.1f}", f"{row['cpu_ms_per_frame']:.1f}",
                         f"{row['fps']:.1f}", row["kbps"]])
    return paragraphs(
        "## Video encoders",
        f"`pibokeh bench --encoders`: {data['frames']} frames of a panning picture through the writer that "
        f"`pibokeh blur` and `camera --record` use (PyAV {data['pyav']}); `--codec auto` picks `{data['default']}` here. "
        "Wall ms include waiting for a core on a busy machine; CPU ms count every encoder thread.",
        table(["encoder", "size", "ms/frame", "CPU ms/frame", "fps", "kbit/s"], rows))


def main(argv: Sequence[str] | None = None) -> int:
    options = cli.parser("encoders", __doc__)
    options.add_argument("--frames", type=int, default=60, help="frames per encoder and size (default: 60)")
    return cli.run("encoders", options, lambda args: measure(args.frames), render, argv)


if __name__ == "__main__":
    sys.exit(main())
