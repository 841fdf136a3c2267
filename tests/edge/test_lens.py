"""The lens look on pictures made here, against expectations computed from its documented rules
(not from pibokeh.lens): the aperture's size is 2 sigma (a disc) of OpenCV's Gaussian sigma for the
blur kernel, the blur spreads linear light (the sRGB curve), bloom 1 makes full white count 64 times."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from pibokeh import core, styles
from pibokeh.lens import lens_blur

from tests.edge.test_core import person_mask, psnr, scene


def linear(values: np.ndarray, top: float) -> np.ndarray:
    """Stored sRGB values -> linear light, as the sRGB standard defines it."""
    v = values.astype(np.float64) / top
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def opencv_sigma(kernel: int) -> float:
    return 0.3 * ((kernel - 1) * 0.5 - 1) + 0.8  # cv2.getGaussianKernel's rule for sigma 0


POINTS = [(40, 40), (40, 120), (120, 80)]


def points(dtype, channels: int = 0, size: int = 170) -> np.ndarray:
    top = np.iinfo(dtype).max
    image = np.zeros((size, size) if channels == 0 else (size, size, channels), dtype)
    for y, x in POINTS:
        image[y, x] = top
    return image


def radial(out_light: np.ndarray, centre: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(distance from `centre`, value) of every pixel within 30 px of it."""
    y0, x0 = centre
    y, x = np.mgrid[y0 - 30:y0 + 31, x0 - 30:x0 + 31]
    return np.hypot(y - y0, x - x0).ravel(), out_light[y0 - 30:y0 + 31, x0 - 30:x0 + 31].ravel()


@pytest.mark.parametrize("kernel", [31, 45])
def test_a_bright_point_becomes_a_flat_disc_of_the_aperture_size_with_its_light_kept(kernel):
    image = points(np.uint16)  # 16 bits: a point's light spread over a disc is still visible
    radius = 2 * opencv_sigma(kernel)  # a disc of radius 2 sigma has the Gaussian's spread
    out = lens_blur(image, np.zeros(image.shape, np.uint8), styles.Lens(kernel, bloom=0.0), exact=True)
    light = linear(out, 65535)
    for centre in POINTS:
        distance, value = radial(light, centre)
        inside = value[distance <= radius - 1.5]
        assert inside.std() / inside.mean() < 0.03  # flat-topped, not a peak
        assert value[distance >= radius + 1.5].max() < 0.02 * inside.mean()  # nothing beyond the rim
        assert inside.mean() == pytest.approx(1.0 / (math.pi * radius ** 2), rel=0.05)
        assert value.sum() == pytest.approx(1.0, rel=0.03)  # a point's light, all of it, no more


def test_the_fast_path_keeps_the_aperture_a_sharp_edged_disc_at_1080p():
    """What PSNR hardly sees on a mostly dark frame and a viewer sees at once: made at too small a scale,
    the discs of bright points go soft and lose their shape. Here their rim must fall from 90 % to 10 %
    of the disc's level within a fifth of its radius, at the radius asked for (the default kernel)."""
    height, width = 1080, 1920
    image = np.full((height, width, 3), 10, np.uint8)
    centres = [(300, 400), (700, 1200), (540, 1700)]
    for y, x in centres:
        image[y - 1:y + 2, x - 1:x + 2] = 255  # a small light: 3x3 px
    radius = 2 * opencv_sigma(styles.BLUR_KERNEL)
    out = lens_blur(image, np.zeros((height, width), np.uint8), styles.Lens(bloom=1.0)).astype(float)[..., 1] - 10
    reach = int(radius * 1.6)
    yy, xx = np.mgrid[-reach:reach + 1, -reach:reach + 1]
    rings = np.hypot(yy, xx).astype(int)
    for y, x in centres:
        patch = out[y - reach:y + reach + 1, x - reach:x + reach + 1]
        profile = np.array([patch[rings == r].mean() for r in range(reach)])
        level = np.median(profile[:int(radius / 2)])
        assert level > 40  # a visible disc (bloom)
        outer = int(np.argmax(profile < 0.1 * level))
        inner = int(np.argmax(profile < 0.9 * level))
        assert outer - inner <= radius / 5, (inner, outer, radius)
        assert abs(int(np.argmax(profile < 0.5 * level)) - radius) <= radius / 10


def test_bloom_makes_an_8bit_point_a_visible_disc_with_its_boosted_light():
    image = points(np.uint8, channels=3)
    kernel = 31
    radius = 2 * opencv_sigma(kernel)
    bloomed = lens_blur(image, np.zeros(image.shape[:2], np.uint8), styles.Lens(kernel, bloom=1.0), exact=True)
    plain = lens_blur(image, np.zeros(image.shape[:2], np.uint8), styles.Lens(kernel, bloom=0.0), exact=True)
    gaussian = core.background_blur(image, np.zeros(image.shape[:2], np.uint8), kernel)
    for centre in POINTS:
        distance, value = radial(linear(bloomed[..., 1], 255), centre)
        inside = value[distance <= radius - 1.5]
        assert inside.std() / inside.mean() < 0.05
        assert value.sum() == pytest.approx(64.0, rel=0.04)  # bloom 1: full white counts 64 times
        assert bloomed[centre][1] > 100  # a disc you see in 8 bits ...
        assert plain[centre][1] < 40 and gaussian[centre][1] < 10  # ... where the others leave a faint smudge


@pytest.mark.parametrize("blades", [5, 6, 9])
def test_blades_make_a_polygon_of_the_same_spread(blades):
    image = points(np.uint16)
    kernel = 61
    sigma = opencv_sigma(kernel)
    circumradius = sigma * math.sqrt(12 / (2 + math.cos(2 * math.pi / blades)))  # a regular N-gon's variance
    out = lens_blur(image, np.zeros(image.shape, np.uint8), styles.Lens(kernel, blades=blades, bloom=0.0), exact=True)
    y0, x0 = POINTS[2]
    lit = linear(out, 65535)[y0 - 40:y0 + 41, x0 - 40:x0 + 41] > 0.5 / (math.pi * circumradius ** 2)
    angles = np.arange(blades) * 2 * np.pi / blades - np.pi / 2  # one corner up
    corners = np.stack([40 + circumradius * np.cos(angles), 40 + circumradius * np.sin(angles)], axis=1)
    polygon = np.zeros(lit.shape, np.uint8)
    cv2.fillPoly(polygon, [np.round(corners).astype(np.int32)], 1)
    disc = np.zeros(lit.shape, np.uint8)
    cv2.circle(disc, (40, 40), round(circumradius), 1, -1)
    polygon_iou = (lit & (polygon > 0)).sum() / (lit | (polygon > 0)).sum()
    disc_iou = (lit & (disc > 0)).sum() / (lit | (disc > 0)).sum()
    assert polygon_iou > 0.88 and polygon_iou > disc_iou, (polygon_iou, disc_iou)


def test_the_foreground_is_untouched_and_no_colour_of_it_enters_the_blur():
    height, width = 480, 640
    person = person_mask(height, width)
    img = np.full((height, width, 3), (40, 160, 40), np.uint8)
    img[person == 255] = (0, 0, 255)
    ring = (cv2.dilate(person, np.ones((61, 61), np.uint8)) == 255) & (person == 0)
    for lens in (styles.Lens(), styles.Lens(blades=6, bloom=1.0), styles.Lens(falloff=0.3)):
        for exact in (False, True):
            out = core.compose(img, person, styles.Style(lens, exact=exact))
            assert np.array_equal(out[person == 255], img[person == 255])
            assert np.abs(out[ring].astype(int) - (40, 160, 40)).mean() < 2


def bright_scene(height: int = 720, width: int = 1280) -> np.ndarray:
    """The core tests' busy picture with bright lights dotted over it (what blooms)."""
    img = scene(height, width)
    rng = np.random.default_rng(5)
    for _ in range(60):
        cv2.circle(img, (int(rng.integers(0, width)), int(rng.integers(0, height))), int(rng.integers(1, 4)),
                   (255, 255, 255), -1)
    return img


def night_scene(height: int = 720, width: int = 1280) -> np.ndarray:
    """Hundreds of small lights on a dark, noisy background: where bloom makes the most discs."""
    rng = np.random.default_rng(1)
    img = rng.normal(30, 8, (height, width, 3)).clip(0, 255).astype(np.uint8)
    for _ in range(400):
        colour = [int(v) for v in rng.integers(150, 256, 3)]
        cv2.circle(img, (int(rng.integers(0, width)), int(rng.integers(0, height))), int(rng.integers(0, 3)), colour, -1)
    return img


@pytest.mark.parametrize("lens", [styles.Lens(), styles.Lens(blades=7), styles.Lens(bloom=1.0),
                                  styles.Lens(falloff=0.25), styles.Lens(kernel=101)])
@pytest.mark.parametrize("make", [bright_scene, night_scene])
def test_the_fast_path_is_within_35_db_of_the_exact_lens_blur(lens, make):
    img = make()
    mask = person_mask()
    background = mask == 0
    fast = lens_blur(img, mask, lens)
    exact = lens_blur(img, mask, lens, exact=True)
    assert fast.shape == img.shape and fast.dtype == img.dtype
    fidelity = psnr(fast, exact, background)
    assert fidelity >= 35.0
    assert psnr(fast, img, background) < fidelity - 10  # and a blur, far from a copy


@pytest.mark.parametrize("extra", [1, 2, 3, 4, 6])
def test_a_thin_strip_of_background_under_the_subject_is_blurred_as_the_exact_path_blurs_it(extra):
    """A model's mask often stops a few rows short of the frame's edge under a person: a thin strip of
    background, far from any other, just wider than the subject's growth (1 % of the frame's shorter
    side). The fast path must keep it (its light, not the dark subject above it)."""
    height, width = 720, 1280
    gap = round(height * 0.01) + extra
    mask = person_mask(height, width)
    mask[height - gap:] = 0
    img = bright_scene(height, width)
    img[mask > 0] = 25  # dark clothes on a bright background
    strip = np.zeros(mask.shape, bool)
    strip[height - gap:, width // 2 - width // 6 + 80:width // 2 + width // 6 - 80] = True  # > reach from the sides
    fast = lens_blur(img, mask, styles.Lens())
    exact = lens_blur(img, mask, styles.Lens(), exact=True)
    assert psnr(fast, exact, strip) >= 35.0


def test_falloff_is_sharp_at_the_subject_and_full_far_away():
    img = bright_scene(360, 640)
    mask = np.zeros((360, 640), np.uint8)
    mask[:, :160] = 255  # the subject fills the left quarter
    even = lens_blur(img, mask, styles.Lens(), exact=True)
    deep = lens_blur(img, mask, styles.Lens(falloff=0.5), exact=True)  # full strength 320 px away
    # the subject is grown by 1 % of the frame (4 px) before the background is made
    near, middle, far = ((slice(None), slice(a, b)) for a, b in ((164, 168), (240, 250), (560, 640)))
    assert psnr(deep[near], img[near]) > 32 and psnr(even[near], img[near]) < 25
    assert psnr(deep[near], img[near]) > psnr(deep[middle], img[middle]) + 3  # the blur grows with the distance
    assert psnr(deep[far], even[far]) > 35


@pytest.mark.parametrize("make", [
    lambda: scene(101, 77)[..., 0],                                   # gray, 2-D
    lambda: scene(101, 77)[..., :1],                                  # gray, one channel
    lambda: scene(101, 77).astype(np.uint16) * 257,                   # 16-bit
    lambda: np.dstack([scene(101, 77), np.full((101, 77), 77, np.uint8)]),  # BGRA
])
def test_every_format_keeps_its_shape_depth_and_foreground(make):
    img = make()
    mask = person_mask(101, 77)
    for exact in (False, True):
        out = core.compose(img, mask, styles.Style(styles.Lens(kernel=61, blades=5), exact=exact))
        assert out.shape == img.shape and out.dtype == img.dtype
        assert np.array_equal(out[mask == 255], img[mask == 255])


def test_16bit_and_8bit_give_the_same_picture():
    img = bright_scene(180, 320)
    mask = person_mask(180, 320)
    out8 = core.compose(img, mask, styles.Style(styles.Lens(kernel=61)))
    out16 = core.compose(img.astype(np.uint16) * 257, mask, styles.Style(styles.Lens(kernel=61)))
    assert psnr((out16 >> 8).astype(np.uint8), out8) > 40


def test_a_flat_background_stays_flat_bright_or_dark():
    mask = person_mask(300, 400)
    for value in (20, 123, 240, 255):  # 240 and 255 are highlights: boosted, then exactly undone
        img = np.full((300, 400, 3), value, np.uint8)
        out = core.compose(img, mask, styles.Style(styles.Lens(bloom=1.0)))
        assert np.abs(out.astype(int) - value).max() <= 1


@pytest.mark.parametrize("shape", [(1, 1, 3), (3, 5, 3), (7, 250, 3), (250, 2)])
def test_images_smaller_than_the_aperture(shape):
    img = np.random.default_rng(1).integers(0, 255, shape, dtype=np.uint8)
    mask = np.zeros(shape[:2], np.uint8)
    mask[: shape[0] // 2] = 255
    for exact in (False, True):
        assert core.compose(img, mask, styles.Style(styles.Lens(falloff=0.2), exact=exact)).shape == img.shape
