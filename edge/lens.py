"""The lens look: a background blurred the way a lens blurs it, as pure NumPy/OpenCV functions.

    light = to_light(image, bloom)                  # linear light, highlights boosted (bloom)
    blurred = blur(light * w) / blur(w)             # an aperture (disc or N-gon), background pixels only
    out = from_light(blurred)                       # the boost undone, back to the image's values

A camera's out-of-focus blur spreads each point's *light* over the aperture's shape: a small bright
point becomes a flat disc (a polygon with N blades), not the faint Gaussian smudge of a blur done on
the stored pixel values. So the blur is done in linear light, and a clipped highlight (whose real
light was likely much more than the 255 it is stored as) is boosted first: `to_light` maps values
above HIGHLIGHT onto a steep curve reaching `gain(bloom)` at full white, `from_light` is its exact
inverse, so a flat area comes back as it was and only highlights spread brighter.

The aperture has the spread (variance) of the Gaussian that `--blur-kernel` gives: switching looks
keeps the amount of blur. `falloff` makes the blur grow with the distance from the subject (a
stand-in for depth): sharp at its edge, full strength `falloff` of the frame's longer side away.
Like `core.background_blur` the blur is mask-weighted, so the subject's colours never enter it.
The fast path does it all at a reduced scale (2x2 halvings) and upsamples the result; `exact=True`
does it at full resolution (the reference the fast path is measured against).
"""
from __future__ import annotations

import functools
import math

import cv2
import numpy as np

from .styles import Lens

BLOOM_STOPS = 6.0    # bloom 1: full white counts as 2**6 = 64 times its stored light
HIGHLIGHT = 0.6      # linear light (display value ~0.8) above which a pixel counts as a highlight
SMALL_RADIUS = 8.0   # px: the fast path halves the frame while the aperture stays at least this wide
                     # (at half that, 1/16 scale for the default at 1080p, the N-gons blur into smudges)
FALLOFF_LEVELS = 4   # apertures between sharp and full strength that --falloff blends between
WEIGH_AFTER = 2      # halvings of the light before it is weighed (cells of 4x4 px)
GROW = 0.01          # the subject is grown by this share of the frame's shorter side (as core does)


# ---- the aperture -------------------------------------------------------------------------------

def aperture_radius(kernel: int, blades: int = 0) -> float:
    """The aperture's radius (px; a polygon's circumradius) whose spread matches the Gaussian of
    `kernel`: per-axis variance R^2/4 for a disc, R^2 (2 + cos(2 pi/N)) / 12 for a regular N-gon."""
    sigma = 0.3 * ((kernel - 1) * 0.5 - 1) + 0.8  # what OpenCV derives for GaussianBlur(kernel, 0)
    if blades:
        return sigma * math.sqrt(12.0 / (2.0 + math.cos(2 * math.pi / blades)))
    return 2.0 * sigma


@functools.lru_cache(maxsize=32)
def aperture(radius: float, blades: int = 0) -> np.ndarray:
    """The aperture as a float32 kernel summing to 1: a disc (`blades` 0) or a regular polygon with
    one corner up, antialiased (drawn 8x larger, then area-averaged)."""
    size = 2 * math.ceil(radius) + 1
    over = 8
    corners = blades or 256
    angles = np.arange(corners) * 2 * np.pi / corners - np.pi / 2
    centre = (size * over - 1) / 2.0
    points = np.stack([centre + radius * over * np.cos(angles), centre + radius * over * np.sin(angles)], axis=1)
    canvas = np.zeros((size * over, size * over), np.uint8)
    cv2.fillPoly(canvas, [np.round(points * 16).astype(np.int32)], 255, lineType=cv2.LINE_8, shift=4)
    kernel = cv2.resize(canvas.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
    if blades % 2 == 0:  # a disc or an even polygon is point-symmetric: what drawing left uneven is evened
        kernel = (kernel + kernel[::-1, ::-1]) * np.float32(0.5)  # (its spectrum is then real: a cheaper product)
    total = kernel.sum()
    if total <= 0:  # a radius below half a pixel: no blur at all
        kernel = np.zeros((1, 1), np.float32)
        kernel[0, 0] = 1.0
        return kernel
    return kernel / total


# ---- linear light -------------------------------------------------------------------------------

def gain(bloom: float) -> float:
    """How many times its stored light full white counts for: 1 (bloom 0) to 64 (bloom 1)."""
    return 2.0 ** (BLOOM_STOPS * min(max(bloom, 0.0), 1.0))


def _linear(values: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in [0, 1] -> linear light (the sRGB curve)."""
    return np.where(values <= 0.04045, values / 12.92, ((values + 0.055) / 1.055) ** 2.4)


def _encoded(light: np.ndarray) -> np.ndarray:
    light = np.clip(light, 0.0, 1.0)
    return np.where(light <= 0.0031308, light * 12.92, 1.055 * light ** (1 / 2.4) - 0.055)


def boost(light: np.ndarray, bloom: float) -> np.ndarray:
    """Highlights made brighter: identity up to HIGHLIGHT, then l + (G - 1) u^2 with u the position
    between HIGHLIGHT and 1 (smooth at HIGHLIGHT, G = gain(bloom) at full white)."""
    extra = gain(bloom) - 1.0
    if extra <= 0:
        return light
    u = np.clip((light - HIGHLIGHT) / (1.0 - HIGHLIGHT), 0.0, None)
    return light + extra * u * u


def unboost(boosted: np.ndarray, bloom: float) -> np.ndarray:
    """The inverse of `boost`: the quadratic solved for the light."""
    extra = gain(bloom) - 1.0
    if extra <= 0:
        return boosted
    a = extra / (1.0 - HIGHLIGHT) ** 2
    above = np.maximum(boosted - HIGHLIGHT, 0.0)
    solved = HIGHLIGHT + (np.sqrt(1.0 + 4.0 * a * above) - 1.0) / (2.0 * a)
    return np.where(boosted > HIGHLIGHT, solved, boosted)


@functools.lru_cache(maxsize=8)
def _light_table(levels: int, bloom: float, scale: float) -> np.ndarray:
    """Every stored value (0 .. levels-1) -> boosted linear light x `scale`, as float32."""
    values = np.arange(levels, dtype=np.float64) / (levels - 1)
    return (boost(_linear(values), bloom) * scale).astype(np.float32)


def to_light(image: np.ndarray, bloom: float, dtype: type = np.float32) -> tuple[np.ndarray, float]:
    """An 8- or 16-bit image as boosted linear light: (values, scale), light = values / scale.

    float32 with scale 1, or (for the fast path's full-resolution first step) uint16 scaled so that
    the brightest boosted value just fits: a quarter of the memory traffic of float32."""
    levels = 256 if image.dtype == np.uint8 else 65536
    if dtype == np.uint16:
        scale = math.floor(65535.0 / gain(bloom))
        table = np.rint(_light_table(levels, bloom, float(scale))).astype(np.uint16)
    else:
        scale, table = 1.0, _light_table(levels, bloom, 1.0)
    if levels == 256:
        return cv2.LUT(image, table), float(scale)
    return table[image], float(scale)


def from_light(light: np.ndarray, bloom: float, dtype: np.dtype) -> np.ndarray:
    """Boosted linear light back to stored values of `dtype` (the boost undone, sRGB-encoded)."""
    if np.dtype(dtype) == np.uint8:  # a table over sqrt(light / G): finer than half a step everywhere
        top = gain(bloom)
        flat = light.reshape(light.shape[0], -1)  # one channel: OpenCV's scalars reach every value then
        root = cv2.sqrt(cv2.min(cv2.max(flat, 0.0), top))
        index = cv2.multiply(root, 65535.0 / math.sqrt(top), dtype=cv2.CV_16U)
        return np.take(_store_table(bloom), index).reshape(light.shape)
    maximum = np.iinfo(dtype).max
    encoded = _encoded(unboost(light, bloom)) * maximum
    return np.clip(np.rint(encoded), 0, maximum).astype(dtype)


@functools.lru_cache(maxsize=8)
def _store_table(bloom: float) -> np.ndarray:
    """sqrt(light / G) in 65536 steps -> 8-bit stored value."""
    light = (np.arange(65536, dtype=np.float64) / 65535.0) ** 2 * gain(bloom)
    return np.clip(np.rint(_encoded(unboost(light, bloom)) * 255.0), 0, 255).astype(np.uint8)


# ---- the blur -----------------------------------------------------------------------------------

def halvings(shape: tuple[int, ...], radius: float) -> int:
    """How many 2x2 halvings the fast path makes before blurring with an aperture of `radius` px."""
    height, width = shape[:2]
    if radius < 2 * SMALL_RADIUS:
        return 0
    levels = int(math.log2(radius / SMALL_RADIUS))
    while levels and min(height, width) >> levels < 2:
        levels -= 1
    return levels


def _halve(image: np.ndarray) -> np.ndarray:
    return cv2.resize(image, (max(1, image.shape[1] // 2), max(1, image.shape[0] // 2)),
                      interpolation=cv2.INTER_AREA)


def _grow(mask: np.ndarray, radius: int) -> np.ndarray:
    """The subject grown by `radius` px, a square (separable: cheap at any size)."""
    return cv2.dilate(mask, np.ones((2 * radius + 1,) * 2, np.uint8)) if radius > 0 else mask


def _times(light: np.ndarray, weight: np.ndarray) -> np.ndarray:
    return light * (weight if light.ndim == 2 else weight[..., None])


def _premultiplied(image: np.ndarray, mask: np.ndarray, bloom: float, levels: int,
                   grow: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(light x w, w, light) as float32 at the working scale (`levels` halvings): w is 1 on the
    background (mask 0, the subject grown by `grow` px first), and a small cell's w the share of it.

    The fast path weighs the light after WEIGH_AFTER halvings: a cell (4x4 px) counts as background
    only when none of its pixels is in the grown subject, so no subject light enters the sums; the
    subject is grown by whole cells, about `grow` px in all. The further halvings average
    premultiplied light and weight alike, which keeps a thin strip of background (a gap between the
    subject and the frame's edge) in the blur with about the share it has at full resolution.
    Where no background is in reach (inside the subject, or a small patch of background it
    encloses), the light itself is what the blur falls back on."""
    if not levels:
        light, _ = to_light(image, bloom)
        weight = (_grow(mask, grow) == 0).astype(np.float32)
        return _times(light, weight), weight, light
    light16, scale = to_light(image, bloom, np.uint16)
    cell = min(levels, WEIGH_AFTER)
    subject = mask
    for _ in range(cell):
        light16 = _halve(light16)
        subject = cv2.threshold(_halve(subject), 0, 255, cv2.THRESH_BINARY)[1]  # any subject pixel in the cell
    num = light16
    light16 = _halve(num) if levels > cell else num.copy()  # the fallback, before `num` is weighed in place
    grown = _grow(subject, grow >> cell)
    cv2.copyTo(np.zeros_like(num), grown, num)  # the cells with subject in them: no light, weight 0
    weight = cv2.LUT(grown, _FULL_WEIGHT)  # 16-bit: sparse cells keep their share through the halvings
    for level in range(levels - cell):
        num, weight = _halve(num), _halve(weight)
        if level:
            light16 = _halve(light16)
    to_float = np.float32(1.0 / scale)
    return num.astype(np.float32) * to_float, weight.astype(np.float32) * np.float32(1 / 65535), \
        light16.astype(np.float32) * to_float


_FULL_WEIGHT = np.where(np.arange(256) == 0, 65535, 0).astype(np.uint16)  # grown subject 0 -> weight 1


def _weighted_blur(num: np.ndarray, weight: np.ndarray, fallback: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """blur(light x w) / blur(w) with the aperture; `fallback` where no background is in reach."""
    planes = list(cv2.split(num)) if num.ndim == 3 else [num]
    *tops, bottom = _convolve(planes + [weight], kernel)
    empty = (bottom <= 1e-3).view(np.uint8)
    bottom = cv2.max(bottom, 1e-3)
    ratios = [cv2.divide(top, bottom) for top in tops]
    out = cv2.merge(ratios) if num.ndim == 3 else ratios[0]
    cv2.copyTo(fallback, empty, out)
    return out


def _convolve(planes: list[np.ndarray], kernel: np.ndarray) -> list[np.ndarray]:
    """Each float32 plane convolved with `kernel`. Edges are mirrored about the frame's edge (not
    its last pixel), which is the same line at every scale.

    Through the Fourier transform (for these kernels, hundreds of taps, about half the time of
    cv2.filter2D), two planes at a time as the real and imaginary parts of one complex plane: the
    kernel is real, so the two never mix, and one complex transform costs less than two real ones."""
    height, width = planes[0].shape
    r = kernel.shape[0] // 2
    rows, cols = cv2.getOptimalDFTSize(height + 2 * r), cv2.getOptimalDFTSize(width + 2 * r)
    spectrum, real = _spectrum(kernel.tobytes(), kernel.shape[0], rows, cols)
    out: list[np.ndarray] = []
    for i in range(0, len(planes), 2):
        pair = planes[i:i + 2] if i + 1 < len(planes) else [planes[i], np.zeros_like(planes[i])]
        padded = cv2.copyMakeBorder(cv2.merge(pair), r, rows - height - r, r, cols - width - r, cv2.BORDER_REFLECT)
        transform = cv2.dft(padded)
        product = cv2.multiply(transform, spectrum) if real else cv2.mulSpectrums(transform, spectrum, 0)
        both = cv2.idft(product, flags=cv2.DFT_SCALE)[r:r + height, r:r + width]
        out += cv2.split(both)[:len(planes) - i]
    return out


@functools.lru_cache(maxsize=16)
def _spectrum(kernel: bytes, size: int, rows: int, cols: int) -> tuple[np.ndarray, bool]:
    """The DFT of a square kernel centred on (0, 0) in a rows x cols plane (a point spreads into the
    aperture's shape as drawn, corner up), and whether it is real: for a point-symmetric kernel it is,
    and comes as (re, re) for an elementwise product with a complex plane; else complex."""
    square = np.frombuffer(kernel, np.float32).reshape(size, size)
    padded = np.zeros((rows, cols), np.float32)
    padded[:size, :size] = square
    padded = np.roll(padded, (-(size // 2), -(size // 2)), axis=(0, 1))
    spectrum = cv2.dft(padded, flags=cv2.DFT_COMPLEX_OUTPUT)
    if np.array_equal(square, square[::-1, ::-1]):
        return cv2.merge([spectrum[..., 0], spectrum[..., 0]]), True
    return spectrum, False


def _strength(weight: np.ndarray, reach: float) -> np.ndarray:
    """0 at the (grown) subject's edge, rising linearly to 1 `reach` px (at this scale) away."""
    background = (weight > 0.5).astype(np.uint8)
    if background.all():
        return np.ones(weight.shape, np.float32)
    distance = cv2.distanceTransform(background, cv2.DIST_L2, 3)
    return np.clip(distance / max(reach, 1e-6), 0.0, 1.0)


def _falloff_mix(num: np.ndarray, weight: np.ndarray, fallback: np.ndarray, blades: int, radius: float,
                 strength: np.ndarray) -> np.ndarray:
    """Apertures of radius R i/n (i = 1..n) blended per pixel by strength (at this scale):
    strength s uses the two apertures around s n; below 1/n, the smallest one."""
    position = np.clip(strength * FALLOFF_LEVELS, 1.0, float(FALLOFF_LEVELS))
    out = np.zeros_like(num)
    for i in range(1, FALLOFF_LEVELS + 1):
        level = _weighted_blur(num, weight, fallback, aperture(radius * i / FALLOFF_LEVELS, blades))
        share = np.clip(1.0 - np.abs(position - i), 0.0, 1.0)  # a tent: 1 at i, 0 at i +- 1
        out += _times(level, share)
    return out


def lens_blur(image: np.ndarray, mask: np.ndarray, lens: Lens = Lens(), exact: bool = False,
              out: np.ndarray | None = None) -> np.ndarray:
    """The lens-blurred background of an image (gray or BGR, 8- or 16-bit; the format of `image`),
    made from background pixels only (mask 0); the fast path unless `exact`. `out`: an array like
    `image` that the fast path's last step (the upsampling) may write the result into; the result
    is returned either way."""
    radius = aperture_radius(lens.kernel, lens.blades)
    if lens.kernel <= 1 or radius < 0.5:
        return image.copy()
    levels = 0 if exact else halvings(image.shape, radius)
    grow = max(2, round(min(mask.shape[:2]) * GROW))
    num, weight, fallback = _premultiplied(image, mask, lens.bloom, levels, grow)
    factor = image.shape[1] / num.shape[1]
    if lens.falloff > 0:
        strength = _strength(weight, lens.falloff * max(image.shape[:2]) / factor)
        blurred = _falloff_mix(num, weight, fallback, lens.blades, radius / factor, strength)
    else:
        blurred = _weighted_blur(num, weight, fallback, aperture(radius / factor, lens.blades))
    result = from_light(blurred, lens.bloom, image.dtype)
    if levels:
        result = cv2.resize(result, image.shape[1::-1], dst=None if lens.falloff > 0 else out,
                            interpolation=cv2.INTER_LINEAR)
    return _sharp_near(image, result, strength) if lens.falloff > 0 else result


def _sharp_near(image: np.ndarray, blurred: np.ndarray, strength: np.ndarray) -> np.ndarray:
    """The original background where the strength is 0, fading into `blurred` by strength 1/n (the
    smallest aperture): the sharp band at the subject's edge."""
    mix = np.clip(strength * FALLOFF_LEVELS, 0.0, 1.0).astype(np.float32)
    if mix.shape != image.shape[:2]:
        mix = cv2.resize(mix, image.shape[1::-1], interpolation=cv2.INTER_LINEAR)
    if image.dtype == np.uint8:
        return cv2.blendLinear(blurred, image, mix, 1.0 - mix)
    a = mix if image.ndim == 2 else mix[..., None]
    mixed = a * blurred.astype(np.float32) + (1.0 - a) * image.astype(np.float32)
    return np.clip(np.rint(mixed), 0, np.iinfo(image.dtype).max).astype(image.dtype)
