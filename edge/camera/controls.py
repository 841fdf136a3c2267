"""Live controls: the preview page changes the look while the camera runs.

    GET  /controls   the values in use, the looks, and the pictures to choose from
    POST /controls   a JSON object of changes, e.g. {"look": "lens", "blur-kernel": 151,
                     "background": "green" | "blur" | "picture:beach.jpg", "feather": 9,
                     "classes": "person,dog"}

A change is applied like a reload (SIGHUP): the values are checked like the command line's, the
whole new configuration is built and tried on a test frame, and only then swapped in; if anything
fails the old settings stay and the answer (400) says why in one line. Pictures come from the
folder `--backgrounds-dir` names (on the Pi: nothing is uploaded), by file name only; a background
given as a path is refused (the page must not make the camera read and show any file it can read).

Who may change it: the server's Host and credential checks (as for every path) run first; then a
POST must come from the page itself: an `Origin` header naming this server (what a browser sends
with every POST; a page on another site cannot forge it), JSON content (a cross-site form cannot
send it without the server's consent), at most MAX_BODY bytes. Every change and refusal is logged.
"""
from __future__ import annotations

import argparse
import json
import threading
import urllib.parse
from http import HTTPStatus
from pathlib import Path
from typing import Any, Callable

from ..errors import InputError
from ..media.inputs import is_image, is_video
from ..model import LABELS
from ..styles import LOOKS, parse_colour
from .access import host_of, plain_address
from .config import parse_settings

CONTROLLED = ("look", "blur-kernel", "background", "feather", "classes")
MAX_BODY = 4096
PICTURE = "picture:"
Reply = tuple[int, bytes, str]
Apply = Callable[[argparse.Namespace], None]


def _reply(status: int, data: dict[str, Any]) -> Reply:
    return status, json.dumps(data).encode(), "application/json"


def same_origin(headers: Any) -> str | None:
    """Why a POST does not come from this server's own page, or None when it does."""
    origin, host = headers.get("Origin"), headers.get("Host")
    if not origin or origin == "null":
        return "a change must come from the preview page (no Origin header)"
    parts = urllib.parse.urlsplit(origin)
    if parts.scheme not in ("http", "https") or host is None or \
            host_of(parts.netloc) != host_of(host) or _port(parts.netloc) != _port(host):
        return f"a change must come from the preview page, not from {origin[:100]}"
    if headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        return "a change must come from the preview page (Sec-Fetch-Site)"
    return None


def _port(netloc: str) -> str:
    tail = netloc.rsplit("]", 1)[-1]
    return tail.rsplit(":", 1)[1] if ":" in tail else ""


class Controls:
    """GET and POST /controls for one camera run: `state["opts"]` holds the options in use, `apply`
    checks a new set on a test frame and swaps it in (raising if it cannot), `pictures` is the
    folder of background pictures offered (or None), `log` says each change in one line."""

    def __init__(self, state: dict[str, Any], apply: Apply, pictures: Path | None, log: Callable[[str], None],
                 enabled: bool = True):
        self.state = state
        self.apply = apply
        self.pictures = pictures
        self.log = log
        self.enabled = enabled
        self._lock = threading.Lock()  # one change at a time

    def routes(self) -> dict[tuple[str, str], Callable[[Any], Reply]]:
        """What the preview server routes here: (method, path) -> handler of a request."""
        return {("GET", "/controls"): lambda request: _reply(HTTPStatus.OK, self.describe()),
                ("POST", "/controls"): self.post}

    def picture_names(self) -> list[str]:
        if self.pictures is None or not self.pictures.is_dir():
            return []
        return sorted(p.name for p in self.pictures.iterdir() if p.is_file() and (is_image(p) or is_video(p)
                                                                                  or p.suffix.lower() == ".gif"))

    def describe(self) -> dict[str, Any]:
        """The values in use and the choices, for the page (no paths: pictures by name)."""
        opts = self.state["opts"]
        return {"enabled": self.enabled, "looks": list(LOOKS), "labels": list(LABELS),
                "pictures": self.picture_names(),
                "values": {"look": opts.look, "blur-kernel": opts.blur_kernel,
                           "background": self._shown("background", opts.background),
                           "feather": opts.feather, "classes": opts.classes}}

    def post(self, request: Any) -> Reply:
        """A change from the page: checked, applied or refused, logged."""
        who = plain_address(request.client_address[0])
        refused = self._refusal(request)
        if refused is not None:
            status, reason = refused
            self.log(f"control from {who} refused: {reason}")
            return _reply(status, {"ok": False, "error": reason})
        try:
            changes = self._parse(request)
            with self._lock:
                new = argparse.Namespace(**{**vars(self.state["opts"]), **changes})
                self.apply(new)
        except Exception as exc:  # noqa: BLE001 - whatever the new settings break, the camera goes on
            reason = str(exc) if isinstance(exc, InputError) else f"{type(exc).__name__}: {exc}"
            self.log(f"control from {who} failed, the previous settings stay: {reason}")
            if self.pictures is not None:  # the page knows pictures by name, not where they are
                reason = reason.replace(f"{self.pictures}/", "")
            return _reply(HTTPStatus.BAD_REQUEST, {"ok": False, "error": reason})
        said = ", ".join(f"{k.replace('_', '-')} {self._shown(k, v)}" for k, v in changes.items())
        self.log(f"control from {who}: {said}")
        return _reply(HTTPStatus.OK, {"ok": True, **self.describe()})

    def _refusal(self, request: Any) -> tuple[int, str] | None:
        if not self.enabled:
            return HTTPStatus.FORBIDDEN, "live controls are off (pibokeh camera --no-controls)"
        why = same_origin(request.headers)
        if why is not None:
            return HTTPStatus.FORBIDDEN, why
        if request.headers.get_content_type() != "application/json":
            return HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "a change is sent as application/json"
        length = request.headers.get("Content-Length", "")
        if not length.isdecimal() or int(length) > MAX_BODY:
            return HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"a change is a JSON object of at most {MAX_BODY} bytes"
        return None

    def _parse(self, request: Any) -> dict[str, Any]:
        """The request's JSON object, checked like the command line's options: option name -> value."""
        try:
            data = json.loads(request.rfile.read(int(request.headers["Content-Length"])) or b"null")
        except (ValueError, UnicodeDecodeError):
            raise InputError("a change is a JSON object, e.g. {\"look\": \"lens\"}") from None
        if not isinstance(data, dict) or not data:
            raise InputError("a change is a JSON object, e.g. {\"look\": \"lens\"}")
        unknown = sorted(set(data) - set(CONTROLLED))
        if unknown:
            raise InputError(f"{unknown[0]!r} cannot be changed from the page; these can: {', '.join(CONTROLLED)}")
        if "background" in data:
            data["background"] = self._background(data["background"])
        return parse_settings(data, "control")

    def _background(self, value: Any) -> str:
        """A background the page may choose: blur, a colour, or picture:NAME of the pictures folder. A
        file path is refused: the page must not make the camera read (and show) any file of the Pi."""
        text = str(value).strip()
        if text.startswith(PICTURE):
            return str(self._picture(text[len(PICTURE):]))
        if text.lower() == "blur" or parse_colour(text) is not None:
            return text
        raise InputError(f"background {text[:100]!r}: the page takes blur, a colour (green, #00ff00, 0,255,0) "
                         "or picture:NAME of those listed")

    def _picture(self, name: str) -> Path:
        if name not in self.picture_names():  # by name from the listing only: no path reaches the disk
            raise InputError(f"no background picture {name[:100]!r} (the page lists those in --backgrounds-dir)")
        assert self.pictures is not None
        return self.pictures / name

    def _shown(self, key: str, value: Any) -> str:
        """A value as the page knows it: a picture of the folder as picture:NAME, other files by name."""
        if key == "background" and Path(str(value)).is_file():
            inside = self.pictures is not None and Path(str(value)).parent == self.pictures
            return (PICTURE if inside else "") + Path(str(value)).name
        return str(value)
