"""docs/BENCHMARKS.md from the topics' data, one section per topic module (see the package docstring).

    python -m scripts.benchmarks                      # measure every topic, then write the page
    python -m scripts.benchmarks --only throughput    # measure these topics; the rest from saved data
    python -m scripts.benchmarks --saved              # write the page from saved data, measure nothing

Each topic measured is saved as docs/measurements/TOPIC.json first; the page is then rendered from
the saved data of every topic, so a topic that fails or is not asked for keeps its last figures. A
topic with no saved data keeps the section the page already had (its block between
`<!-- benchmarks: TOPIC -->` markers); a topic whose module is not there is left out. Plots are
redrawn (docs/img) where a topic has them and matplotlib is installed (the full environment).
"""
from __future__ import annotations

import argparse
import importlib
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Sequence

from pibokeh.errors import PibokehError
from pibokeh.files import atomic_path

from . import TOPICS, results, tools
from .inputs import ROOT
from .markdown import paragraphs, table

DOCS = ROOT / "docs"
BLOCK = re.compile(r"<!-- benchmarks: (\w+) -->\n(.*?)\n<!-- /benchmarks: \1 -->", re.S)
log = tools.logger("benchmarks")


def topic_modules(names: Sequence[str] = TOPICS) -> dict[str, ModuleType]:
    """The topic modules that are there, by name (a topic written in another branch may not be yet)."""
    found = {}
    for name in names:
        try:
            found[name] = importlib.import_module(f"{__package__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.{name}":
                raise  # the module is there but something it imports is not: that is an error
    return found


def kept_blocks(page: str) -> dict[str, str]:
    """The sections of an earlier page, by topic."""
    return {match.group(1): match.group(2) for match in BLOCK.finditer(page)}


def block(name: str, section: str) -> str:
    return f"<!-- benchmarks: {name} -->\n{section.strip()}\n<!-- /benchmarks: {name} -->"


def measure(modules: dict[str, ModuleType], names: Sequence[str], command: str, folder: Path) -> list[str]:
    """Measure `names` and save each one's data; the names that failed (each said in one line)."""
    failed = []
    for name in names:
        log(f"measuring {name}")
        try:
            data: dict[str, Any] = modules[name].measure()
        except (PibokehError, RuntimeError) as exc:
            log(f"{name}: error: {exc} (its section keeps its last figures)")
            failed.append(name)
            continue
        results.save(results.record(name, data, command), folder)
    return failed


def header(sections: dict[str, dict[str, Any] | None]) -> str:
    """The page's title, what it is made from, and when each section was measured."""
    rows = []
    for name, saved in sections.items():
        if saved is None:
            rows.append([f"`{name}`", "kept from the page before (no saved data)", "", ""])
        else:
            h = saved["host"]
            rows.append([f"`{name}`", saved["measured"], f"`{saved['command']}`",
                         f"{h['system']} {h['machine']}, {h['cpus']} CPUs, Python {h['python']}, NumPy {h['numpy']}, "
                         f"OpenCV {h['opencv']}"])
    return paragraphs(
        "# Benchmarks",
        "Every section of this page is written by `python -m scripts.benchmarks` from its data in "
        "`docs/measurements/TOPIC.json` (measured on this machine; `--only TOPIC` measures one again, `--saved` "
        "rewrites the page without measuring). The machine was shared with other jobs while measuring, so absolute "
        "times are noisy; every comparison is a ratio of runs timed in the same run on the same frames, interleaved.",
        table(["section", "measured", "by", "host"], rows))


REPRODUCE = """## Reproduce

```sh
scripts/setup.sh full && scripts/setup.sh edge   # .venv-full: TensorFlow, matplotlib; .venv-edge: what a Pi gets
PIBOKEH_EDGE_PYTHON=.venv-edge/bin/python .venv-full/bin/python -m scripts.benchmarks   # every topic
.venv-full/bin/python -m scripts.benchmarks --only throughput,encoders   # some topics; the rest as saved
.venv-full/bin/python -m scripts.benchmarks --saved                      # the page from docs/measurements
.venv-full/bin/python -m scripts.benchmarks.fast_models --help           # one topic on its own (--save keeps it)
pibokeh bench --model M1 --model M2 --threads 1,2 --input ../shared/data/video/person_handwave_854x480.mp4 --size 640x480
# fast_models --published-model FILE: also time the file the Pi estimate is scaled from,
# ssd_mobilenet_v1/tflite_for_rpi/mobilenet_v1.tflite of github.com/aallan/benchmarking-ml-on-the-edge
```
"""


def build(modules: dict[str, ModuleType], folder: Path, previous: str, img: Path | None = None) -> str:
    """The page: a section per topic from its saved data, else the previous page's, else none."""
    kept = kept_blocks(previous)
    stamps: dict[str, dict[str, Any] | None] = {}
    sections = []
    for name in TOPICS:
        saved = results.load(name, folder) if name in modules else None
        if saved is not None:
            sections.append(block(name, modules[name].render(saved["data"])))
            stamps[name] = saved
            if img is not None and hasattr(modules[name], "plot"):
                draw(modules[name], saved["data"], img)
        elif name in kept:
            sections.append(block(name, kept[name]))
            stamps[name] = None
    return paragraphs(header(stamps), *sections, REPRODUCE)


def draw(module: ModuleType, data: dict[str, Any], img: Path) -> None:
    img.mkdir(parents=True, exist_ok=True)
    try:
        module.plot(data, img)
    except ImportError as exc:  # matplotlib: the full environment only
        log(f"{module.__name__}: figures not redrawn ({exc})")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--only", metavar="TOPIC[,TOPIC]", help=f"measure these topics only ({', '.join(TOPICS)})")
    which.add_argument("--saved", action="store_true", help="measure nothing: the page from the saved data")
    parser.add_argument("--measurements", type=Path, default=results.MEASUREMENTS,
                        help="where each topic's data is saved and read (default: docs/measurements)")
    parser.add_argument("--out", type=Path, default=DOCS, help="where BENCHMARKS.md and img/ go (default: docs)")
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    modules = topic_modules()
    names = [] if args.saved else args.only.split(",") if args.only else list(modules)
    unknown = [name for name in names if name not in modules]
    if unknown:
        print(f"benchmarks: error: no topic module {', '.join(unknown)} (there are: {', '.join(modules)})",
              file=sys.stderr)
        return 2
    failed = measure(modules, names, " ".join(["python -m scripts.benchmarks", *argv]), args.measurements)
    page = args.out / "BENCHMARKS.md"
    text = build(modules, args.measurements, page.read_text() if page.is_file() else "", args.out / "img")
    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_path(page) as tmp:
        tmp.write_text(text)
        tmp.chmod(0o644)
    log(f"wrote {page}" + (f"; not measured: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
