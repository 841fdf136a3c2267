"""The mask step computed near the edges only is the reference's three lines, bit for bit."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from pibokeh import core, mask_refine


def three_lines(mask: np.ndarray, size: tuple[int, int], smooth: int = 15) -> np.ndarray:
    """The reference's step 3 written out with OpenCV, independent of pibokeh."""
    resized = cv2.resize(mask, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    smoothed = cv2.GaussianBlur(resized, (smooth, smooth), 0)
    return cv2.threshold(smoothed, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[1]


def random_mask(rng: np.random.Generator, kind: int) -> np.ndarray:
    height, width = (int(v) for v in rng.integers(3, 300, 2))
    mask = np.zeros((height, width), np.uint8)
    for _ in range(int(rng.integers(0, 5))):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        axes = (int(rng.integers(1, width)), int(rng.integers(1, height)))
        cv2.ellipse(mask, centre, axes, 0, 0, 360, 255, -1)
    if kind == 0:  # speckle: edges everywhere
        mask = ((rng.random((height, width)) > 0.97) * 255).astype(np.uint8)
    elif kind == 1:
        mask[:] = 255
    elif kind == 2:  # not a 0/255 mask at all
        mask = rng.integers(0, 256, (height, width), dtype=np.uint8)
    elif kind == 3:
        mask[:] = int(rng.integers(0, 256))
    elif kind == 4:  # two levels other than 0 and 255
        mask = (mask // 255 * int(rng.integers(1, 255))).astype(np.uint8)
    return mask


def test_near_edges_equals_the_three_lines_on_random_masks_and_sizes():
    rng = np.random.default_rng(7)
    for trial in range(250):
        mask = random_mask(rng, trial % 9)
        size = tuple(int(v) for v in rng.integers(10, 1300, 2))  # up- and downscaled, partial tiles
        smooth = int(rng.choice([3, 5, 15, 15, 31]))
        got = mask_refine.refine_near_edges(mask, size, smooth)
        expected = three_lines(mask, size, smooth)
        assert got.shape == expected.shape and got.flags.c_contiguous
        assert np.array_equal(got, expected), (trial, mask.shape, size, smooth)


@pytest.mark.parametrize("size", [(1080, 1920), (720, 1280), (1081, 1919)])
def test_a_person_mask_at_video_sizes(size):
    labels = np.zeros((289, 513), np.uint8)
    cv2.ellipse(labels, (256, 289), (90, 200), 0, 0, 360, 15, -1)
    cv2.circle(labels, (256, 80), 45, 15, -1)
    mask = core.class_mask(labels, [15])
    assert np.array_equal(core.frame_mask(labels, [15], size), three_lines(mask, size))
    # only the tiles along the edge were blurred
    changing, _ = mask_refine._tile_states(mask, size, 7)
    assert 0 < changing.mean() < 0.25


def test_otsu_threshold_is_opencvs():
    rng = np.random.default_rng(3)
    for trial in range(200):
        kind = trial % 4
        if kind == 0:  # a blurred binary mask, as the pipeline makes
            image = cv2.GaussianBlur(((rng.random((60, 80)) > 0.6) * 255).astype(np.uint8), (15, 15), 0)
        elif kind == 1:
            image = rng.integers(0, 256, (50, 70), dtype=np.uint8)
        elif kind == 2:  # few values, large gaps
            image = rng.choice([0, 3, 200, 255], (40, 40)).astype(np.uint8)
        else:
            image = np.full((10, 10), int(rng.integers(0, 256)), np.uint8)
        hist = np.bincount(image.ravel(), minlength=256)
        expected, _ = cv2.threshold(image, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        assert mask_refine.otsu_threshold(hist) == int(expected), trial
