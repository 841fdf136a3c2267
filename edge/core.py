"""The shared core: class map -> mask -> Otsu -> blend, as pure NumPy/OpenCV functions.

The reference pipeline, top to bottom (what `--exact` runs):

    mask = class_mask(labels, class_ids)                  # chosen classes -> 255, rest 0
    mask = refine_mask(mask, (height, width))             # resize, GaussianBlur 15x15, Otsu
    out  = np.where(mask, image, GaussianBlur(image, (251, 251)))

`frame_mask` is the first two lines. `compose` is the last, in three steps: `background_of` (by
default the halo-free `background_blur`, made at a small scale; or a colour, a picture, none),
`alpha_of` (the mask, or feathered), `blend`. The per-frame chain (`chain.py`) calls these for every
path that makes outputs; the looks themselves are plain values in `styles.py`. Images may be
grayscale, BGR or BGRA, 8- or 16-bit, any size.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import cv2
import numpy as np

from .lens import lens_blur
from .styles import BLUR_KERNEL, Color, Lens, Replace, Style, Transparent

MASK_SMOOTH_KERNEL = 15


# ---- mask ---------------------------------------------------------------------------------------

def class_mask(labels: np.ndarray, class_ids: Sequence[int]) -> np.ndarray:
    """255 where the class map holds one of `class_ids`, 0 elsewhere (uint8, same shape)."""
    if labels.dtype == np.uint8:  # a lookup table: one pass, where isin sorts and searches
        table = np.zeros(256, np.uint8)
        table[[i for i in class_ids if 0 <= i < 256]] = 255
        return cv2.LUT(labels, table)
    return np.where(np.isin(labels, list(class_ids)), 255, 0).astype(np.uint8)


def refine_mask(mask: np.ndarray, size: tuple[int, int], smooth: int = MASK_SMOOTH_KERNEL) -> np.ndarray:
    """A class mask at model resolution -> binary uint8 0/255 mask of `size` (height, width).

    Resize (bilinear), GaussianBlur(smooth x smooth), then Otsu's threshold: the reference's step 3.
    """
    height, width = size
    resized = cv2.resize(mask, (width, height), interpolation=cv2.INTER_LINEAR)
    smoothed = cv2.GaussianBlur(resized, (smooth, smooth), 0) if smooth > 1 else resized
    _, binary = cv2.threshold(smoothed, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return binary


def frame_mask(labels: np.ndarray, class_ids: Sequence[int], size: tuple[int, int],
               smooth: int = MASK_SMOOTH_KERNEL) -> np.ndarray:
    """Class map at model resolution -> the binary mask (uint8 0/255) of a frame of `size` (h, w)."""
    return refine_mask(class_mask(labels, class_ids), size, smooth)


def feather(mask: np.ndarray, kernel: int) -> np.ndarray:
    """Soft alpha in [0, 1] (float32) from a binary mask: a Gaussian of `kernel` px across the edge."""
    alpha = mask.astype(np.float32) / 255.0
    return cv2.GaussianBlur(alpha, (kernel, kernel), 0) if kernel > 1 else alpha


def smooth_mask(average: np.ndarray | None, mask: np.ndarray, keep: float) -> np.ndarray:
    """Running average (float32, 0-255) of binary masks: `keep` of the old one, the rest new."""
    new = mask.astype(np.float32)
    if average is None or keep <= 0 or average.shape != new.shape:
        return new
    return keep * average + (1.0 - keep) * new


def binarize(average: np.ndarray, previous: np.ndarray | None = None, band: float = 42.5) -> np.ndarray:
    """The binary uint8 mask of a running average, with hysteresis against flicker: a pixel turns on
    above 127.5 + band and off below 127.5 - band; in between it keeps its `previous` state."""
    on = average >= 127.5 + band
    if previous is not None and previous.shape == average.shape:
        on |= (previous > 0) & (average > 127.5 - band)
    return np.where(on, 255, 0).astype(np.uint8)


# ---- blur ---------------------------------------------------------------------------------------

def gaussian_sigma(kernel: int) -> float:
    """The sigma OpenCV derives for a kernel size when sigma is 0."""
    return 0.3 * ((kernel - 1) * 0.5 - 1) + 0.8


def exact_blur(image: np.ndarray, kernel: int = BLUR_KERNEL) -> np.ndarray:
    """GaussianBlur(kernel x kernel) at full resolution: the reference's background."""
    return cv2.GaussianBlur(image, (kernel, kernel), 0) if kernel > 1 else image.copy()


def _halvings(shape: tuple[int, ...], kernel: int) -> int:
    """How many times to halve a frame before blurring it for a `kernel` Gaussian (0: not at all)."""
    # Halving with INTER_AREA is OpenCV's fastest downscale (a vectorised 2x2 mean); any other
    # factor takes its general area path, ~5-10x slower at 1080p. A sigma of 3-6 px at the small
    # scale keeps the result within ~45-50 dB PSNR of the exact blur (1080p, k=251: 1/8 scale).
    sigma = gaussian_sigma(kernel)
    height, width = shape[:2]
    if sigma < 8 or min(height, width) < sigma / 2:
        return 0
    levels = int(math.log2(sigma / 3.0))
    while levels and min(height, width) >> levels < 2:
        levels -= 1
    return levels


def halve(image: np.ndarray, times: int, binary: bool = False) -> np.ndarray:
    """`image` halved `times` times (2x2 means); `binary`: a cell is 255 if any pixel under it is set
    (a lone 255 pixel is still >= 4 after three rounded halvings: a threshold every third one does)."""
    for level in range(1, times + 1):
        image = cv2.resize(image, (max(1, image.shape[1] // 2), max(1, image.shape[0] // 2)),
                           interpolation=cv2.INTER_AREA)
        if binary and (level % 3 == 0 or level == times):
            image = cv2.threshold(image, 0, 255, cv2.THRESH_BINARY)[1]
    return image


def _small_gaussian(small: np.ndarray, kernel: int, scale: float) -> np.ndarray:
    """Blur an image downscaled by `scale` (area) so that, upsampled, it matches a `kernel` Gaussian."""
    # The area downscale and the bilinear upscale blur too (variances f^2/12 and f^2/6): take them off.
    sigma = np.sqrt(max(gaussian_sigma(kernel) ** 2 - scale ** 2 / 4.0, 0.25)) / scale
    k = 2 * int(np.ceil(3.3 * sigma)) + 1
    return cv2.GaussianBlur(small, (k, k), sigma)


def fast_blur(image: np.ndarray, kernel: int = BLUR_KERNEL) -> np.ndarray:
    """Looks like `exact_blur` (>= 35 dB PSNR) at a fraction of the cost: blur small, upsample."""
    levels = _halvings(image.shape, kernel)
    if not levels:
        return exact_blur(image, kernel)
    small = halve(image, levels)
    blurred = _small_gaussian(small, kernel, image.shape[1] / small.shape[1])
    return cv2.resize(blurred, image.shape[1::-1], interpolation=cv2.INTER_LINEAR)


Halved = Callable[[int], np.ndarray]  # n -> the image halved n times (a cache shared with the model's input)


def background_blur(image: np.ndarray, mask: np.ndarray, kernel: int = BLUR_KERNEL,
                    out: np.ndarray | None = None, halved: Halved | None = None) -> np.ndarray:
    """The blurred background made from background pixels only, so the foreground cannot bleed.

    A normalised (mask-weighted) Gaussian: blur(image * w) / blur(w) with w = 1 outside the mask.
    Where no background pixel is within reach (deep inside the foreground) the original pixels are
    kept; the foreground covers them anyway. The foreground is grown by about 1 % of the frame
    first: a model's mask usually stops a few pixels short of a person's real edge. `out`: an array
    like `image` to write the result into (the small-scale path's one full-size pass); `halved`:
    where to get `image` halved n times, when someone made that already (`halve` otherwise).
    """
    radius = max(2, round(min(mask.shape[:2]) * 0.01))
    levels = _halvings(image.shape, kernel)
    if levels:
        # Everything at the small scale: a small cell is background only when no foreground pixel
        # lies under it, so no foreground colour enters the weighted sum even through the downscale.
        small = halved(levels) if halved is not None else halve(image, levels)
        scale = image.shape[1] / small.shape[1]
        background = _grow(halve(mask, levels, binary=True), math.ceil(radius / scale)) == 0
        blurred = _weighted_blur(small, background, lambda x: _small_gaussian(x, kernel, scale))
        return cv2.resize(blurred, image.shape[1::-1], dst=out, interpolation=cv2.INTER_LINEAR)
    result = _weighted_blur(image, _grow(mask, radius) == 0, lambda x: exact_blur(x, kernel))
    if out is None:
        return result
    np.copyto(out, result)
    return out


def _grow(mask: np.ndarray, radius: int) -> np.ndarray:
    return cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2))


def _weighted_blur(image: np.ndarray, weight: np.ndarray, blur: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """blur(image * w) / blur(w) for a boolean weight w, in `image`'s format; `image` itself where
    blur(w) vanishes (no background within reach). In float32, which keeps the precision the
    division needs."""
    kept = cv2.bitwise_and(image, image, mask=weight.view(np.uint8))  # the foreground's pixels zeroed
    num = blur(kept.astype(np.float32))
    den = blur(weight.astype(np.float32))
    empty = (den <= 1e-3).view(np.uint8)
    den[empty > 0] = 1.0  # divide by 1 there, then take the original pixels
    result = num / (den if num.ndim == 2 else den[..., None])
    # non-negative (a weighted mean of pixels): OpenCV's |x| conversion rounds and saturates in one pass
    result = cv2.convertScaleAbs(result) if image.dtype == np.uint8 else _cast(result, image.dtype)
    cv2.copyTo(image, empty, result)
    return result


def _cast(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    info = np.iinfo(dtype)
    return np.clip(np.rint(values), info.min, info.max).astype(dtype)


# ---- backgrounds and blending -------------------------------------------------------------------

def cover(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`image` scaled to cover `size` (height, width) and centre-cropped, keeping its aspect."""
    height, width = size
    scale = max(height / image.shape[0], width / image.shape[1])
    # cut the part that shows before scaling it: a 1x100000 picture must not become 640x64000000 first
    crop_h, crop_w = min(image.shape[0], max(1, round(height / scale))), min(image.shape[1], max(1, round(width / scale)))
    top, left = (image.shape[0] - crop_h) // 2, (image.shape[1] - crop_w) // 2
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(image[top:top + crop_h, left:left + crop_w], (width, height), interpolation=interp)


def match_format(image: np.ndarray, like: np.ndarray) -> np.ndarray:
    """`image` (8/16-bit, gray/BGR/BGRA) converted to the channels and bit depth of `like`."""
    channels = 1 if like.ndim == 2 else like.shape[2]
    if image.ndim == 2 or image.shape[2] == 1:
        image = cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if channels == 1:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    elif channels == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)
    image = image.reshape(like.shape[:2] + (() if like.ndim == 2 else (channels,)))
    if image.dtype == like.dtype:
        return image
    if image.dtype == np.uint8 and like.dtype == np.uint16:
        return image.astype(np.uint16) * 257
    if image.dtype == np.uint16 and like.dtype == np.uint8:
        return (image >> 8).astype(np.uint8)
    return image.astype(like.dtype)


def solid(bgr: tuple[int, int, int], like: np.ndarray) -> np.ndarray:
    """A frame of one colour, in the format of `like`."""
    pixel = np.array(bgr, np.uint8).reshape(1, 1, 3)
    return match_format(np.broadcast_to(pixel, like.shape[:2] + (3,)).copy(), like)


def alpha_of(mask: np.ndarray, style: Style) -> np.ndarray:
    """The blend weight of the foreground: the binary mask itself, or with `style.feather` a soft
    float alpha in [0, 1]."""
    return feather(mask, style.feather) if style.feather > 1 else mask


def background_of(image: np.ndarray, mask: np.ndarray, style: Style, out: np.ndarray | None = None,
                  halved: Halved | None = None) -> np.ndarray | None:
    """What shows where the mask is 0, in the format of `image`; None for `Transparent`. `out`: an
    array like `image` to make it in (no new full-size array); `halved` as in `background_blur`."""
    bg = style.background
    if isinstance(bg, Transparent):
        return None
    if isinstance(bg, Color):
        if out is None:
            return solid(bg.bgr, image)
        out[...] = solid(bg.bgr, image[:1, :1])  # one pixel, broadcast
        return out
    if isinstance(bg, Replace):
        return _into(out, match_format(cover(bg.image, image.shape[:2]), image))
    if isinstance(bg, Lens):  # halo-free too; `exact`: at full resolution
        return _into(out, lens_blur(image, mask, bg, style.exact, out=out))
    if style.exact:
        if out is None or bg.kernel <= 1:
            return _into(out, exact_blur(image, bg.kernel))
        return cv2.GaussianBlur(image, (bg.kernel, bg.kernel), 0, dst=out)
    return background_blur(image, mask, bg.kernel, out=out, halved=halved)


def _into(out: np.ndarray | None, array: np.ndarray) -> np.ndarray:
    if out is None or array is out:  # (made in `out` already)
        return array
    np.copyto(out, array)
    return out


def blend(image: np.ndarray, background: np.ndarray | None, alpha: np.ndarray,
          out: np.ndarray | None = None) -> np.ndarray:
    """`image` where alpha is 1, `background` where 0, mixed in between (alpha: HxW, a uint8 mask
    that is 255 (any non-zero) on the foreground, or float 0-1). With no background, the colour
    channels plus alpha as a 4th channel (BGRA). `out`: an array like `image` for the result; it may
    be `background` itself (blended in place: only the foreground is written)."""
    if background is None:
        colour = match_format(image, np.zeros(image.shape[:2] + (3,), image.dtype))
        if alpha.dtype == np.uint8:
            opacity = alpha.astype(image.dtype) * (257 if image.dtype == np.uint16 else 1)
        else:
            opacity = _cast(alpha * np.iinfo(image.dtype).max, image.dtype)
        return np.dstack([colour, opacity])
    if alpha.dtype == np.uint8:  # a binary mask: pick pixels, exactly like the reference
        out = background.copy() if out is None else _into(out, background) if out is not background else out
        cv2.copyTo(image, alpha, out)
        return out
    a = alpha if image.ndim == 2 else alpha[..., None]
    mixed = a * image.astype(np.float32) + (1.0 - a) * background.astype(np.float32)
    return _into(out, _cast(mixed, image.dtype))


def _no_lap(stage: str) -> None:
    pass


def compose(image: np.ndarray, mask: np.ndarray, style: Style = Style(),
            lap: Callable[[str], None] = _no_lap, out: np.ndarray | None = None,
            halved: Halved | None = None) -> np.ndarray:
    """The output frame: the foreground of `image` (where `mask` is 255) over the chosen background,
    i.e. `blend(image, background_of(...), alpha_of(...))`.

    `Transparent` returns BGRA (alpha = mask, or the feathered mask); everything else keeps the
    input's channels and bit depth. An input alpha channel passes through untouched. `lap` is called
    with "background" and then "blend" as each step ends (the chain times them apart). `out`: an
    array of `image`'s shape and type to make the frame in (the background is drawn into it, then
    the foreground copied over it: no other full-size array); used where the look allows. `halved`:
    the image's halvings, when the chain made them for the model's input already.
    """
    if image.ndim == 3 and image.shape[2] == 1:  # OpenCV drops a single channel's axis: keep the caller's shape
        out = compose(image[..., 0], mask, style, lap)
        return out if out.ndim == 3 else out[..., None]
    if image.ndim == 3 and image.shape[2] == 4 and not isinstance(style.background, Transparent):
        colour = compose(image[..., :3], mask, style, lap)
        return np.dstack([colour, image[..., 3]])
    if out is not None and (out.shape != image.shape or out.dtype != image.dtype):
        out = None
    background = background_of(image, mask, style, out, halved)
    lap("background")
    out = blend(image, background, alpha_of(mask, style), out=background if out is not None else None)
    lap("blend")
    return out
