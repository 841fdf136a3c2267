"""Compositing at camera rates (issue 20): what pibokeh's own per-frame work costs now that inference
may be free (an accelerator), before and after, and what the fast path gives up.

    python -m scripts.benchmarks.compositing                    # every part (~25 min here)
    python -m scripts.benchmarks.compositing --parts stages,head --json
    python -m scripts.benchmarks.compositing --save --page      # docs/measurements + docs/BENCHMARKS.md

Parts: stages (before/after per stage at 1080p and 720p, the seed's GaussianBlur 251 in the same
run, mask agreement and PSNR: `compositing_stages`), head (scores vs logits head:
`compositing_head`), ceiling (the camera pipeline with the near-free model, page and recording:
`compositing_ceiling`), recording (libx264 presets x threads: `compositing_recording`), memory
(peak RSS, its parts, a 10-minute run: `compositing_memory`), end_to_end (against the seed, needs
TensorFlow: `compositing_end_to_end`). "Before" is the runtime at `compositing_inputs.BEFORE`.
"""
from __future__ import annotations

import argparse
import datetime
import importlib
import json
import re
import sys
from pathlib import Path
from typing import Any, Sequence

from pibokeh.bench import host
from pibokeh.errors import PibokehError
from pibokeh.files import atomic_path

from . import compositing_render as render_parts
from .compositing_inputs import ROOT

PARTS = ("stages", "head", "ceiling", "recording", "memory", "end_to_end")
PAGE = ROOT / "docs" / "BENCHMARKS.md"
MEASUREMENTS = ROOT / "docs" / "measurements"


def measure(parts: Sequence[str] = PARTS, frames: int = 30, seconds: float = 15.0,
            long_minutes: float = 10.0) -> dict[str, Any]:
    """Every part asked for; each one's data under its name."""
    options = {"stages": {"frames": frames}, "head": {"frames": frames}, "ceiling": {"seconds": seconds},
               "recording": {}, "memory": {"long_minutes": long_minutes}, "end_to_end": {}}
    data: dict[str, Any] = {}
    for part in parts:
        module = importlib.import_module(f"{__package__}.compositing_{part}")
        data[part] = module.measure(**options[part])
    return data


def render(data: dict[str, Any]) -> str:
    """The page's section, from the data alone."""
    return render_parts.section(data)


def write_page(section: str, page: Path = PAGE) -> None:
    """Put the section between its markers on the page (replacing an earlier one, else at the end)."""
    block = f"<!-- benchmarks: compositing -->\n{section.strip()}\n<!-- /benchmarks: compositing -->"
    text = page.read_text()
    pattern = re.compile(r"<!-- benchmarks: compositing -->\n.*?\n<!-- /benchmarks: compositing -->", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + block + "\n"
    with atomic_path(page) as tmp:
        tmp.write_text(text)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scripts.benchmarks.compositing", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--parts", default=",".join(PARTS), help=f"comma list of {', '.join(PARTS)} (default: all)")
    p.add_argument("--frames", type=int, default=30, help="timed frames per size (stages, head)")
    p.add_argument("--seconds", type=float, default=15.0, help="seconds per size (ceiling)")
    p.add_argument("--long-minutes", type=float, default=10.0, help="length of the synthetic clip (memory); 0: skip")
    p.add_argument("--json", action="store_true", help="print the data instead of the section")
    p.add_argument("--saved", action="store_true", help="measure nothing: render docs/measurements/compositing.json")
    p.add_argument("--save", action="store_true", help="also write docs/measurements/compositing.json (parts "
                                                      "not measured now keep their saved data)")
    p.add_argument("--page", action="store_true", help="also write the section into docs/BENCHMARKS.md")
    argv = list(sys.argv[1:] if argv is None else argv)
    args = p.parse_args(argv)
    parts = [part.strip() for part in args.parts.split(",") if part.strip()]
    if any(part not in PARTS for part in parts):
        print(f"compositing: error: parts are {', '.join(PARTS)}", file=sys.stderr)
        return 2
    saved_path = MEASUREMENTS / "compositing.json"
    saved = json.loads(saved_path.read_text()) if saved_path.is_file() else {"data": {}}
    try:
        data = {} if args.saved else measure(parts, args.frames, args.seconds, args.long_minutes)
    except (PibokehError, RuntimeError) as exc:
        print(f"compositing: error: {exc}", file=sys.stderr)
        return 2
    data = {**saved["data"], **data}
    if args.save and not args.saved:
        record = {"topic": "compositing", "measured": datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%d %H:%M UTC"), "command": " ".join(["python -m scripts.benchmarks.compositing", *argv]),
            "host": host(), "data": data}
        MEASUREMENTS.mkdir(parents=True, exist_ok=True)
        with atomic_path(saved_path) as tmp:
            tmp.write_text(json.dumps(record, indent=1, default=str) + "\n")
    section = render(data)
    if args.page:
        write_page(section)
    print(json.dumps(data, default=str) if args.json else section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
