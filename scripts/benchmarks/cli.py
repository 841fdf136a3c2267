"""The command line every topic module shares: its own options for `measure`, then `--json` (print
the data, not the section) and `--save` (write it where the page generator reads it); bad input is
one line on stderr and exit status 2, never a traceback."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from pibokeh.errors import PibokehError

from . import results


def parser(topic: str, doc: str | None) -> argparse.ArgumentParser:
    """An argument parser for `python -m scripts.benchmarks.TOPIC`, described by the module's docstring."""
    return argparse.ArgumentParser(prog=f"python -m scripts.benchmarks.{topic}", description=(doc or "").strip(),
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def run(topic: str, options: argparse.ArgumentParser, measure: Callable[[argparse.Namespace], dict[str, Any]],
        render: Callable[[dict[str, Any]], str], argv: Sequence[str] | None = None) -> int:
    """Parse `argv`, measure, then print the section (or the data) and save it when asked."""
    options.add_argument("--json", action="store_true", help="print the data as one JSON object instead of the section")
    options.add_argument("--save", nargs="?", type=Path, const=results.MEASUREMENTS, metavar="DIR",
                         help=f"also write the data to DIR/{topic}.json (default DIR: "
                              f"{results.MEASUREMENTS.relative_to(results.ROOT)}, where `python -m scripts.benchmarks "
                              "--saved` renders the page from)")
    argv = list(sys.argv[1:] if argv is None else argv)
    args = options.parse_args(argv)
    try:
        data = measure(args)
    except (PibokehError, RuntimeError) as exc:  # PibokehError: InputError, ModelError, ...
        print(f"{topic}: error: {exc}", file=sys.stderr)
        return 2
    if args.save:
        results.save(results.record(topic, data, " ".join([f"python -m scripts.benchmarks.{topic}", *argv])), args.save)
    print(json.dumps(data, default=str) if args.json else render(data))
    return 0
