"""Connections to the preview server, held without a thread until their request head has arrived.

A thread per connection lets a client that opens a socket and sends its headers a byte at a time (or
never) hold a thread for as long as it likes; a few hundred of them exhaust a Pi. Here one thread
watches every connection that is still sending its request head (with a selector) and hands it to
the server only once the head is complete; a head that takes longer than `header_timeout` or grows
past `max_head` bytes is dropped, and when `max_pending` connections wait the oldest is dropped.
"""
from __future__ import annotations

import selectors
import socket
import threading
import time
from typing import Any, Callable

Dispatch = Callable[[socket.socket, Any, bytes], None]


class HeaderGate:
    """Collects request heads; `dispatch(sock, address, head_bytes)` runs in the gate's thread."""

    def __init__(self, dispatch: Dispatch, header_timeout: float = 10.0, max_pending: int = 256,
                 max_head: int = 16384):
        self.dispatch = dispatch
        self.header_timeout = header_timeout
        self.max_pending = max_pending
        self.max_head = max_head
        self.dropped = 0
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._new: list[tuple[socket.socket, Any]] = []
        self._pending: dict[socket.socket, list[Any]] = {}  # sock -> [address, deadline, data]; oldest first
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pibokeh-headers", daemon=True)

    def start(self) -> "HeaderGate":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake()
        if self._thread.is_alive():
            self._thread.join(2)
        for sock in list(self._pending):
            self._drop(sock, count=False)
        with self._lock:
            for sock, _ in self._new:
                _close(sock)
            self._new.clear()
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    @property
    def waiting(self) -> int:
        return len(self._pending) + len(self._new)

    def add(self, sock: socket.socket, address: Any) -> None:
        """A new connection (from the accepting thread)."""
        with self._lock:
            self._new.append((sock, address))
        self._wake()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except OSError:  # full (it is being woken anyway) or closed (stopping)
            pass

    def _run(self) -> None:
        while not self._stop.is_set():
            self._take_new()
            for key, _ in self._selector.select(timeout=0.25):
                if key.fileobj is self._wake_r:
                    try:
                        while self._wake_r.recv(4096):
                            pass
                    except OSError:
                        pass
                else:
                    self._read(key.fileobj)  # type: ignore[arg-type]
            now = time.monotonic()
            for sock in [s for s, (_, deadline, _) in self._pending.items() if deadline < now]:
                self._drop(sock)

    def _take_new(self) -> None:
        with self._lock:
            new, self._new = self._new, []
        for sock, address in new:
            while len(self._pending) >= self.max_pending:  # the longest waiting goes first
                self._drop(next(iter(self._pending)))
            sock.setblocking(False)
            self._pending[sock] = [address, time.monotonic() + self.header_timeout, b""]
            self._selector.register(sock, selectors.EVENT_READ, None)

    def _read(self, sock: socket.socket) -> None:
        entry = self._pending.get(sock)
        if entry is None:
            return
        try:
            chunk = sock.recv(8192)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:  # the client went away
            self._drop(sock)
            return
        entry[2] += chunk
        data = entry[2]
        if b"\r\n\r\n" in data or b"\n\n" in data:
            self._selector.unregister(sock)
            del self._pending[sock]
            sock.setblocking(True)
            self.dispatch(sock, entry[0], data)
        elif len(data) > self.max_head:
            self._drop(sock)

    def _drop(self, sock: socket.socket, count: bool = True) -> None:
        self._pending.pop(sock, None)
        try:
            self._selector.unregister(sock)
        except (KeyError, ValueError):
            pass
        _close(sock)
        self.dropped += count


def _close(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass
