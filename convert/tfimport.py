"""TensorFlow, imported without its C++ start-up chatter (oneDNN, CUDA, absl) on stderr.

TF_CPP_MIN_LOG_LEVEL silences most of it, but not the absl and CUDA-stub lines that recent
TensorFlow writes straight to file descriptor 2 while it loads, so the import runs with that
descriptor pointed at /dev/null. Errors still surface: an ImportError is raised as usual.
"""
from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Converting needs no GPU; without this a machine with no CUDA driver logs a failed cuInit per session.
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")


def _import_quietly():
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    return tensorflow


tf = _import_quietly()
