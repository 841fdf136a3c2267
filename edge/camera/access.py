"""Who may watch and who is asking the preview server: an address it can serve on, credentials when
it is not loopback, Host-header names that mean this server (against DNS rebinding), and the view of
JSON data that a client on another machine gets (no paths)."""
from __future__ import annotations

import ipaddress
import socket
import urllib.parse
from pathlib import PurePosixPath
from typing import Any, Iterable

from ..errors import InputError, OutputError


def plain_address(address: str) -> str:
    """An IP address as written in a Host header: IPv4-mapped IPv6 as IPv4, no zone, lower case."""
    text = address.split("%", 1)[0].lower()
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return text
    mapped = getattr(ip, "ipv4_mapped", None)
    return str(mapped or ip)


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1); False for names, wildcards, LAN."""
    if host.lower() in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(plain_address(host)).is_loopback
    except ValueError:
        return False


def host_of(header: str) -> str:
    """The host name of a Host header value: no port, no brackets, lower case, no trailing dot."""
    text = header.strip().lower()
    if text.startswith("["):
        return plain_address(text[1:text.find("]")] if "]" in text else text[1:])
    if text.count(":") == 1:
        text = text.rsplit(":", 1)[0]
    return plain_address(text.rstrip("."))


def allowed_host_names(bind: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """The names a Host header may give: the bind address, localhost, this machine's names, `extra`."""
    names = {"localhost", "127.0.0.1", "::1", "ip6-localhost", *(host_of(name) for name in extra)}
    if bind not in ("", "0.0.0.0", "::"):
        names.add(host_of(bind if ":" not in bind else f"[{bind}]"))
    hostname = socket.gethostname().lower()
    names |= {hostname, hostname.split(".")[0], hostname.split(".")[0] + ".local"}
    try:
        names.add(socket.getfqdn().lower())
    except OSError:
        pass
    return frozenset(n for n in names if n)


def without_paths(value: Any) -> Any:
    """JSON data with every file-system path cut to its file name and URLs to scheme://host:port,
    for clients on other machines (the layout of the Pi and a stream's password are not theirs)."""
    if isinstance(value, dict):
        return {key: without_paths(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_paths(item) for item in value]
    if not isinstance(value, str):
        return value
    if "://" in value:
        try:
            parts = urllib.parse.urlsplit(value)
            port = f":{parts.port}" if parts.port else ""
            return f"{parts.scheme}://{parts.hostname or ''}{port}/..."
        except ValueError:
            return "(hidden)"
    if "/" in value or "\\" in value:
        kind, sep, rest = value.partition(":")
        if sep and "/" not in kind and "\\" not in kind:
            return f"{kind}:{PurePosixPath(rest.replace(chr(92), '/')).name}"
        return PurePosixPath(value.replace("\\", "/")).name
    return value


def check_serve(address: tuple[str, int], has_auth: bool, allow_anyone: bool) -> None:
    """Before the camera or the model is opened: an address this machine can serve on at all, and
    credentials (or an explicit "anyone may watch") when it is not loopback."""
    host, port = address
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError, OverflowError) as exc:
        raise OutputError(f"cannot serve on {show_host(host)}:{port} "
                          f"({getattr(exc, 'strerror', None) or exc})") from None
    check_exposure(host, has_auth, allow_anyone)


def check_exposure(host: str, has_auth: bool, allow_anyone: bool) -> None:
    """Serving beyond loopback needs credentials, or an explicit "anyone may watch"."""
    if not is_loopback(host) and not has_auth and not allow_anyone:
        raise InputError(f"serving on {host} shows the camera to everyone who can reach that address: "
                         "pass --auth FILE (make it with `pibokeh passwd FILE USER`) or --no-auth")


def show_host(host: str) -> str:
    """A host as written before `:port` (IPv6 addresses in brackets)."""
    return f"[{host}]" if ":" in host else host
