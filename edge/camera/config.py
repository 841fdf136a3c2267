"""`pibokeh camera --config FILE.toml`: every option from a TOML file, checked like the command line.

Keys are the long option names (`blur-kernel = 151` or `blur_kernel = 151`). The command line wins
over the file, the file over the defaults.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..options import Parser
from .options import LIVE, NOT_IN_CONFIG, PATHS, add_camera_options


ALIASES = {"allow_host": "allow_hosts"}  # the option is --allow-host NAME (repeatable)


class ConfigParser(Parser):
    """The camera options, parsed from a config file's entries: errors raise instead of exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise InputError(message)


def read_config(path: Path) -> dict[str, Any]:
    """The options a TOML config file sets, checked and converted like command-line values."""
    try:
        import tomllib  # Python 3.11+; older Pi images (Python 3.9) have the same parser as tomli
    except ImportError:
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError:
            raise InputError(f"{path}: reading TOML needs Python 3.11 or `pip install tomli`") from None
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML ({exc})") from None
    settings = parse_settings(data, str(path))
    for key in PATHS:
        if key in settings:
            settings[key] = _relative_to(path.parent, key, settings[key])
    return settings


def parse_settings(data: dict[str, Any], where: str) -> dict[str, Any]:
    """Settings by long option name (`blur-kernel` or `blur_kernel`) -> the values they parse to,
    checked and converted like the command line's; InputError names `where` and the problem."""
    parser = ConfigParser(prog=where, add_help=False)
    add_camera_options(parser)
    # the long option of each setting (--allow-host's setting is allow_hosts)
    flags = {a.dest: max(a.option_strings, key=len) for a in parser._actions if a.option_strings}
    known = set(vars(parser.parse_args([]))) - NOT_IN_CONFIG
    argv: list[str] = []
    for key, value in data.items():
        dest = ALIASES.get(key.replace("-", "_"), key.replace("-", "_"))
        if dest not in known:
            raise InputError(f"{where}: unknown setting {key!r}; settings are the long options of "
                             "`pibokeh camera --help`")
        flag = flags[dest]
        if isinstance(value, bool):
            if parser.get_default(dest) is not False:
                raise InputError(f"{where}: {key} needs a value, not {str(value).lower()}")
            argv += [flag] if value else []
        elif isinstance(value, (str, int, float)):
            argv += [f"{flag}={value}"]  # one word: a value starting with "-" is still a value
        elif isinstance(value, list) and dest == "classes":
            argv += [f"{flag}={','.join(map(str, value))}"]
        elif isinstance(value, list) and dest == "allow_hosts" and all(isinstance(v, str) for v in value):
            argv += [f"{flag}={v}" for v in value]
        elif isinstance(value, list) and dest == "model" and all(isinstance(v, str) for v in value):
            argv += [f"{flag}={item}" for item in value]  # several models: each input to the one of its aspect
        else:
            raise InputError(f"{where}: {key} should be a string or a number")
    try:
        parsed = vars(parser.parse_args(argv))
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None
    chosen = {ALIASES.get(key.replace("-", "_"), key.replace("-", "_")) for key in data}
    settings = {k: v for k, v in parsed.items() if k in chosen and v is not None and v is not False}
    settings.update({k: False for k in chosen if parsed.get(k) is False})
    return settings


def _relative_to(folder: Path, key: str, value: Any) -> Any:
    """A path setting (or a list of them) with relative paths taken from the config file's folder."""
    if isinstance(value, list):
        return [_relative_to(folder, key, item) for item in value]
    return type(value)(folder / value) if _is_relative_path(key, value) else value


def _is_relative_path(key: str, value: Any) -> bool:
    # A --model without a slash or .tflite suffix is a registry name, not a path.
    text = str(value)
    if key == "model" and "/" not in text and not text.endswith(".tflite"):
        return False
    return not Path(text).is_absolute()


def resolve(args: argparse.Namespace) -> argparse.Namespace:
    """The options in effect: the command line over the config file over the defaults."""
    defaults = args.camera_defaults
    from_file = read_config(args.config) if args.config else {}
    values = {}
    for key, default in defaults.items():
        given = getattr(args, key, None)
        values[key] = given if given is not None else from_file.get(key, default)
    values["config"] = args.config
    return argparse.Namespace(**values)


def describe(opts: argparse.Namespace, loaded: str) -> dict[str, Any]:
    """What /config shows: every option in effect, where it came from, what a reload can change."""
    def plain(value: Any) -> Any:
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, tuple):
            return list(value)
        return value
    settings = {k.replace("_", "-"): plain(v) for k, v in sorted(vars(opts).items()) if k not in NOT_IN_CONFIG}
    return {"config_file": plain(opts.config), "loaded": loaded, "settings": settings,
            "live": sorted(k.replace("_", "-") for k in LIVE)}
