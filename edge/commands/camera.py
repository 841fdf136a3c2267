"""`pibokeh camera`: a live source through the model into a preview server, a recording and snapshots.

Every option can also come from a TOML file (`--config`): keys are the long option names
(`blur-kernel = 151` or `blur_kernel = 151`). The command line wins over the file, the file over
the defaults. SIGHUP re-reads the file and the model and applies what can change live (model,
classes, look, inference rate, smoothing, snapshot interval) without dropping the stream.
SIGTERM and Ctrl-C finish cleanly: the recording is finalised and playable.
"""
from __future__ import annotations

import argparse
from typing import Any

from ..camera.config import resolve
from ..camera.options import add_camera_options
from ..camera.service import Signals, run, settings_from


def register(sub: Any) -> None:
    """Register `pibokeh camera` on the `pibokeh` subcommands."""
    helptext = "run a camera or stream live: blur, preview in a browser, record, snapshot"
    p = sub.add_parser("camera", help=helptext, description=helptext[0].upper() + helptext[1:] + ". " + (
        __doc__.split("\n\n", 1)[1].replace("\n", " ")))
    add_camera_options(p)
    defaults = vars(p.parse_args([]))
    # Unset options read None, so the config file can fill them in before the defaults do.
    p.set_defaults(**dict.fromkeys(defaults, None), func=cmd_camera, camera_defaults=defaults)


def cmd_camera(args: argparse.Namespace) -> int:
    opts = resolve(args)
    settings = settings_from(opts)
    signals = Signals()
    signals.install()
    try:
        return run(args, opts, settings, signals)
    finally:
        signals.restore()
