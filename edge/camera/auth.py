"""Who may watch the camera: a password file (`pibokeh passwd FILE USER`) and HTTP Basic checks for the
preview server, in constant time, with logins limited so that a flood costs neither memory nor the
other viewers their access.

The file has one `user:scrypt$N$r$p$SALT$HASH` line per user (salt and hash in base64), like an
htpasswd file with a modern hash. HTTP Basic because the MJPEG stream must play in a plain `<img>`:
a browser sends the credentials with it by itself. Basic sends the password in the clear, so on an
untrusted network put TLS (a reverse proxy) or an `ssh -L` tunnel in front.

How logins are limited (docs/CAMERA.md, *Security*): a verified login is remembered (by the SHA-256
of its header), so a viewer's later requests are never hashed again and never refused while others
flood. Every other attempt counts as a failure before its hash is computed: against its address and
user name together, and against the user name alone (names in the file) or the address's unknown
names (the rest); past a limit, attempts are refused (429) without hashing. At most HASH_SLOTS scrypt
checks (16 MB each) run at once. Behind an ssh tunnel or a proxy every viewer has the proxy's address:
a flood aimed at one user name then locks that name only, guesses of unknown names lock unknown names
only, and nobody logged in is affected.
A reload re-reads the file: removed users and changed passwords stop working at once, streams
included.
"""
from __future__ import annotations

import base64
import binascii
import collections
import concurrent.futures
import hashlib
import hmac
import os
import secrets
import stat
import threading
import time
from pathlib import Path
from typing import NamedTuple

from ..errors import InputError, OutputError
from ..files import atomic_path, reason

# scrypt with 16 MB of memory per check: ~50 ms on x86, a few hundred on a Pi.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 14, 8, 1
MAX_USER = 64
FAILURE_WINDOW = 60.0   # seconds a failed attempt counts for
# failures allowed per window: for one address and user name together; for one user of the file
# (from any address); for user names not in the file, from one address. Past one, 429 until the
# window has passed.
FAILURES_ALLOWED = 10
USER_FAILURES_ALLOWED = 30
ADDRESS_FAILURES_ALLOWED = 30
HASH_SLOTS = 2          # scrypt checks at once (and threads that run them): 32 MB at most, however many logins
HASH_WAIT = 30.0        # seconds an attempt waits for a slot before it is refused as busy
REMEMBERED = 256        # verified logins kept (their later requests are not hashed again)
MAX_FILE_BYTES = 1 << 20  # a password file of 10000 users is ~1 MB


class Login(NamedTuple):
    """Who logged in, and the hash their password matched (a reload that changes it ends the login)."""
    user: str
    stored: str


class Verdict(NamedTuple):
    login: Login | None = None  # None: refused
    wait: float = 0.0           # > 0: too many failures, try again in this many seconds (429)


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


def check_file_mode(path: Path, mode: int) -> None:
    """Refuse a password file that others may read or anyone but its owner may change (the hashes
    can be attacked offline; a changed file lets anyone in)."""
    if mode & (stat.S_IRWXO | stat.S_IWGRP):
        raise InputError(f"{path}: the password file can be read or changed by others (mode "
                         f"{stat.S_IMODE(mode):04o}); make it private: chmod 640 {path}")


def read_users(path: str | os.PathLike, private: bool = True) -> dict[str, str]:
    """user -> stored hash, from a password file. Raises InputError (one line) for a bad file, or
    (`private`) one others may read or change."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            if private:
                check_file_mode(path, os.fstat(fh.fileno()).st_mode)
            text = fh.read(MAX_FILE_BYTES + 1).decode("utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such password file (make one with `pibokeh passwd {path} USER`)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the password file ({getattr(exc, 'strerror', None) or exc})") from None
    if len(text) > MAX_FILE_BYTES:
        raise InputError(f"{path}: too large for a password file")
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


def write_user(path: str | os.PathLike, user: str, password: str | None) -> bool:
    """Add `user` to the password file, or change their password (None: remove them); True when the
    user was not in it. The file is replaced atomically and readable by its owner (and group) only."""
    path = Path(path)
    check_user(user)
    old: list[str] = []
    if path.exists() and path.stat().st_size:
        read_users(path, private=False)  # refuse to rewrite a file that is not a password file (made private below)
        old = path.read_text(encoding="utf-8").splitlines()
    lines = [line for line in old if line.strip().partition(":")[0] != user]
    new = len(lines) == len(old)
    if password is None and (new or not any(line.strip() and not line.startswith("#") for line in lines)):
        raise InputError(f"{path}: {'no user ' + user + ' to remove' if new else user + ' is the last user'}; "
                         "nothing changed")
    if password is not None:
        lines.append(f"{user}:{hash_password(password)}")
    try:
        with atomic_path(path) as tmp:
            tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
            os.chmod(tmp, 0o640)  # the service's group may read it; nobody else
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({reason(exc)})") from None
    return new


class Authenticator:
    """HTTP Basic checks against a password file's users, limited as the module's docstring says."""

    def __init__(self, users: dict[str, str], realm: str = "pibokeh camera", path: Path | None = None):
        self.users = users
        self.realm = realm
        self.path = path
        self._verified: collections.OrderedDict[bytes, Login] = collections.OrderedDict()
        self._failures: dict[tuple[str, ...], collections.deque[float]] = {}
        self._lock = threading.Lock()
        # The checks run in HASH_SLOTS threads of their own, never in the request threads: glibc keeps a
        # freed 16 MB scrypt buffer in the arena of the thread that used it, so checks spread over a
        # hundred request threads would hold 16 MB each long after they ended (measured: 26 checks, +420 MB).
        self._hasher = concurrent.futures.ThreadPoolExecutor(HASH_SLOTS, thread_name_prefix="pibokeh-scrypt")
        # compared against when the user is unknown, so that a wrong name costs as long as a wrong password
        self._dummy = hash_password(secrets.token_hex(8))

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "Authenticator":
        return cls(read_users(path), path=Path(path))

    @property
    def challenge(self) -> str:
        return f'Basic realm="{self.realm}", charset="UTF-8"'

    def reload(self) -> str:
        """Re-read the password file; what changed, in one line (no passwords). InputError (the old
        users stay) when the file is gone, malformed, or others may read or change it."""
        if self.path is None:
            return "no password file"
        users = read_users(self.path)
        with self._lock:
            old, self.users = self.users, users
            self._verified.clear()  # a changed or removed password must be proven again
        added = sorted(set(users) - set(old))
        removed = sorted(set(old) - set(users))
        changed = sorted(u for u in set(old) & set(users) if old[u] != users[u])
        parts = [f"{what} {', '.join(names)}" for what, names in
                 (("added", added), ("removed", removed), ("new password for", changed)) if names]
        return f"{self.path}: " + ("; ".join(parts) if parts else f"unchanged ({len(users)} users)")

    def current(self, login: Login) -> bool:
        """Whether a login still stands (its user is there with the password it was made with)."""
        return self.users.get(login.user) == login.stored

    def check(self, header: str | None, client: str) -> Verdict:
        """Whether an `Authorization` header from address `client` proves a user (see the module)."""
        if not header or not header[:6].lower() == "basic ":
            return Verdict()
        key = hashlib.sha256(header.encode("utf-8", "surrogateescape")).digest()
        with self._lock:
            known = self._verified.get(key)
            if known is not None and self.current(known):
                self._verified.move_to_end(key)
                return Verdict(known)
        try:
            user, _, password = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8").partition(":")
        except (ValueError, binascii.Error):
            user, password = "", ""
        stamp = time.monotonic()
        with self._lock:  # counted as a failure now, before hashing: parallel guesses see each other
            stored = self.users.get(user)
            # a known name is limited from this address and from all; unknown names from this address
            # share one limit (it bounds the dummy hashing), which never touches a real user's logins
            keys = {("pair", client, user): FAILURES_ALLOWED, ("user", user): USER_FAILURES_ALLOWED} \
                if stored is not None else {("pair", client, user): FAILURES_ALLOWED,
                                            ("unknown", client): ADDRESS_FAILURES_ALLOWED}
            wait = max(self._wait(key, limit, stamp) for key, limit in keys.items())
            if wait:
                return Verdict(wait=wait)
            if len(self._failures) > 4096:  # many addresses: forget the oldest rather than grow
                for old in list(self._failures)[:1024]:
                    del self._failures[old]
            for key in keys:
                self._failures.setdefault(key, collections.deque()).append(stamp)
        check = self._hasher.submit(verify_password, password, stored or self._dummy)
        try:
            ok = check.result(timeout=HASH_WAIT) and stored is not None
        except concurrent.futures.TimeoutError:
            check.cancel()
            return Verdict(wait=1.0)  # the checks are this busy: the client tries again shortly
        if not ok:
            return Verdict()
        login = Login(user, stored)
        with self._lock:
            for key in keys:  # not a failure after all
                times = self._failures.get(key)
                if times and stamp in times:
                    times.remove(stamp)
            self._verified[key] = login
            while len(self._verified) > REMEMBERED:
                self._verified.popitem(last=False)
        return Verdict(login)

    def _wait(self, key: tuple[str, ...], limit: int, now: float) -> float:
        """Seconds until `key` may try again (0: now). Called with the lock held."""
        times = self._failures.get(key)
        while times and now - times[0] > FAILURE_WINDOW:
            times.popleft()
        if not times:
            self._failures.pop(key, None)
            return 0.0
        return FAILURE_WINDOW - (now - times[0]) if len(times) >= limit else 0.0
