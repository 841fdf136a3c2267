"""The `pibokeh` command: one subcommand per module of `pibokeh.commands`."""
from __future__ import annotations

import sys
from typing import Sequence

from .commands import bench, blur, camera, evaluate, info, models, passwd
from .errors import run_command
from .options import Parser
from .quiet import quiet_native_logs

COMMANDS = (blur, evaluate, info, models, camera, passwd, bench)


def build_parser() -> Parser:
    parser = Parser(prog="pibokeh", description=(
        "Blur (or replace) everything but people - or any PASCAL VOC class - in photos, videos and "
        "camera streams, with DeepLab-v3 MobileNetV2 TFLite models."))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    quiet_native_logs()
    return run_command("pibokeh", build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
