"""Is the scene still? A frame nearly the same as the one the model last saw can reuse its mask.

    thumb = thumbnail(frame)               # a small grey copy (2x2 means: sensor noise averages out)
    still = psnr(thumb, last_thumb) > db   # 35 dB: what obs-backgroundremoval skips at

The live pipeline (`engine`) compares each frame due for inference with the frame last sent to the
model, not with the previous frame, so a slow drift still adds up to a new inference.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

SKIP_STILL = 35.0   # dB: --skip-still's default
THUMB_SIDE = 128    # px: a thumbnail's longer side is at most this


def thumbnail(image: np.ndarray) -> np.ndarray:
    """A grey copy of a BGR (or gray) 8-bit frame, halved (2x2 means) until its longer side is at
    most THUMB_SIDE: the frame's brightness pattern without its noise."""
    small = image
    while max(small.shape[:2]) > THUMB_SIDE and min(small.shape[:2]) >= 2:
        small = cv2.resize(small, (small.shape[1] // 2, small.shape[0] // 2), interpolation=cv2.INTER_AREA)
        if small.ndim == 3 and small.shape[2] >= 3:
            small = cv2.cvtColor(small[..., :3], cv2.COLOR_BGR2GRAY)  # after the first halving: a quarter of the work
    if small.ndim == 3:
        small = cv2.cvtColor(small[..., :3], cv2.COLOR_BGR2GRAY) if small.shape[2] >= 3 else small[..., 0]
    return small


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two 8-bit pictures of one shape, in dB (inf when identical)."""
    error = float(np.mean((a.astype(np.float32) - b.astype(np.float32)) ** 2))
    return math.inf if error == 0 else 10.0 * math.log10(255.0 ** 2 / error)


def is_still(thumb: np.ndarray, last: np.ndarray | None, db: float) -> bool:
    """True when `thumb` is within `db` PSNR of `last` (the thumbnail the model last saw); never
    when `db` is 0 (off), there is no `last` or the sizes differ."""
    return bool(db) and last is not None and last.shape == thumb.shape and psnr(thumb, last) > db
