"""pibokeh for Python programs: what `import pibokeh` gives, and what the `pibokeh` commands call.

    import cv2, pibokeh
    model = pibokeh.load_model()                       # the model `pibokeh blur` would use
    frame = cv2.imread("photo.jpg")                    # images are NumPy BGR arrays, as OpenCV gives them
    mask = pibokeh.mask(frame, model)                  # uint8 0/255, the frame's size
    out = pibokeh.blur(frame, model, background="green")
    pibokeh.process_video("clip.mp4", "out/clip.mp4", model)

Each function runs the same chain as the commands, so `pibokeh.blur` gives the pixels `pibokeh blur`
writes (before JPEG) for the same model and options. Errors are `pibokeh.PibokehError` subclasses
with a one-line message.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Sequence, Union

import numpy as np

from .batch import Job, VideoOutput, VideoResult, process_image
from .batch import process_video as _process_video
from .chain import MIN_BLOB, Recipe
from .errors import InputError
from .files import ensure_folder
from .media.images import read_image
from .model import LABELS, Backend, ModelSet, class_ids
from .model.search import resolve_models
from .styles import (BLOOM, BLUR_KERNEL, LOOKS, Background, Blur, Color, Lens, Movie, Replace, Style, Transparent,
                     parse_colour)
from .media.moving import is_moving, open_moving

Model = Union[Backend, ModelSet]
ModelArg = Union[Model, str, os.PathLike, Sequence[Union[str, os.PathLike]], None]
Classes = Union[str, int, Sequence[Union[str, int]]]
BackgroundArg = Union[Background, str, os.PathLike, np.ndarray, Sequence[int], None]


def load_model(path_or_name: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
               threads: int | None = None, backend: str | None = None) -> Model:
    """The model (a backend object) for a .tflite file, a registry name or a folder of converted
    models; several of them (a list), or None for the default search the commands use
    (`$PIBOKEH_MODEL`, the converted models in the user data folder, the fetched ones).

    Where that gives several models (a 16:9 and a 4:3 conversion), a `ModelSet` comes back: it runs
    each frame on the model of its aspect. `threads`: interpreter threads (default: cores, at most 4);
    `backend`: what runs it (default: chosen by the file; `pibokeh info` lists them)."""
    names: list[str] | None
    if path_or_name is None:
        names = None
    elif isinstance(path_or_name, (str, os.PathLike)):
        names = [os.fspath(path_or_name)]
    else:
        names = [os.fspath(name) for name in path_or_name]
    models = ModelSet.open(resolve_models(names), backend=backend, threads=threads)
    return models.first if len(models) == 1 else models


@functools.lru_cache(maxsize=2)
def _default_model(threads: int | None) -> Model:
    return load_model(threads=threads)


def models_of(model: ModelArg) -> ModelSet:
    """Any model argument as a ModelSet: a backend, a set, a path or name, or None (the default
    model, loaded once per process)."""
    if isinstance(model, ModelSet):
        return model
    if isinstance(model, Backend):
        return ModelSet([model])
    loaded = _default_model(None) if model is None else load_model(model)
    return loaded if isinstance(loaded, ModelSet) else ModelSet([loaded])


def look_of(look: str = "gaussian", blur_kernel: int = BLUR_KERNEL, blades: int = 0, bloom: float = BLOOM,
            falloff: float = 0.0) -> Blur | Lens:
    """The blurred background of a look: "gaussian" (the reference's blur) or "lens" (an aperture of
    the same spread: a disc, or a polygon of `blades` 5-9 sides; highlights blooming into discs,
    `bloom` 0-1; blur growing with the distance from the subject, full `falloff` (0-1) of the
    frame away; see `pibokeh.lens`). The lens settings do nothing to the Gaussian."""
    if look not in LOOKS:
        raise InputError(f"look {look!r} is not one of {', '.join(LOOKS)}")
    if blades and not 5 <= blades <= 9:
        raise InputError(f"blades must be 0 (a round aperture) or 5 to 9, got {blades}")
    for name, value in (("bloom", bloom), ("falloff", falloff)):
        if not 0.0 <= value <= 1.0:
            raise InputError(f"{name} must be from 0 to 1, got {value}")
    if look == "lens":
        return Lens(blur_kernel, blades, float(bloom), float(falloff))
    return Blur(blur_kernel)


def as_background(value: BackgroundArg, blur_kernel: int = BLUR_KERNEL, blur: Blur | Lens | None = None) -> Background:
    """A background from what people pass: None or "blur" (`blur`, by default a Gaussian blur of
    `blur_kernel`), "lens" (a lens blur of `blur_kernel`), "transparent", a colour (a name,
    "#rrggbb" or "r,g,b" as written, or a (b, g, r) tuple like OpenCV's pixels), a picture (a BGR
    array or an image file), a moving picture (a video file, an animated GIF or WebP: played one
    frame per output frame, looped), or a `Blur`/`Lens`/`Color`/`Replace`/`Movie`/`Transparent`."""
    blur = blur or Blur(blur_kernel)
    if value is None:
        return blur
    if isinstance(value, (Blur, Lens, Color, Replace, Movie, Transparent)):
        return value
    if isinstance(value, np.ndarray):
        return Replace(value)
    if isinstance(value, os.PathLike):
        return _picture(Path(value))
    if isinstance(value, str):
        text = value.strip()
        low = text.lower()
        if low == "blur":
            return blur
        if low == "lens":
            return blur if isinstance(blur, Lens) else Lens(blur_kernel)
        if low in ("transparent", "none", "alpha"):
            return Transparent()
        if Path(text).is_file():
            return _picture(Path(text))
        bgr = parse_colour(low)
        if bgr is None:
            raise InputError(f"background {value!r} is not blur, transparent, a colour or an image file "
                             "(a picture, a video, an animated GIF or WebP)")
        return Color(bgr)
    channels = tuple(value)
    if len(channels) != 3 or not all(isinstance(c, (int, np.integer)) and 0 <= c <= 255 for c in channels):
        raise InputError(f"background {value!r}: a colour tuple is three values 0-255 (blue, green, red)")
    return Color((int(channels[0]), int(channels[1]), int(channels[2])))


def _picture(path: Path) -> Background:
    """A still picture, or a moving one (checked now: its first frame is decoded)."""
    if is_moving(path):
        open_moving(path).close()
        return Movie(str(path))
    return Replace(read_image(path))


def recipe(classes: Classes = ("person",), background: BackgroundArg = None, feather: int = 0,
           blur_kernel: int = BLUR_KERNEL, exact: bool = False, smooth: float = 0.0,
           labels: Sequence[str] = LABELS, *, look: str = "gaussian", blades: int = 0, bloom: float = BLOOM,
           falloff: float = 0.0, min_blob: float = MIN_BLOB) -> Recipe:
    """The recipe (classes kept, look) the functions below and the commands use; `classes` are names
    or ids of `labels` (a comma list works too: "person,dog"); `look`, `blades`, `bloom`, `falloff`:
    how a blurred background is blurred (see `look_of`); `min_blob`: parts of the mask smaller than
    this share of the frame are dropped (0 keeps them all)."""
    spec = classes.split(",") if isinstance(classes, str) else [classes] if isinstance(classes, int) else list(classes)
    try:
        ids = tuple(class_ids([str(c) for c in spec], tuple(labels)))
    except ValueError as exc:
        raise InputError(str(exc)) from None
    for name, value in (("blur_kernel", blur_kernel), ("feather", feather)):
        if value < 0 or (value > 1 and value % 2 == 0):
            raise InputError(f"{name} must be an odd number of px (or 0), got {value}")
    if not 0.0 <= min_blob <= 0.5:
        raise InputError(f"min_blob must be a share of the frame from 0 to 0.5, got {min_blob}")
    blur = look_of(look, blur_kernel, blades, bloom, falloff)
    style = Style(background=as_background(background, blur_kernel, blur), feather=feather, exact=exact)
    return Recipe(ids, style, smooth, min_blob)


def _image(image: np.ndarray | str | os.PathLike) -> np.ndarray:
    if isinstance(image, np.ndarray):
        if image.ndim not in (2, 3) or image.size == 0 or image.dtype not in (np.uint8, np.uint16):
            raise InputError(f"expected an 8- or 16-bit image array (HxW or HxWxC), got {image.dtype} {image.shape}")
        return image
    return read_image(image)


def mask(image: np.ndarray | str | os.PathLike, model: ModelArg = None,
         classes: Classes = ("person",), exact: bool = False, *, min_blob: float = MIN_BLOB) -> np.ndarray:
    """The binary mask (uint8, 255 on the chosen classes, 0 elsewhere) of an image, at its size:
    what `pibokeh mask` writes. `image`: a BGR array (gray, BGRA and 16-bit work) or an image file;
    `exact`: the reference's mask step (resize, Gaussian and Otsu at full size) instead of the fast one."""
    models = models_of(model)
    return process_image(_image(image), Job(models, recipe(classes, exact=exact, labels=models.labels,
                                                   min_blob=min_blob), masks=True))


def blur(image: np.ndarray | str | os.PathLike, model: ModelArg = None, classes: Classes = ("person",),
         background: BackgroundArg = None, feather: int = 0, blur_kernel: int = BLUR_KERNEL,
         exact: bool = False, *, look: str = "gaussian", blades: int = 0, bloom: float = BLOOM,
         falloff: float = 0.0, min_blob: float = MIN_BLOB) -> np.ndarray:
    """The image with everything but the chosen classes blurred (or replaced: see `as_background`;
    `look="lens"` for a lens blur: see `look_of`), in its own format; BGRA with
    `background="transparent"`. What `pibokeh blur` writes."""
    models = models_of(model)
    made = recipe(classes, background, feather, blur_kernel, exact, labels=models.labels, look=look, blades=blades,
                  bloom=bloom, falloff=falloff, min_blob=min_blob)
    return process_image(_image(image), Job(models, made))


def process_video(src: str | os.PathLike, dst: str | os.PathLike, model: ModelArg = None,
                  classes: Classes = ("person",), background: BackgroundArg = None, feather: int = 0,
                  blur_kernel: int = BLUR_KERNEL, exact: bool = False, masks: bool = False,
                  codec: str | None = None, frames_as_png: bool = False, progress: bool = False,
                  threaded: bool = True, *, look: str = "gaussian", blades: int = 0, bloom: float = BLOOM,
                  falloff: float = 0.0, min_blob: float = MIN_BLOB) -> VideoResult:
    """What `pibokeh blur clip.mp4` does to one video: every frame through the chain into `dst`
    (H.264 MP4, VP9 WebM when transparent, or a folder of PNGs), with the input's timing and sound,
    written atomically. `masks`: the mask video instead. The look as for `blur`. Returns the frame
    count and notes."""
    models = models_of(model)
    made = recipe(classes, background, feather, blur_kernel, exact, labels=models.labels, look=look, blades=blades,
                  bloom=bloom, falloff=falloff, min_blob=min_blob)
    job = Job(models, made, masks=masks, video=VideoOutput(codec, frames_as_png), threaded=threaded)
    job.video.check(job.transparent)
    ensure_folder(Path(dst).parent)
    return _process_video(Path(src), Path(dst), job, quiet=not progress)


def describe(model: ModelArg = None) -> list[dict[str, Any]]:
    """What `pibokeh info` shows about each model: family, backend, threads, input, output, card."""
    return [m.describe() for m in models_of(model)]
