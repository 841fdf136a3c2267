"""The errors a user can cause, and how a command turns them into one line and an exit code.

Every message is one line meant for the person at the terminal: what is wrong and, where it helps,
what to do. Code that meets bad input raises one of these; nothing else reaches the user.
"""
from __future__ import annotations

import argparse
import os
import sys


class PibokehError(Exception):
    """A problem the user can fix; the message is one line."""


class InputError(PibokehError):
    """An input (file, option value, source, config) that cannot be used."""


class OutputError(PibokehError):
    """An output that cannot be written."""


class ModelError(PibokehError):
    """A model that cannot be used (missing, not a segmentation model, no interpreter, bad card)."""


def run_command(prog: str, args: argparse.Namespace) -> int:
    """Run a parsed command (`args.func(args)`): a user error is one line on stderr and exit 2,
    Ctrl-C exit 130, a reader that went away (`| head`) exit 141 - never a traceback."""
    try:
        return args.func(args)
    except PibokehError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `pibokeh info | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 141
