"""SIGTERM and SIGHUP during a batch command end it the way Ctrl-C does: the file being written is
discarded (no temporary file left behind), outputs already finished stay, and the command exits
128 + the signal's number (143 for SIGTERM, 129 for SIGHUP; Ctrl-C keeps 130)."""
from __future__ import annotations

import contextlib
import signal
import threading
from typing import Any, Iterator


class Stopped(KeyboardInterrupt):
    """Raised in the main thread by SIGTERM/SIGHUP; a KeyboardInterrupt, so every cleanup that
    already handles Ctrl-C handles it too."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = 128 + signum


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, SIGTERM/SIGHUP raise `Stopped` and Ctrl-C KeyboardInterrupt - each only once:
    a second signal while the first one's cleanup runs is ignored, so the cleanup finishes."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals are delivered to the main thread only
        return
    fired = threading.Event()

    def handler(signum: int, _frame: Any) -> None:
        if fired.is_set():
            return
        fired.set()
        raise KeyboardInterrupt() if signum == signal.SIGINT else Stopped(signum)

    # SIGHUP and SIGINT stay ignored where the caller ignores them (nohup, a background job).
    old = {signum: signal.signal(signum, handler) for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
           if signum == signal.SIGTERM or signal.getsignal(signum) is not signal.SIG_IGN}
    try:
        yield
    finally:
        for signum, previous in old.items():
            signal.signal(signum, previous)
