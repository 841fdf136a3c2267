"""The live preview: an HTTP server with a page, an MJPEG stream, snapshots, stats and settings.

    /              the page (stream + live stats)      /stats     figures as JSON
    /stream.mjpg   multipart MJPEG of the output       /healthz   200 "ok" while frames flow, else 503
    /snapshot.jpg  the latest output frame             /config    the settings in use as JSON
    /metrics       the same figures as /stats, for Prometheus (camera/metrics.py)

Only GET of these paths (and /controls, GET and POST: camera/controls.py routes it); other paths 404,
other methods 405; nothing is served from disk.
The pipeline hands frames to a `PreviewHub` (a FrameSink) and never waits for a client: each client
thread takes the newest frame when it is ready for one, so a slow client skips frames and only
slows itself. A frame is JPEG-encoded once, by the first client that wants it.

Who may ask: a request must name this server in its Host header (its bind address, localhost, this
machine's names, the address it came in on, or an --allow-host name), else 403: a web page cannot
read the camera through a DNS-rebinding domain. With `auth` (an `Authenticator`), every path but
/healthz needs HTTP Basic credentials; a non-loopback address needs `auth` or an explicit
`allow_anyone`. Remote clients see /stats and /config without file-system paths.
Caps: request heads are awaited without a thread (`HeaderGate`), at most `max_workers` requests run at
once (`max_clients` of them streams), each write within `send_timeout`; no versions in `Server`.
"""
from __future__ import annotations

import io
import json
import socket
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from importlib import resources
from typing import Any, Callable, Iterable

import numpy as np

from ..errors import InputError, OutputError
from ..media.frames import FrameSink
from ..media.images import encode_image
from .access import (allowed_host_names, check_exposure, host_of, is_loopback, plain_address, show_host,
                     without_paths)
from .auth import Authenticator
from .connections import HeaderGate

BOUNDARY = "pibokehframe"
JsonFn = Callable[[], dict[str, Any]]


class PreviewHub(FrameSink):
    """The newest output frame, handed to any number of readers; encoded lazily, once per frame.

    Encoding happens in a reader's thread and outside the lock `write` takes, so the pipeline
    never waits for a JPEG encode.
    """

    def __init__(self, quality: int = 80, on_encode: Callable[[float], None] | None = None):
        self.quality = quality
        self._cond = threading.Condition()
        self._encoding = threading.Lock()
        self._frame: np.ndarray | None = None
        self._seq = 0
        self._jpeg: tuple[int, bytes] = (0, b"")  # (sequence number, JPEG) of the last encode
        self._closed = False
        self.on_encode = on_encode  # told each encode's seconds (the stats)

    def write(self, frame: np.ndarray, pts: int | None = None) -> None:
        with self._cond:
            self._frame = frame
            self._seq += 1
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def latest(self, after: int = 0, timeout: float = 1.0) -> tuple[int, bytes | None]:
        """(sequence number, JPEG) of the newest frame once it is newer than `after`;
        (after, None) on timeout or when closed."""
        with self._cond:
            self._cond.wait_for(lambda: self._seq > after or self._closed, timeout)
            if self._seq <= after or self._frame is None:
                return after, None
            seq, frame = self._seq, self._frame
        with self._encoding:  # one encoder at a time: the others then find its result
            done_seq, jpeg = self._jpeg
            if done_seq != seq:
                start = time.monotonic()
                jpeg = encode_image(frame, ".jpg", self.quality)
                self._jpeg = (seq, jpeg)
                if self.on_encode is not None:
                    self.on_encode(time.monotonic() - start)
        return seq, jpeg


class PreviewServer(HTTPServer):
    """Serves a PreviewHub. `stats` and `config` are called per request for their JSON."""

    allow_reuse_address = True
    request_queue_size = 128  # a burst of connections waits in the kernel, not refused
    metrics: Callable[[], tuple[bytes, str]] | None = None  # /metrics (body, content type), when set
    routes: dict[tuple[str, str], Callable[[Any], tuple[int, bytes, str]]] = {}  # (method, path) -> handler: controls

    def __init__(self, address: tuple[str, int], hub: PreviewHub, stats: JsonFn, config: JsonFn,
                 max_clients: int = 10, healthy: Callable[[], tuple[bool, str]] | None = None,
                 send_timeout: float = 10.0, auth: Authenticator | None = None, allow_anyone: bool = False,
                 allow_hosts: Iterable[str] = (), header_timeout: float = 10.0, max_workers: int | None = None):
        host = address[0]
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            super().__init__(address, PreviewHandler)
        except (OSError, OverflowError, UnicodeError) as exc:
            raise OutputError(f"cannot serve on {show_host(host)}:{address[1]} "
                              f"({getattr(exc, 'strerror', None) or exc})") from None
        try:
            check_exposure(host, auth is not None, allow_anyone)
        except InputError:
            self.server_close()
            raise
        self.hub = hub
        self.stats = stats
        self.config = config
        self.healthy = healthy or (lambda: (True, "ok"))
        self.max_clients = max_clients
        self.send_timeout = send_timeout
        self.auth = auth
        self.allowed_hosts = allowed_host_names(host, allow_hosts)
        self.page = resources.files(__package__).joinpath("static/index.html").read_bytes()
        self.clients = 0
        self.served = 0
        self.max_workers = max_workers or max_clients + 16  # streams, plus room for page, stats, health
        self._workers = threading.BoundedSemaphore(self.max_workers)
        self.busy = 0  # requests being handled now
        self._clients_lock = threading.Lock()
        self.gate = HeaderGate(self._dispatch, header_timeout=header_timeout)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{show_host(host)}:{port}/"

    def start(self) -> "PreviewServer":
        self.gate.start()
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="pibokeh-preview", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.hub.close()  # ends every stream loop
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
            self.gate.stop()
        self.server_close()

    def process_request(self, request: Any, client_address: Any) -> None:
        self.gate.add(request, client_address)  # no thread until the request head is in

    def _dispatch(self, sock: socket.socket, address: Any, head: bytes) -> None:
        if not self._workers.acquire(blocking=False):
            _refuse(sock, b"503 Service Unavailable", b"busy, try again\n")
            return
        with self._clients_lock:
            self.busy += 1
        threading.Thread(target=self._work, args=(sock, address, head), name="pibokeh-request", daemon=True).start()

    def _work(self, sock: socket.socket, address: Any, head: bytes) -> None:
        try:
            PreviewHandler(sock, address, self, head)
        except Exception:  # a broken connection or a bug in one request must not reach the others
            self.handle_error(sock, address)
        finally:
            self.shutdown_request(sock)
            with self._clients_lock:
                self.busy -= 1
            self._workers.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # socketserver prints a traceback; a dropped viewer is not an error worth a log line

    def claim_client(self) -> bool:
        with self._clients_lock:
            if self.clients >= self.max_clients:
                return False
            self.clients += 1
            self.served += 1
            return True

    def release_client(self) -> None:
        with self._clients_lock:
            self.clients -= 1


class PreviewHandler(BaseHTTPRequestHandler):
    server: PreviewServer
    server_version = "pibokeh"
    protocol_version = "HTTP/1.1"
    # path -> method name; PUBLIC paths need no credentials (a health check carries none)
    ROUTES = {"/": "_page", "/index.html": "_page", "/stream.mjpg": "_stream", "/snapshot.jpg": "_snapshot",
              "/stats": "_stats", "/healthz": "_health", "/config": "_config", "/metrics": "_metrics"}
    PUBLIC = frozenset({"/healthz"})
    login = None  # who the request's credentials proved (with --auth)

    def __init__(self, request: Any, client_address: Any, server: PreviewServer, head: bytes = b""):
        self._head = head
        super().__init__(request, client_address, server)

    def setup(self) -> None:
        self.connection = self.request
        # A client that stops reading blocks only its own thread, and only for this long.
        self.connection.settimeout(self.server.send_timeout)
        self.rfile = io.BufferedReader(_Prefixed(self._head, self.connection))
        self.wfile = _Writer(self.connection)

    def handle(self) -> None:
        self.close_connection = True  # one request per connection: no idle keep-alive holds a thread
        self.handle_one_request()

    def version_string(self) -> str:
        return self.server_version  # no Python or library versions for a stranger to look up

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # a request log on every frame poll would drown the journal

    def __getattr__(self, name: str) -> Any:
        # Every method other than GET (HEAD, POST, PUT, DELETE, ...): 405 rather than 501.
        if name.startswith("do_"):
            return self._not_allowed
        raise AttributeError(name)

    def _not_allowed(self) -> None:
        self._send(HTTPStatus.METHOD_NOT_ALLOWED, b"only GET\n", "text/plain", {"Allow": "GET"})

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = self.path.split("?", 1)[0]
        if not self._host_allowed():
            self._send(HTTPStatus.FORBIDDEN, b"this server does not answer to that host name "
                                             b"(pibokeh camera --allow-host NAME)\n", "text/plain")
            return
        if self.server.auth is not None and path not in self.PUBLIC and not self._authorised():
            return
        handler, route = self.ROUTES.get(path), self.server.routes.get((self.command, path))
        if route is not None:
            self._send(*route(self))
        elif self.command != "GET":
            self._not_allowed()
        elif handler is None:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")
        else:
            getattr(self, handler)()

    do_POST = do_GET  # noqa: N815 - only where a route takes it (the controls); elsewhere 405

    # ---- who is asking ----

    def _host_allowed(self) -> bool:
        header = self.headers.get("Host")
        if header is None:
            return True  # HTTP/1.0 tools; a browser (the rebinding risk) always sends one
        host = host_of(header)
        return host in self.server.allowed_hosts or host == plain_address(self.connection.getsockname()[0])

    def _authorised(self) -> bool:
        verdict = self.server.auth.check(self.headers.get("Authorization"), plain_address(self.client_address[0]))
        self.login = verdict.login  # a stream ends when a reload revokes it
        if verdict.wait:
            self._send(HTTPStatus.TOO_MANY_REQUESTS, b"too many failed logins; wait\n", "text/plain",
                       {"Retry-After": str(int(verdict.wait) + 1)})
        elif verdict.login is None:
            self._send(HTTPStatus.UNAUTHORIZED, b"credentials needed\n", "text/plain",
                       {"WWW-Authenticate": self.server.auth.challenge})
        return verdict.login is not None

    @property
    def remote(self) -> bool:
        return not is_loopback(plain_address(self.client_address[0]))

    # ---- responses ----

    def _send(self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Connection", "close")
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except (OSError, socket.timeout):
            self.close_connection = True

    def _json(self, data: dict[str, Any]) -> None:
        data = without_paths(data) if self.remote else data
        self._send(HTTPStatus.OK, json.dumps(data).encode(), "application/json")

    def _page(self) -> None:
        self._send(HTTPStatus.OK, self.server.page, "text/html; charset=utf-8")

    def _stats(self) -> None:
        self._json({**self.server.stats(), "clients": self.server.clients, "clients_served": self.server.served,
                    "max_clients": self.server.max_clients})

    def _config(self) -> None:
        self._json(self.server.config())

    def _metrics(self) -> None:
        if self.server.metrics is None:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")
        else:
            body, ctype = self.server.metrics()
            self._send(HTTPStatus.OK, body, ctype)

    def _health(self) -> None:
        ok, reason = self.server.healthy()
        self._send(HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE, f"{reason}\n".encode(), "text/plain")

    def _snapshot(self) -> None:
        _, jpeg = self.server.hub.latest(0, timeout=2.0)
        if jpeg is None:
            self._send(HTTPStatus.SERVICE_UNAVAILABLE, b"no frame yet\n", "text/plain", {"Retry-After": "1"})
        else:
            self._send(HTTPStatus.OK, jpeg, "image/jpeg")

    def _stream(self) -> None:
        if not self.server.claim_client():
            self._send(HTTPStatus.SERVICE_UNAVAILABLE, b"too many viewers\n", "text/plain", {"Retry-After": "5"})
            return
        self.close_connection = True
        try:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Connection", "close")
            self.end_headers()
            seq = 0
            hub = self.server.hub
            while not hub.closed and (self.login is None or self.server.auth.current(self.login)):
                seq, jpeg = hub.latest(seq, timeout=1.0)
                if jpeg is None:
                    continue
                # Three writes rather than one concatenation: no per-client copy of every frame.
                self.wfile.write(b"--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
                                 % (BOUNDARY.encode(), len(jpeg)))
                self.wfile.write(jpeg)
                self.wfile.write(b"\r\n")
        except (OSError, socket.timeout):
            pass  # the viewer went away or stopped reading (the send timeout)
        finally:
            self.server.release_client()


class _Prefixed(io.RawIOBase):
    """A socket's input with the bytes the HeaderGate already read put back in front."""

    def __init__(self, head: bytes, sock: socket.socket):
        self._head = memoryview(head)
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            count = min(len(buffer), len(self._head))
            buffer[:count] = self._head[:count]
            self._head = self._head[count:]
            return count
        return self._sock.recv_into(buffer)


class _Writer(io.BufferedIOBase):
    """Unbuffered socket output: every write is sent whole (within the socket's timeout)."""

    def __init__(self, sock: socket.socket):
        self._sock = sock

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._sock.sendall(data)
        return len(data)


def _refuse(sock: socket.socket, status: bytes, body: bytes) -> None:
    """A short answer without a thread (the gate's own); a client that does not take it is dropped."""
    try:
        sock.setblocking(False)
        sock.send(b"HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nRetry-After: 1\r\n"
                  b"Connection: close\r\n\r\n%s" % (status, len(body), body))
    except OSError:
        pass
    finally:
        sock.close()


def healthy_while(last_output: Callable[[], float], running: Callable[[], bool],
                  stale_after: float = 5.0) -> Callable[[], tuple[bool, str]]:
    """A /healthz check: ok while running and a frame came out within `stale_after` seconds
    (or the pipeline started less than that ago)."""
    started = time.monotonic()

    def check() -> tuple[bool, str]:
        if not running():
            return False, "pipeline stopped"
        last = last_output() or started
        age = time.monotonic() - last
        return (True, "ok") if age < stale_after else (False, f"no frame for {age:.1f} s")
    return check
