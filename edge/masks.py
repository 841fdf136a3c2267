"""The fast mask step: a frame's binary mask from a model's output with one full-size pass.

The reference's mask step (`core.frame_mask`, what `--exact` runs) resizes the class mask to the
frame, blurs it with a 15x15 Gaussian and thresholds it with Otsu, three passes over every pixel of
the frame. Here every step but the last runs at the model's resolution:

    from a class map (labels):  class mask -> the reference's Gaussian, scaled to the model's
                                resolution -> Otsu's threshold, found on an eighth-size copy ->
                                one bilinear upscale to the frame and that threshold
    from class scores (logits): margin = best chosen class - best other class, on the scores
                                upsampled 3x -> one bilinear upscale to the frame (align_corners,
                                as DeepLab upsamples its logits) -> margin > 0

Resizing and a Gaussian are both linear, so blurring before the upscale instead of after it changes
the result only by rounding; the masks agree with the reference's on >= 99.5 % of a 1080p frame's
pixels (tests/edge/test_masks.py, docs/BENCHMARKS.md). A margin of 0 is exactly where the arg-max of
the scores changes between a chosen class and another, so thresholding it upsampled is the arg-max of
upsampled scores for the chosen classes, without upsampling 21 channels. The scores come with where
the frame lies in them (`Scores`), so a letterboxed frame maps onto them exactly.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from .core import MASK_SMOOTH_KERNEL, class_mask, gaussian_sigma, refine_mask

OTSU_SHRINK = 8  # Otsu's histogram is taken on a copy this many times smaller than the frame
MIN_SIGMA = 0.3  # a Gaussian narrower than this (in model pixels) changes nothing worth a pass


def fast_frame_mask(labels: np.ndarray, class_ids: Sequence[int], size: tuple[int, int],
                    smooth: int = MASK_SMOOTH_KERNEL, out: np.ndarray | None = None) -> np.ndarray:
    """The binary uint8 0/255 mask of a frame of (h, w) `size` from a class map at model resolution,
    like `core.frame_mask` (resize, Gaussian `smooth`, Otsu) with only the final upscale at full size.
    `out`: a uint8 array of `size` to write into (else a new one)."""
    height, width = size
    small = class_mask(labels, class_ids)
    if height <= small.shape[0] or width <= small.shape[1]:  # not an upscale: the reference's steps are cheap
        return refine_mask(small, size, smooth)
    if smooth > 1:
        # the reference's Gaussian is `smooth` px wide at the frame's scale: its sigma at the model's
        sigma_x = gaussian_sigma(smooth) * small.shape[1] / width
        sigma_y = gaussian_sigma(smooth) * small.shape[0] / height
        if max(sigma_x, sigma_y) >= MIN_SIGMA:
            small = cv2.GaussianBlur(small, (0, 0), sigmaX=sigma_x, sigmaY=sigma_y)
    # Otsu needs the histogram of the upscaled mask, not of the model-size one (a few coarse levels):
    # an eighth-size copy has the same histogram for a 64th of the pixels (but at least twice the
    # model's resolution, so that the upscale's ramps are there).
    work = [min(n, max(n // OTSU_SHRINK, 2 * m)) for n, m in zip(size, small.shape)]
    threshold, _ = cv2.threshold(cv2.resize(small, work[::-1], interpolation=cv2.INTER_LINEAR), 0, 255,
                                 cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    full = cv2.resize(small, (width, height), dst=out, interpolation=cv2.INTER_LINEAR)
    return cv2.threshold(full, threshold, 255, cv2.THRESH_BINARY, dst=full)[1]  # in place


def margin(scores: np.ndarray, class_ids: Sequence[int]) -> np.ndarray:
    """The best chosen class's score minus the best other class's (float32, h x w), from scores of
    shape h x w x classes: > 0 exactly where the arg-max is one of `class_ids`. Ids outside the
    scores' classes are ignored."""
    classes = scores.shape[-1]
    chosen = np.zeros(classes, bool)
    chosen[[i for i in class_ids if 0 <= i < classes]] = True
    if not chosen.any():
        return np.full(scores.shape[:2], -1.0, np.float32)
    if chosen.all():
        return np.full(scores.shape[:2], 1.0, np.float32)
    scores = scores.astype(np.float32, copy=False)
    return scores[..., chosen].max(axis=-1) - scores[..., ~chosen].max(axis=-1)


def resample(small: np.ndarray, size: tuple[int, int], scale: tuple[float, float],
             offset: tuple[float, float]) -> np.ndarray:
    """`small` (h x w [x c]) sampled bilinearly on a grid of (H, W) `size`: output pixel (y, x) is
    `small` at (y * scale[0] + offset[0], x * scale[1] + offset[1]), edges repeated. Returns a view.

    OpenCV's resize samples at (x + 0.5) * w / W - 0.5 only; resizing to W' = w / scale and cropping
    at (offset + 0.5) / scale - 0.5 gives any such grid of an upscale within half an output pixel, at
    resize's speed (warpAffine or remap with the exact grid are ~40x slower here)."""
    spans = []
    for s, d, a, b in zip(small.shape[:2], size, scale, offset):
        if a >= 1 or s < 2:  # not an upscale: plain resize (the grids differ by under a pixel)
            spans.append((d, 0))
            continue
        start = max(0, round((b + 0.5) / a - 0.5))
        spans.append((max(round(s / a), start + d), start))
    (full_h, top), (full_w, left) = spans
    resized = cv2.resize(small, (full_w, full_h), interpolation=cv2.INTER_LINEAR)
    return resized[top:top + size[0], left:left + size[1]]


@dataclass(frozen=True)
class Scores:
    """Class scores at the network's resolution (float32, h x w x classes; a logits head's output)
    and where the frame lies in them: the model's input (h, w) and the part of it the frame filled
    (`valid`, less than the input when letterboxed). Score cell i sits on input pixel
    i * (input - 1) / (cells - 1), as DeepLab's align_corners upsampling puts it."""
    values: np.ndarray
    input_size: tuple[int, int]
    valid: tuple[int, int]

    def _step(self, axis: int) -> float:
        cells, pixels = self.values.shape[axis], self.input_size[axis]
        return (cells - 1) / (pixels - 1) if pixels > 1 else 0.0

    def grid(self, size: tuple[int, int]) -> tuple[tuple[float, float], tuple[float, float]]:
        """(scale, offset) per axis mapping the pixels of a frame of (h, w) `size` to score cells:
        the frame was resized onto the valid part of the input (pixel centres on pixel centres)."""
        scale, offset = [], []
        for axis in (0, 1):
            ratio, step = self.valid[axis] / size[axis], self._step(axis)
            scale.append(ratio * step)
            offset.append((0.5 * ratio - 0.5) * step)
        return (scale[0], scale[1]), (offset[0], offset[1])

    def refined(self, factor: int) -> "Scores":
        """The same scores on a grid `factor` times finer (align_corners: cell i becomes cell i * factor)."""
        if factor <= 1 or min(self.values.shape[:2]) < 2:
            return self
        size = tuple((n - 1) * factor + 1 for n in self.values.shape[:2])
        values = resample(self.values, size, (1 / factor, 1 / factor), (0.0, 0.0))
        return Scores(np.ascontiguousarray(values), self.input_size, self.valid)

    def labels(self) -> np.ndarray:
        """The class map (uint8) of the valid part of the input: the arg-max of the scores upsampled
        to the input's resolution (exactly on the align_corners grid, as two matrix products), what a
        model with its upsampling and arg-max inside gives."""
        rows = _bilinear_weights(self.valid[0], self.values.shape[0], self._step(0))
        cols = _bilinear_weights(self.valid[1], self.values.shape[1], self._step(1))
        up = np.tensordot(np.tensordot(rows, self.values, axes=(1, 0)), cols, axes=(1, 1))  # (h, classes, w)
        return np.argmax(up, axis=1).astype(np.uint8)


def _bilinear_weights(count: int, cells: int, step: float) -> np.ndarray:
    """The (count x cells) matrix that samples cells bilinearly at i * step, i < count."""
    position = np.clip(np.arange(count) * step, 0, cells - 1)
    low = np.minimum(np.floor(position).astype(int), max(cells - 2, 0))
    frac = (position - low).astype(np.float32)
    weights = np.zeros((count, cells), np.float32)
    weights[np.arange(count), low] = 1 - frac
    if cells > 1:
        weights[np.arange(count), low + 1] += frac
    return weights


# The margin goes through the one full-size pass as uint8: 128.5 + 8 x margin, 1/8 of a score unit a
# step and +-16 before it saturates (only cells next to an edge decide where it is, and their margins
# are small). Resize rounds what it interpolates, so a pixel is > 128 exactly where the interpolated
# margin is >= 0: the half step keeps that rounding from eating into the mask. uint8 is resize's
# fastest type (half the bytes of int16, a quarter of float32).
MARGIN_SCALE = 8.0
# The best other class is a maximum, not linear in the scores: taken on the network's coarse grid and
# then interpolated it is too high where the runner-up class changes between cells, and the mask
# shrinks (person IoU -0.3 points on the labelled photos). On scores upsampled 3x first it is back
# within 0.1 point of the arg-max of fully upsampled scores; an odd factor keeps that upscale exactly
# on the align_corners grid.
REFINE = 3


def scores_mask(scores: Scores, class_ids: Sequence[int], size: tuple[int, int],
                out: np.ndarray | None = None) -> np.ndarray:
    """The binary uint8 0/255 mask of a frame of (h, w) `size` from class scores at the network's
    resolution: the margin, upsampled once onto the frame, > 0. `out` as in `fast_frame_mask`."""
    scores = scores.refined(REFINE)
    fixed = np.clip(np.rint(128.5 + margin(scores.values, class_ids) * MARGIN_SCALE), 0, 255).astype(np.uint8)
    return cv2.threshold(resample(fixed, size, *scores.grid(size)), 128, 255, cv2.THRESH_BINARY, dst=out)[1]
