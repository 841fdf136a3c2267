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
from .chain import Recipe
from .errors import InputError
from .files import ensure_folder
from .media.images import read_image
from .model import LABELS, Backend, ModelSet, class_ids
from .model.search import resolve_models
from .styles import BLUR_KERNEL, Background, Blur, Color, Replace, Style, Transparent, parse_colour

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


def as_background(value: BackgroundArg, blur_kernel: int = BLUR_KERNEL) -> Background:
    """A background from what people pass: None or "blur" (a blur of `blur_kernel`), "transparent",
    a colour (a name, "#rrggbb" or "r,g,b" as written, or a (b, g, r) tuple like OpenCV's pixels),
    a picture (a BGR array or an image file), or a `Blur`/`Color`/`Replace`/`Transparent`."""
    if value is None:
        return Blur(blur_kernel)
    if isinstance(value, (Blur, Color, Replace, Transparent)):
        return value
    if isinstance(value, np.ndarray):
        return Replace(value)
    if isinstance(value, os.PathLike):
        return Replace(read_image(value))
    if isinstance(value, str):
        text = value.strip()
        low = text.lower()
        if low == "blur":
            return Blur(blur_kernel)
        if low in ("transparent", "none", "alpha"):
            return Transparent()
        if Path(text).is_file():
            return Replace(read_image(text))
        bgr = parse_colour(low)
        if bgr is None:
            raise InputError(f"background {value!r} is not blur, transparent, a colour or an image file")
        return Color(bgr)
    channels = tuple(value)
    if len(channels) != 3 or not all(isinstance(c, (int, np.integer)) and 0 <= c <= 255 for c in channels):
        raise InputError(f"background {value!r}: a colour tuple is three values 0-255 (blue, green, red)")
    return Color((int(channels[0]), int(channels[1]), int(channels[2])))


def recipe(classes: Classes = ("person",), background: BackgroundArg = None, feather: int = 0,
           blur_kernel: int = BLUR_KERNEL, exact: bool = False, smooth: float = 0.0,
           labels: Sequence[str] = LABELS) -> Recipe:
    """The recipe (classes kept, look) the functions below and the commands use; `classes` are names
    or ids of `labels` (a comma list works too: "person,dog")."""
    spec = classes.split(",") if isinstance(classes, str) else [classes] if isinstance(classes, int) else list(classes)
    try:
        ids = tuple(class_ids([str(c) for c in spec], tuple(labels)))
    except ValueError as exc:
        raise InputError(str(exc)) from None
    for name, value in (("blur_kernel", blur_kernel), ("feather", feather)):
        if value < 0 or (value > 1 and value % 2 == 0):
            raise InputError(f"{name} must be an odd number of px (or 0), got {value}")
    style = Style(background=as_background(background, blur_kernel), feather=feather, exact=exact)
    return Recipe(ids, style, smooth)


def _image(image: np.ndarray | str | os.PathLike) -> np.ndarray:
    if isinstance(image, np.ndarray):
        if image.ndim not in (2, 3) or image.size == 0 or image.dtype not in (np.uint8, np.uint16):
            raise InputError(f"expected an 8- or 16-bit image array (HxW or HxWxC), got {image.dtype} {image.shape}")
        return image
    return read_image(image)


def mask(image: np.ndarray | str | os.PathLike, model: ModelArg = None,
         classes: Classes = ("person",), exact: bool = False) -> np.ndarray:
    """The binary mask (uint8, 255 on the chosen classes, 0 elsewhere) of an image, at its size:
    what `pibokeh mask` writes. `image`: a BGR array (gray, BGRA and 16-bit work) or an image file;
    `exact`: the reference's mask step (resize, Gaussian and Otsu at full size) instead of the fast one."""
    models = models_of(model)
    return process_image(_image(image), Job(models, recipe(classes, exact=exact, labels=models.labels), masks=True))


def blur(image: np.ndarray | str | os.PathLike, model: ModelArg = None, classes: Classes = ("person",),
         background: BackgroundArg = None, feather: int = 0, blur_kernel: int = BLUR_KERNEL,
         exact: bool = False) -> np.ndarray:
    """The image with everything but the chosen classes blurred (or replaced: see `as_background`),
    in its own format; BGRA with `background="transparent"`. What `pibokeh blur` writes."""
    models = models_of(model)
    return process_image(_image(image), Job(models, recipe(classes, background, feather, blur_kernel, exact, labels=models.labels)))


def process_video(src: str | os.PathLike, dst: str | os.PathLike, model: ModelArg = None,
                  classes: Classes = ("person",), background: BackgroundArg = None, feather: int = 0,
                  blur_kernel: int = BLUR_KERNEL, exact: bool = False, masks: bool = False,
                  codec: str | None = None, frames_as_png: bool = False, progress: bool = False,
                  threaded: bool = True) -> VideoResult:
    """What `pibokeh blur clip.mp4` does to one video: every frame through the chain into `dst`
    (H.264 MP4, VP9 WebM when transparent, or a folder of PNGs), with the input's timing and sound,
    written atomically. `masks`: the mask video instead. Returns the frame count and notes."""
    models = models_of(model)
    job = Job(models, recipe(classes, background, feather, blur_kernel, exact, labels=models.labels), masks=masks,
              video=VideoOutput(codec, frames_as_png), threaded=threaded)
    job.video.check(job.transparent)
    ensure_folder(Path(dst).parent)
    return _process_video(Path(src), Path(dst), job, quiet=not progress)


def describe(model: ModelArg = None) -> list[dict[str, Any]]:
    """What `pibokeh info` shows about each model: family, backend, threads, input, output, card."""
    return [m.describe() for m in models_of(model)]
