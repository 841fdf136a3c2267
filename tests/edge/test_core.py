"""The core on synthetic arrays, against expectations computed independently of pibokeh.core."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from pibokeh import core
from pibokeh import styles


def psnr(a: np.ndarray, b: np.ndarray, where: np.ndarray | None = None, peak: float = 255.0) -> float:
    diff = (a.astype(np.float64) - b.astype(np.float64)) ** 2
    if where is not None:
        diff = diff[where]
    return float(10 * np.log10(peak ** 2 / max(diff.mean(), 1e-12)))


def scene(height: int = 720, width: int = 1280, seed: int = 0) -> np.ndarray:
    """A busy test picture: smooth gradients, hard-edged shapes, stripes and noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.dstack([x / width * 255, y / height * 255, (x + y) / (width + height) * 255])
    for _ in range(40):
        cx, cy, r = rng.integers(0, width), rng.integers(0, height), rng.integers(10, 120)
        cv2.circle(img, (int(cx), int(cy)), int(r), rng.integers(0, 255, 3).tolist(), -1)
    img[:, ::16] = 255
    img += rng.normal(0, 12, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def person_mask(height: int = 720, width: int = 1280) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    cv2.ellipse(mask, (width // 2, height), (width // 6, height * 3 // 4), 0, 0, 360, 255, -1)
    return mask


def test_class_mask_marks_only_chosen_classes():
    labels = np.array([[0, 15, 7], [15, 3, 255]], np.uint8)
    assert core.class_mask(labels, [15]).tolist() == [[0, 255, 0], [255, 0, 0]]
    assert core.class_mask(labels, [15, 7]).tolist() == [[0, 255, 255], [255, 0, 0]]


def test_refine_mask_scales_a_block_to_the_frame_and_binarises():
    small = np.zeros((20, 20), np.uint8)
    small[5:15, 5:15] = 255
    out = core.refine_mask(small, (200, 300))
    assert out.shape == (200, 300) and set(np.unique(out)) == {0, 255}
    ideal = np.zeros((200, 300), bool)
    ideal[50:150, 75:225] = True  # the block covers the middle half of each side
    got = out == 255
    iou = (got & ideal).sum() / (got | ideal).sum()
    assert iou > 0.95


def test_refine_mask_of_an_empty_or_full_mask():
    assert core.refine_mask(np.zeros((33, 33), np.uint8), (64, 48)).max() == 0
    assert core.refine_mask(np.full((33, 33), 255, np.uint8), (64, 48)).min() == 255


def test_fast_blur_matches_exact_blur_over_the_background():
    img = scene()
    background = person_mask() == 0
    exact = cv2.GaussianBlur(img, (251, 251), 0)  # independent of pibokeh.core
    fast = core.fast_blur(img, 251)
    assert fast.shape == img.shape and fast.dtype == img.dtype
    assert psnr(fast, exact, background) >= 35.0
    # and it is a blur, not a copy: far from the sharp original
    assert psnr(fast, img, background) < 25.0


@pytest.mark.parametrize("kernel", [31, 101, 251, 401])
def test_fast_blur_tracks_the_kernel_size(kernel):
    img = scene(360, 640)
    assert psnr(core.fast_blur(img, kernel), cv2.GaussianBlur(img, (kernel, kernel), 0)) >= 35.0


def test_no_halo_the_person_does_not_bleed_into_the_background():
    height, width = 480, 640
    red_person = person_mask(height, width)
    img = np.zeros((height, width, 3), np.uint8)
    img[:] = (40, 160, 40)  # green background, BGR
    img[red_person == 255] = (0, 0, 255)  # bright red person
    # the ring around the person, where a halo would show
    grown = cv2.dilate(red_person, np.ones((61, 61), np.uint8))
    ring = (grown == 255) & (red_person == 0)

    def bleed(out: np.ndarray) -> float:
        return float(np.abs(out[ring].astype(int) - (40, 160, 40)).mean())

    plain = core.compose(img, red_person, styles.Style(exact=True))
    clean = core.compose(img, red_person)
    assert bleed(plain) > 20  # the reference blur does bleed: the test can see a halo
    assert bleed(clean) < 2
    # the person itself is untouched
    assert np.array_equal(clean[red_person == 255], img[red_person == 255])


def test_no_halo_even_when_the_mask_stops_short_of_the_edge():
    height, width = 480, 640
    person = person_mask(height, width)
    img = np.full((height, width, 3), (40, 160, 40), np.uint8)
    img[person == 255] = (0, 0, 255)
    short = cv2.erode(person, np.ones((5, 5), np.uint8))  # the model misses 2 px of edge
    out = core.compose(img, short)
    ring = (cv2.dilate(person, np.ones((61, 61), np.uint8)) == 255) & (person == 0)
    assert np.abs(out[ring].astype(int) - (40, 160, 40)).mean() < 3


def test_exact_path_is_the_reference_blend():
    img = scene(120, 160)
    mask = person_mask(120, 160)
    expected = np.where(mask[..., None] == 255, img, cv2.GaussianBlur(img, (251, 251), 0))
    assert np.array_equal(core.compose(img, mask, styles.Style(exact=True)), expected)


def test_feathered_edge_is_soft_but_keeps_the_interior():
    img = np.full((200, 200, 3), 200, np.uint8)
    mask = np.zeros((200, 200), np.uint8)
    mask[:, 100:] = 255
    out = core.compose(img, mask, styles.Style(background=styles.Color((50, 50, 50)), feather=31))
    row = out[100, :, 0].astype(int)
    assert row[190] == 200 and row[10] == 50  # far from the edge: untouched / pure background
    assert 50 < row[100] < 200 and 50 < row[99] < 200  # at the edge: a mix
    assert np.all(np.diff(row[80:120]) >= 0)  # monotonic ramp


def test_solid_colour_background():
    img = scene(90, 120)
    mask = person_mask(90, 120)
    out = core.compose(img, mask, styles.Style(background=styles.Color((10, 20, 30))))
    assert np.all(out[mask == 0] == (10, 20, 30))
    assert np.array_equal(out[mask == 255], img[mask == 255])


def test_replacement_image_is_scaled_to_cover_and_centre_cropped():
    # a 100x400 picture with a left/middle/right pattern behind a 100x100 frame:
    # cover keeps the height (scale 1) and crops the middle 100 columns.
    behind = np.zeros((100, 400, 3), np.uint8)
    behind[:, :150] = (255, 0, 0)
    behind[:, 150:250] = (0, 255, 0)
    behind[:, 250:] = (0, 0, 255)
    img = np.zeros((100, 100, 3), np.uint8)
    mask = np.zeros((100, 100), np.uint8)
    out = core.compose(img, mask, styles.Style(background=styles.Replace(behind)))
    assert np.all(out == (0, 255, 0))


def test_transparent_background_puts_the_mask_in_alpha():
    img = scene(60, 80)
    mask = person_mask(60, 80)
    out = core.compose(img, mask, styles.Style(background=styles.Transparent()))
    assert out.shape == (60, 80, 4)
    assert np.array_equal(out[..., 3], mask)
    assert np.array_equal(out[..., :3], img)


def test_grayscale_16bit_rgba_and_odd_sizes_keep_their_format():
    mask = person_mask(101, 77)
    gray = scene(101, 77)[..., 0]
    assert core.compose(gray, mask).shape == (101, 77)
    deep = scene(101, 77).astype(np.uint16) * 257
    out16 = core.compose(deep, mask, styles.Style(background=styles.Color((255, 0, 0))))
    assert out16.dtype == np.uint16 and np.all(out16[mask == 0] == (65535, 0, 0))
    assert np.array_equal(out16[mask == 255], deep[mask == 255])
    rgba = np.dstack([scene(101, 77), np.full((101, 77), 77, np.uint8)])
    out4 = core.compose(rgba, mask)
    assert out4.shape == (101, 77, 4) and np.all(out4[..., 3] == 77)


@pytest.mark.parametrize("shape", [(1, 1, 3), (3, 5, 3), (7, 250, 3), (250, 2)])
def test_images_smaller_than_the_kernels(shape):
    img = np.random.default_rng(1).integers(0, 255, shape, dtype=np.uint8)
    mask = np.zeros(shape[:2], np.uint8)
    mask[: shape[0] // 2] = 255
    for style in (styles.Style(), styles.Style(exact=True), styles.Style(feather=31)):
        out = core.compose(img, mask, style)
        assert out.shape == img.shape
    refined = core.refine_mask(mask, shape[:2])
    assert refined.shape == shape[:2]


def test_blurred_background_of_a_flat_image_is_flat():
    img = np.full((300, 400, 3), 123, np.uint8)
    mask = person_mask(300, 400)
    assert np.all(core.compose(img, mask) == 123)
    assert np.all(core.fast_blur(img, 251) == 123)
