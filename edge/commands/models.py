"""`pibokeh models` (where models are, and which one is the default) and `pibokeh fetch`."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import PibokehError
from ..model import open_model, registry
from ..model.compute import describe_macs
from ..model.search import default_models, search
from ..options import add_quiet, float_in
from ..progress import Progress
from ..stopping import Stopped, stop_on_signals


def register(sub: Any) -> None:
    p = sub.add_parser("models", help="list the places models are looked for, the converted and the "
                                      "prebuilt models, and which one is the default")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("fetch", help="download registry models (sha256-verified) into the cache",
                       description="Download models of `pibokeh models` into the cache "
                                   "($PIBOKEH_CACHE or ~/.cache/pibokeh), verifying their size and sha256. "
                                   "A download that sends more than the registry's size, or takes longer than "
                                   "--timeout in all, is stopped; SIGTERM, SIGHUP and Ctrl-C remove the partial "
                                   "file (exit 143, 129, 130).")
    p.add_argument("names", nargs="+", metavar="NAME")
    p.add_argument("--mirror", metavar="URL", default=None,
                   help="download <URL>/<file> instead of the upstream address (e.g. a local mirror)")
    p.add_argument("--timeout", type=float_in(1, 86400, "a time in seconds"), default=registry.DOWNLOAD_TIME,
                   metavar="S", help=f"give up a download not complete after S seconds in all "
                                     f"(default: {registry.DOWNLOAD_TIME:g})")
    add_quiet(p, "no progress bar")
    p.set_defaults(func=cmd_fetch)


def cmd_models(args: argparse.Namespace) -> int:
    try:
        defaults = set(default_models())
    except PibokehError:
        defaults = set()
    print("default model search (--model wins over all of these; several defaults: "
          "each input goes to the one of its aspect):")
    for i, place in enumerate(search(), 1):
        print(f"  {i}. {place.what:<18}{place.where}")
        for path in place.found:
            mark = "  <- default" if path in defaults else ""
            print(f"       {path.name:<40}{_size(path)}  {_shape(path)}{mark}")
        if not place.found:
            print("       (none)")
    print("prebuilt models (`pibokeh fetch NAME`):")
    for entry in registry.registry():
        state = "downloaded" if registry.cached_path(entry).is_file() else "not downloaded"
        print(f"  {entry.name:<34}{entry.size_bytes / 1e6:5.1f} MB  {entry.license:<11}{state}")
        print(f"  {'':<34}{entry.family}")
    return 0


def _shape(path: Path) -> str:
    """'513x289, output stride 16, 0.98 GMAC' (input width x height), or why it cannot be read."""
    try:
        seg = open_model(path, threads=1)
    except PibokehError as exc:
        return f"unusable: {str(exc).removeprefix(f'{path}: ')}"
    height, width = seg.input_size
    stride = f"output stride {seg.output_stride}" if seg.output_stride else "output stride ?"
    macs = describe_macs(seg.compute.macs) if seg.compute else "? MAC"
    return f"{width}x{height}, {stride}, {macs}"


def _size(path: Path) -> str:
    try:
        return f"{path.stat().st_size / 1e6:6.1f} MB"
    except OSError:
        return "  missing"


def cmd_fetch(args: argparse.Namespace) -> int:
    failures = 0
    for name in args.names:
        try:
            entry = registry.lookup(name)
            bar = Progress(entry.size_bytes, f"fetch {entry.name}", enabled=not args.quiet)
            with stop_on_signals():
                path = registry.fetch(entry, mirror=args.mirror, deadline=args.timeout,
                                      progress=lambda done, total: bar.update(done - bar.done))
            bar.close()
            print(path)
        except PibokehError as exc:
            print(f"pibokeh: error: {exc}", file=sys.stderr)
            failures += 1
        except Stopped as stop:
            print(f"pibokeh: stopped by {stop}; the partial download was removed", file=sys.stderr)
            return stop.exit_code
    if not failures:
        return 0
    return 1 if failures < len(args.names) else 2
