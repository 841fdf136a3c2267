"""`pibokeh passwd FILE USER`: add a user to (or change a password in) the preview's password file."""
from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import Any

from ..camera.auth import check_user, write_user
from ..errors import InputError

MIN_PASSWORD = 8


def register(sub: Any) -> None:
    helptext = "add a user to the password file of `pibokeh camera --auth FILE`, or change their password"
    p = sub.add_parser("passwd", help=helptext, description=helptext + (
        ". The password is asked twice on a terminal, or read as one line from standard input "
        "(`echo \"$PASSWORD\" | pibokeh passwd FILE USER`). FILE keeps a salted scrypt hash per user, "
        "never the password, and is made readable by its owner and group only."))
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument("user", metavar="USER")
    p.set_defaults(func=cmd_passwd)


def cmd_passwd(args: argparse.Namespace) -> int:
    check_user(args.user)
    if sys.stdin.isatty():
        password = getpass.getpass(f"password for {args.user}: ")
        if getpass.getpass("again: ") != password:
            raise InputError("the two passwords differ; nothing changed")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < MIN_PASSWORD:
        raise InputError(f"the password needs at least {MIN_PASSWORD} characters; nothing changed")
    added = write_user(args.file, args.user, password)
    print(f"pibokeh: {'added' if added else 'changed the password of'} {args.user} "
          f"{'to' if added else 'in'} {args.file}", file=sys.stderr)
    return 0
