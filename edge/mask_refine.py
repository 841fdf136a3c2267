"""The reference's mask step -- resize, GaussianBlur, Otsu -- computed only where it can change.

`plain_refine` is the reference's three lines at full resolution. At 1080p most of that work is
spent far from the mask's edges, where the upscaled class mask is one value over the whole
Gaussian window and so comes out of the blur unchanged. `refine_near_edges` gives the same result
to the bit: it blurs only the tiles near an edge (found on the small class mask, before upscaling),
takes every other tile's pixels as they are, builds Otsu's histogram from both and thresholds with
OpenCV's own Otsu rule. tests/edge/test_mask_refine.py checks it against the three lines.
"""
from __future__ import annotations

import cv2
import numpy as np

TILE = 32       # output tiles, in pixels: small enough to follow an edge, big enough to batch
MIN_TILES = 16  # smaller frames: the plain steps cost nothing anyway
FLT_EPSILON = float(np.finfo(np.float32).eps)


def plain_refine(mask: np.ndarray, size: tuple[int, int], smooth: int) -> np.ndarray:
    """The reference's step 3: bilinear resize to `size` (h, w), GaussianBlur, Otsu threshold."""
    height, width = size
    resized = cv2.resize(mask, (width, height), interpolation=cv2.INTER_LINEAR)
    smoothed = cv2.GaussianBlur(resized, (smooth, smooth), 0) if smooth > 1 else resized
    return cv2.threshold(smoothed, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[1]


def refine_near_edges(mask: np.ndarray, size: tuple[int, int], smooth: int) -> np.ndarray:
    """`plain_refine(mask, size, smooth)`, bit for bit, blurring only the tiles near an edge."""
    height, width = size
    radius = smooth // 2
    rows, cols = -(-height // TILE), -(-width // TILE)
    if smooth <= 1 or rows * cols < MIN_TILES or min(height, width) <= radius + TILE or mask.ndim != 2:
        return plain_refine(mask, size, smooth)
    resized = cv2.resize(mask, (width, height), interpolation=cv2.INTER_LINEAR)
    changing, value = _tile_states(mask, size, radius)
    # tiles that stay one value: their pixels go into the histogram as that value
    tile_h = np.minimum(TILE, height - TILE * np.arange(rows))
    tile_w = np.minimum(TILE, width - TILE * np.arange(cols))
    counts = np.where(changing, 0, tile_h[:, None] * tile_w[None, :])
    hist = np.bincount(value.ravel(), weights=counts.ravel(), minlength=256)[:256].astype(np.int64)
    ti, tj = np.nonzero(changing)
    inner = None
    if ti.size:
        inner = _blur_tiles(resized, ti, tj, smooth, (rows, cols))
        # only the part of each tile inside the frame counts (the last row and column may be cut)
        valid = ((np.arange(TILE)[None, :, None] < tile_h[ti][:, None, None])
                 & (np.arange(TILE)[None, None, :] < tile_w[tj][:, None, None])).astype(np.uint8)
        hist += cv2.calcHist([inner.reshape(-1, TILE)], [0], valid.reshape(-1, TILE), [256],
                             [0, 256]).ravel().astype(np.int64)
    threshold = otsu_threshold(hist)
    out = np.zeros((rows * TILE, cols * TILE), np.uint8)
    out[:height, :width] = cv2.threshold(resized, threshold, 255, cv2.THRESH_BINARY)[1]
    if inner is not None:
        binary = cv2.threshold(inner.reshape(-1, TILE), threshold, 255, cv2.THRESH_BINARY)[1]
        out.reshape(rows, TILE, cols, TILE)[ti, :, tj, :] = binary.reshape(-1, TILE, TILE)
    return np.ascontiguousarray(out[:height, :width])


def _tile_states(mask: np.ndarray, size: tuple[int, int], radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Per output tile: whether its blurred pixels can differ from one value, and that value.

    A tile is constant when the small-mask pixels its bilinear footprint reads, over the tile
    grown by the blur radius (plus one pixel either side for rounding), are all one value:
    then the upscaled mask is that value there and so is its Gaussian."""
    height, width = size
    src_h, src_w = mask.shape
    r0, r1 = _source_span(TILE * np.arange(-(-height // TILE)), height, src_h, radius)
    c0, c1 = _source_span(TILE * np.arange(-(-width // TILE)), width, src_w, radius)
    # 1 where a pixel differs from its right or lower neighbour: a box without any is one value
    # (a difference just across its right or lower side counts too: a tile blurred for nothing)
    steps = np.zeros(mask.shape, np.uint8)
    steps[:, :-1] |= mask[:, 1:] != mask[:, :-1]
    steps[:-1, :] |= mask[1:, :] != mask[:-1, :]
    table = cv2.integral(steps, sdepth=cv2.CV_32S)
    top, bottom, left, right = r0[:, None], r1[:, None] + 1, c0[None, :], c1[None, :] + 1
    inside = table[bottom, right] - table[top, right] - table[bottom, left] + table[top, left]
    return inside > 0, mask[r0][:, c0]


def _source_span(starts: np.ndarray, length: int, src_length: int, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """For tiles starting at `starts` (output pixels), the first and last source pixel that the
    bilinear resize reads for the tile grown by `radius`, one pixel wider each side, clipped."""
    scale = src_length / length
    first = np.maximum(starts - radius, 0)
    last = np.minimum(starts + TILE + radius, length) - 1
    lo = np.floor((first + 0.5) * scale - 0.5).astype(np.int64) - 1
    hi = np.floor((last + 0.5) * scale - 0.5).astype(np.int64) + 2
    return np.clip(lo, 0, src_length - 1), np.clip(hi, 0, src_length - 1)


def _blur_tiles(resized: np.ndarray, ti: np.ndarray, tj: np.ndarray, smooth: int,
                grid: tuple[int, int]) -> np.ndarray:
    """The Gaussian of the tiles (ti, tj) of `resized`, as an (n, TILE, TILE) stack.

    Each tile is cut out with `radius` pixels of its surroundings (the frame mirrored at its
    borders, as GaussianBlur's default BORDER_REFLECT_101 does), the cut-outs are put side by side
    and blurred in one call, and the margins dropped: a pixel of a tile sees exactly the neighbours it
    sees in the whole frame."""
    radius = smooth // 2
    rows, cols = grid
    height, width = resized.shape
    padded = cv2.copyMakeBorder(resized, radius, radius + rows * TILE - height, radius,
                                radius + cols * TILE - width, cv2.BORDER_REFLECT_101)
    side = TILE + 2 * radius
    step_r, step_c = padded.strides
    windows = np.lib.stride_tricks.as_strided(
        padded, (rows, cols, side, side), (TILE * step_r, TILE * step_c, step_r, step_c), writeable=False)
    # side by side in one wide strip: OpenCV blurs wide images several times faster than tall ones
    strip = np.ascontiguousarray(windows[ti, tj].transpose(1, 0, 2)).reshape(side, -1)
    blurred = cv2.GaussianBlur(strip, (smooth, smooth), 0).reshape(side, -1, side)
    return np.ascontiguousarray(blurred[radius:radius + TILE, :, radius:radius + TILE].transpose(1, 0, 2))


def otsu_threshold(hist: np.ndarray) -> int:
    """Otsu's threshold of a 256-bin histogram, computed as OpenCV's THRESH_OTSU computes it
    (getThreshVal_Otsu_8u: the same doubles in the same order), so the binary mask is the same."""
    counts = [int(c) for c in hist]
    scale = 1.0 / sum(counts)
    mu = 0.0
    for i, c in enumerate(counts):
        mu += i * float(c)
    mu *= scale
    mu1 = q1 = max_sigma = 0.0
    best = 0
    for i, c in enumerate(counts):
        p_i = c * scale
        mu1 *= q1
        q1 += p_i
        q2 = 1.0 - q1
        if min(q1, q2) < FLT_EPSILON or max(q1, q2) > 1.0 - FLT_EPSILON:
            continue
        mu1 = (mu1 + i * p_i) / q1
        mu2 = (mu - q1 * mu1) / q2
        sigma = q1 * q2 * (mu1 - mu2) * (mu1 - mu2)
        if sigma > max_sigma:
            max_sigma, best = sigma, i
    return best
