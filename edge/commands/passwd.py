"""`pibokeh passwd FILE USER`: add a user to (or change a password in, or remove a user from) the
preview's password file."""
from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import Any

from ..camera.auth import check_user, write_user
from ..errors import InputError

MIN_PASSWORD = 8
MAX_PASSWORD_BYTES = 1024  # the whole login travels in one request header (16 kB at most)


def register(sub: Any) -> None:
    helptext = "add a user to the password file of `pibokeh camera --auth FILE`, or change their password"
    p = sub.add_parser("passwd", help=helptext, description=helptext + (
        ". The password is asked twice on a terminal, or read as one line from standard input "
        "(`echo \"$PASSWORD\" | pibokeh passwd FILE USER`). FILE keeps a salted scrypt hash per user, "
        "never the password, and is made readable by its owner and group only. A running "
        "`pibokeh camera` takes the change on SIGHUP (`systemctl reload pibokeh`): a removed user or an "
        "old password stops working at once, open streams included."))
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument("user", metavar="USER")
    p.add_argument("--remove", action="store_true", help="remove USER from FILE (no password asked)")
    p.set_defaults(func=cmd_passwd)


def cmd_passwd(args: argparse.Namespace) -> int:
    check_user(args.user)
    if args.remove:
        write_user(args.file, args.user, None)
        print(f"pibokeh: removed {args.user} from {args.file}", file=sys.stderr)
        return 0
    if sys.stdin.isatty():
        password = getpass.getpass(f"password for {args.user}: ")
        if getpass.getpass("again: ") != password:
            raise InputError("the two passwords differ; nothing changed")
    else:
        password = _line_of(sys.stdin.buffer.readline(MAX_PASSWORD_BYTES + 2))
    if password is None or not _is_utf8(password):
        raise InputError("the password is not UTF-8 text (a browser sends the login as UTF-8); nothing changed")
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise InputError(f"the password is longer than {MAX_PASSWORD_BYTES} bytes; nothing changed")
    if len(password) < MIN_PASSWORD:
        raise InputError(f"the password needs at least {MIN_PASSWORD} characters; nothing changed")
    added = write_user(args.file, args.user, password)
    print(f"pibokeh: {'added' if added else 'changed the password of'} {args.user} "
          f"{'to' if added else 'in'} {args.file}", file=sys.stderr)
    return 0


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")  # getpass gives undecodable bytes as surrogates
    except UnicodeEncodeError:
        return False
    return True


def _line_of(data: bytes) -> str | None:
    """The first line of standard input as text; None when it is not UTF-8."""
    try:
        return data.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        return None
