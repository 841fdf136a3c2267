"""Who may watch the camera: a password file (`pibokeh passwd FILE USER`) and HTTP Basic checks for the
preview server, in constant time and with failed attempts rate-limited.

The file has one `user:scrypt$N$r$p$SALT$HASH` line per user (salt and hash in base64), like an
htpasswd file with a modern hash. HTTP Basic because the MJPEG stream must play in a plain `<img>`:
a browser sends the credentials with it by itself. Basic sends the password in the clear, so on an
untrusted network put TLS (a reverse proxy) or an `ssh -L` tunnel in front.
"""
from __future__ import annotations

import base64
import binascii
import collections
import hashlib
import hmac
import os
import secrets
import threading
import time
from pathlib import Path

from ..errors import InputError, OutputError
from ..files import atomic_path, reason

# scrypt with 16 MB of memory per check: ~50 ms on x86, a few hundred on a Pi. Checked once per
# credential: a verified Authorization header is remembered (by its SHA-256) for later requests.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 14, 8, 1
MAX_USER = 64
FAILURES_ALLOWED = 10   # wrong passwords per client address...
FAILURE_WINDOW = 60.0   # ...per this many seconds; then 429 until the window has passed


def hash_password(password: str, salt: bytes | None = None, n: int = SCRYPT_N, r: int = SCRYPT_R,
                  p: int = SCRYPT_P) -> str:
    """`scrypt$N$r$p$SALT$HASH` for a password (a new random salt unless given)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024, dklen=32)
    return f"scrypt${n}${r}${p}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches a `scrypt$...` entry; the comparison takes constant time."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        expected = base64.b64decode(digest, validate=True)
        computed = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt, validate=True),
                                  n=int(n), r=int(r), p=int(p), maxmem=64 * 1024 * 1024, dklen=len(expected))
    except (ValueError, binascii.Error):
        return False
    return kind == "scrypt" and hmac.compare_digest(computed, expected)


def check_user(user: str) -> str:
    if not user or len(user) > MAX_USER or not all(c.isalnum() or c in "._-@" for c in user):
        raise InputError(f"user name {user[:MAX_USER]!r}: use 1 to {MAX_USER} letters, digits, '.', '_', '-' or '@'")
    return user


def read_users(path: str | os.PathLike) -> dict[str, str]:
    """user -> stored hash, from a password file. Raises InputError (one line) for a bad file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such password file (make one with `pibokeh passwd {path} USER`)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the password file ({getattr(exc, 'strerror', None) or exc})") from None
    users: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        user, _, stored = line.strip().partition(":")
        if not stored.startswith("scrypt$") or stored.count("$") != 5:
            raise InputError(f"{path}: line {number} is not USER:scrypt$... (write the file with `pibokeh passwd`)")
        users[user] = stored
    if not users:
        raise InputError(f"{path}: the password file has no users (add one with `pibokeh passwd {path} USER`)")
    return users


def write_user(path: str | os.PathLike, user: str, password: str) -> bool:
    """Add `user` to the password file, or change their password; True when the user was new.
    The file is replaced atomically and readable by its owner (and group) only."""
    path = Path(path)
    check_user(user)
    old: list[str] = []
    if path.exists() and path.stat().st_size:
        read_users(path)  # refuse to rewrite a file that is not a password file
        old = path.read_text(encoding="utf-8").splitlines()
    lines = [line for line in old if line.strip().partition(":")[0] != user]
    new = len(lines) == len(old)
    lines.append(f"{user}:{hash_password(password)}")
    try:
        with atomic_path(path) as tmp:
            tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
            os.chmod(tmp, 0o640)  # the service's group may read it; nobody else
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({reason(exc)})") from None
    return new


class Authenticator:
    """HTTP Basic checks against a password file's users, with failures rate-limited per client."""

    def __init__(self, users: dict[str, str], realm: str = "pibokeh camera"):
        self.users = users
        self.realm = realm
        self._verified: collections.OrderedDict[bytes, str] = collections.OrderedDict()
        self._failures: dict[str, collections.deque[float]] = {}
        self._lock = threading.Lock()
        # compared against when the user is unknown, so that a wrong name costs as long as a wrong password
        self._dummy = hash_password(secrets.token_hex(8))

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "Authenticator":
        return cls(read_users(path))

    @property
    def challenge(self) -> str:
        return f'Basic realm="{self.realm}", charset="UTF-8"'

    def blocked(self, client: str) -> float:
        """Seconds until `client` may try again (0 when it may now)."""
        now = time.monotonic()
        with self._lock:
            times = self._failures.get(client)
            while times and now - times[0] > FAILURE_WINDOW:
                times.popleft()
            if not times:
                self._failures.pop(client, None)
                return 0.0
            return FAILURE_WINDOW - (now - times[0]) if len(times) >= FAILURES_ALLOWED else 0.0

    def check(self, header: str | None, client: str) -> str | None:
        """The user an `Authorization` header proves, or None (a failed attempt counts against `client`)."""
        if not header or not header[:6].lower() == "basic ":
            return None
        key = hashlib.sha256(header.encode("utf-8", "surrogateescape")).digest()
        with self._lock:
            if key in self._verified:
                self._verified.move_to_end(key)
                return self._verified[key]
        try:
            user, _, password = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8").partition(":")
        except (ValueError, binascii.Error):
            user, password = "", ""
        stored = self.users.get(user)
        ok = verify_password(password, stored or self._dummy) and stored is not None
        with self._lock:
            if ok:
                self._verified[key] = user
                while len(self._verified) > 64:
                    self._verified.popitem(last=False)
                return user
            if len(self._failures) > 4096:  # many addresses: forget the oldest rather than grow
                self._failures.pop(next(iter(self._failures)))
            self._failures.setdefault(client, collections.deque()).append(time.monotonic())
        return None
