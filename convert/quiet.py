"""TensorFlow's C++ chatter (oneDNN, CUDA, absl, converter settings) kept off the user's stderr.

TF_CPP_MIN_LOG_LEVEL silences most of it, but not the lines that recent TensorFlow and its
converter write straight to file descriptor 2. `native_stderr_silenced` points that descriptor
at /dev/null while Python's own `sys.stderr` (messages, progress bars, warnings) keeps writing to
the real one. PIBOKEH_VERBOSE=1 keeps everything, for debugging a converter crash.
"""
from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Converting needs no GPU; without this a machine with no CUDA driver logs a failed cuInit per session.
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    if os.environ.get("PIBOKEH_VERBOSE"):
        yield
        return
    sys.stderr.flush()
    python_stderr = sys.stderr
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    sys.stderr = os.fdopen(os.dup(saved), "w", buffering=1)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        sys.stderr.close()
        sys.stderr = python_stderr
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)

