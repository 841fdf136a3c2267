"""How an output frame looks: the background behind the kept classes (a blur, a lens blur, a colour,
a picture, a moving picture, or none), the edge's feathering and the exact reference path. Plain
values, no behaviour: `core` draws them, the commands and `pibokeh.blur` build them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import numpy as np

BLUR_KERNEL = 251  # the reference notebook's GaussianBlur size
LOOKS = ("gaussian", "lens")  # --look: how a blurred background is blurred
BLADES = (5, 9)    # --blades: the aperture polygons offered (0: a round disc)
BLOOM = 0.5        # --bloom's default: clipped highlights count 8 times their stored light

# Colour names people write, as RGB (the way colours are written; frames are BGR).
COLOURS = {
    "black": (0, 0, 0), "white": (255, 255, 255), "gray": (128, 128, 128), "grey": (128, 128, 128),
    "red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255), "yellow": (255, 255, 0),
    "cyan": (0, 255, 255), "magenta": (255, 0, 255),
}


@dataclass(frozen=True)
class Blur:
    """Blur the background (the reference look)."""
    kernel: int = BLUR_KERNEL


@dataclass(frozen=True)
class Lens:
    """Blur the background like a lens (`pibokeh.lens`): an aperture of the spread the Gaussian of
    `kernel` has, a disc or a polygon of `blades` sides; highlights blooming into flat discs (`bloom`
    0-1); with `falloff` (a share of the frame), blur growing with the distance from the subject."""
    kernel: int = BLUR_KERNEL
    blades: int = 0         # 0: a disc; 5-9: a polygon
    bloom: float = BLOOM
    falloff: float = 0.0    # 0: the same blur everywhere


@dataclass(frozen=True)
class Color:
    """A solid background colour, BGR 0-255."""
    bgr: tuple[int, int, int]


@dataclass(frozen=True, eq=False)  # compared by identity: two pictures are not compared pixel by pixel
class Replace:
    """Another picture behind the foreground (scaled to cover the frame, centre-cropped)."""
    image: np.ndarray


@dataclass(frozen=True)
class Movie:
    """A moving picture behind the foreground: a video or an animated GIF/WebP, played one frame per
    output frame and looped (`media.moving` decodes it; a still output gets its first frame)."""
    path: str


@dataclass(frozen=True)
class Transparent:
    """No background: an alpha channel from the mask (write as PNG)."""


Background = Union[Blur, Lens, Color, Replace, Movie, Transparent]


@dataclass(frozen=True)
class Style:
    """How `compose` renders a frame: the background, edge feathering and the exact path."""
    background: Background = Blur()
    feather: int = 0        # Gaussian kernel across the edge in px; 0 = hard edge like the reference
    exact: bool = False     # reference path: full-res Gaussian of the whole frame, halo included (a Lens:
    #                         the lens blur at full resolution, what its fast path is measured against)


def parse_colour(text: str) -> tuple[int, int, int] | None:
    """A colour name, #rrggbb or r,g,b (RGB, as people write colours) -> BGR; None if it is none of these."""
    text = text.strip().lower()
    rgb: tuple[int, ...] | None = None
    if text in COLOURS:
        rgb = COLOURS[text]
    elif text.startswith("#") and len(text) == 7:
        try:
            rgb = tuple(int(text[i:i + 2], 16) for i in (1, 3, 5))
        except ValueError:
            return None
    else:
        parts = text.split(",")
        if len(parts) == 3 and all(p.strip().isdigit() and int(p) <= 255 for p in parts):
            rgb = tuple(int(p) for p in parts)
    return None if rgb is None else (rgb[2], rgb[1], rgb[0])
