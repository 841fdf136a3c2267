"""Arrays the chain makes once and reuses: output frames (`Buffers`), handed out again only once
nobody holds them, and the halvings of a frame (`Pyramids`), shared by the stages that need them.

An output frame leaves the chain for several consumers: the preview's JPEG encoder (in a viewer's
thread), a recording's queue and encoder thread, a caller of the Python API. Writing the next frame
into it while one of them still reads it would tear that frame, so a buffer is reused only when
nothing but the pool refers to it: CPython counts references, and every holder counts (a queued
tuple, a thread's local variable, a NumPy view of it, a memoryview). Until then a new array is
made, so a slow consumer costs memory (at most `keep` arrays are kept), never a torn frame.
"""
from __future__ import annotations

import sys
import threading
import weakref

import numpy as np

from .core import halve

# References a free array has while `take` looks at it: the pool's list, the loop variable and
# getrefcount's own argument.
_FREE = 3


class Buffers:
    """A few arrays to make frames in, reused once no one else refers to them."""

    def __init__(self, keep: int = 6):
        self.keep = keep
        self.made = 0  # arrays allocated (the pool's and the ones beyond `keep`)
        self._arrays: list[np.ndarray] = []
        self._lock = threading.Lock()

    def take(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """An array of `shape` and `dtype` with undefined contents that nobody else holds now."""
        dtype = np.dtype(dtype)
        with self._lock:
            for array in self._arrays:
                if array.shape == shape and array.dtype == dtype and sys.getrefcount(array) <= _FREE:
                    return array
            self._arrays = [a for a in self._arrays if a.shape == shape and a.dtype == dtype]  # a new size
            array = np.empty(shape, dtype)
            self.made += 1
            if len(self._arrays) < self.keep:
                self._arrays.append(array)
            return array


class Pyramid:
    """A frame and its halvings (`core.halve`), made as they are asked for."""

    def __init__(self, frame: np.ndarray):
        self._frame = weakref.ref(frame)  # not kept alive by a pyramid waiting for its compose stage
        self._levels: list[np.ndarray] = []

    def halved(self, times: int) -> np.ndarray:
        """The frame halved `times` times (the frame itself for 0), while the frame is alive."""
        frame = self._frame()
        if frame is None:
            raise ValueError("the frame of this pyramid is gone")
        while len(self._levels) < times:
            self._levels.append(halve(self._levels[-1] if self._levels else frame, 1))
        return self._levels[times - 1] if times > 0 else frame


class Pyramids:
    """The halvings of frames between the chain's stages: the model's input and the blurred
    background both start by halving the frame, at 1080p the costliest pass of each (6 MB read), and
    they run in different stages (threads). The segment stage starts a frame's pyramid (`fresh`, which
    replaces any earlier one of the same array: a caller may refill one array with new frames) and the
    compose stage takes it over (`take`); a frame that skipped the model gets a new one. A frame is
    known by identity through a weak reference, so a frame that is gone never matches a new array at
    its address; pyramids never taken (a live stage dropped the frame) give way to newer ones."""

    def __init__(self, keep: int = 4):
        self.keep = keep
        self._waiting: list[tuple[weakref.ref, Pyramid]] = []
        self._lock = threading.Lock()

    def fresh(self, frame: np.ndarray) -> Pyramid:
        pyramid = Pyramid(frame)
        with self._lock:
            self._waiting = [(ref, p) for ref, p in self._waiting[-(self.keep - 1):]
                             if ref() is not None and ref() is not frame]
            self._waiting.append((weakref.ref(frame), pyramid))
        return pyramid

    def take(self, frame: np.ndarray) -> Pyramid:
        with self._lock:
            for i, (ref, pyramid) in enumerate(self._waiting):
                if ref() is frame:
                    del self._waiting[i]
                    return pyramid
        return Pyramid(frame)
