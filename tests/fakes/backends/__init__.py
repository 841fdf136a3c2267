"""Test backends on the `pibokeh.model.Backend` seam, for the conformance suite and for tests that need
a model with a known answer: `RedBackend` calls red pixels "person" (15), like the tiny test models,
with no interpreter at all. Device fakes (the AI Camera, Hailo, Edge TPU) live beside it and wrap the
same helper APIs the real devices have."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from pibokeh.model import PERSON, Backend


def red_labels(rgb: np.ndarray) -> np.ndarray:
    """15 where a pixel is clearly red (R high, G and B low), 0 elsewhere."""
    r, g, b = (rgb[..., i].astype(np.int16) for i in range(3))
    return np.where((r > 150) & (g < 100) & (b < 100), PERSON, 0).astype(np.uint8)


class RedBackend(Backend):
    """A model of `size` (h, w) whose output is a class map at 1/`stride` of its input."""

    def __init__(self, size: tuple[int, int] = (97, 129), stride: int = 4, threads: int | None = 1):
        self.path = Path(f"red_{size[1]}x{size[0]}.fake")
        self.backend = "fake-red"
        self.family = "test fake (red = person)"
        self.input_size = size
        self.threads = threads
        self.stride = stride

    def infer(self, rgb: np.ndarray) -> np.ndarray:
        assert rgb.shape == (*self.input_size, 3) and rgb.dtype == np.uint8, rgb.shape
        height, width = self.input_size
        small = cv2.resize(rgb, (-(-width // self.stride), -(-height // self.stride)), interpolation=cv2.INTER_AREA)
        return red_labels(small)
