"""Pictures stored sideways: a photo's EXIF orientation tag, a video's display matrix (phones store
portrait video as landscape frames plus a rotation), and turning such a picture upright.

Both come down to one of the eight ways to lay a rectangle back on itself (`Turn`): swap rows and
columns or not, then mirror left-right and/or top-bottom. Outputs carry no orientation of their own,
so every input is turned upright as it is read: segmented upright, written upright, played the way
the input plays.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np


class Turn(NamedTuple):
    """Make a stored picture upright: transpose (rows <-> columns) first, then mirror."""
    transpose: bool = False
    flip_x: bool = False  # left <-> right
    flip_y: bool = False  # top <-> bottom

    @property
    def swaps_sides(self) -> bool:
        return self.transpose

    def size(self, width: int, height: int) -> tuple[int, int]:
        """The upright (width, height) of a stored picture of (width, height)."""
        return (height, width) if self.transpose else (width, height)

    def describe(self) -> str:
        """'rotated 90° clockwise', 'mirrored', ... (how the stored picture is turned upright)."""
        return _WORDS[self]


UPRIGHT = Turn()
# EXIF orientation (TIFF tag 0x0112) 1..8 -> the turn that shows the picture as viewers do
EXIF = {1: UPRIGHT, 2: Turn(False, True, False), 3: Turn(False, True, True), 4: Turn(False, False, True),
        5: Turn(True, False, False), 6: Turn(True, True, False), 7: Turn(True, True, True),
        8: Turn(True, False, True)}
_WORDS = {UPRIGHT: "as stored", EXIF[2]: "mirrored left-right", EXIF[3]: "rotated 180°",
          EXIF[4]: "mirrored top-bottom", EXIF[5]: "transposed", EXIF[6]: "rotated 90° clockwise",
          EXIF[7]: "transversed", EXIF[8]: "rotated 90° counter-clockwise"}


def from_exif(orientation: int | None) -> Turn:
    """The turn of an EXIF orientation value (unknown values: none)."""
    return EXIF.get(orientation or 1, UPRIGHT)


def from_display_matrix(matrix: Sequence[int] | None) -> Turn:
    """The turn of an FFmpeg/ISO display matrix (9 numbers, row-major, 16.16 fixed point): a stored
    pixel (x, y) is shown at (a*x + c*y, b*x + d*y). Angles between quarter turns are rounded to the
    nearest one (phones write only quarter turns)."""
    if matrix is None or len(matrix) < 5:
        return UPRIGHT
    a, b, c, d = matrix[0], matrix[1], matrix[3], matrix[4]
    if abs(a) + abs(d) >= abs(b) + abs(c):
        return Turn(False, a < 0, d < 0)
    return Turn(True, c < 0, b < 0)  # transposed: x' follows y (by c), y' follows x (by b)


def upright(image: np.ndarray, turn: Turn) -> np.ndarray:
    """`image` turned upright (a contiguous copy when it changes; the same array when it does not)."""
    if turn == UPRIGHT:
        return image
    if turn.transpose:
        image = image.swapaxes(0, 1)
    if turn.flip_x:
        image = image[:, ::-1]
    if turn.flip_y:
        image = image[::-1]
    return np.ascontiguousarray(image)
