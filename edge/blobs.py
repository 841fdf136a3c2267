"""Small-blob removal: stray bits of the mask (a shadow, a poster, a patch the model took for a
person) dropped, the subject kept. A pure function the chain's mask step calls (`--min-blob`)."""
from __future__ import annotations

import cv2
import numpy as np


def drop_small_blobs(mask: np.ndarray, min_share: float) -> np.ndarray:
    """The binary mask (uint8 0/255) without its connected parts (8-connected) smaller than
    `min_share` of the frame's area; the mask itself when nothing is dropped or `min_share` is 0."""
    if min_share <= 0 or not mask.any():
        return mask
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    small = stats[1:, cv2.CC_STAT_AREA] < min_share * mask.shape[0] * mask.shape[1]
    if not small.any():
        return mask
    keep = np.concatenate([[False], ~small])  # label 0 is the background
    return np.where(keep[labels], 255, 0).astype(np.uint8)
