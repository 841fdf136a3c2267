"""The one per-frame chain, each step timed:

    fit input -> infer -> class map (or scores) -> mask -> (temporal smoothing) -> background -> alpha -> blend

Every path that turns frames into outputs runs it: the batch commands (images and videos), the
engine's stage threads (cameras and video files), the camera's reload check, `pibokeh bench` and
the Python API. No other module strings these steps together.

`STAGES` names them as every report shows them: `pibokeh bench`, `/stats` and `/metrics` read the
same names off the same timer (a `record(stage, seconds)` callback the chain calls as each step
ends). `decode` and `encode` are timed by whoever reads and writes the frames.

The mask step is the fast one (`masks`: everything at the model's resolution but one upscale) unless
the recipe's style is `exact`, which runs the reference's (`core.frame_mask`). Masks and output frames
are made in reused arrays (`buffers.Buffers`), each one handed out again only once every consumer let
it go, and the frame's halvings are made once for the model's input and the background.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from . import core, masks
from .blobs import drop_small_blobs
from .buffers import Buffers, Pyramids
from .media.images import to_bgr8
from .media.moving import MovingPicture, open_moving
from .model import PERSON, Backend, ModelSet
from .model.preprocess import halvings_for
from .styles import Movie, Replace, Style, Transparent

STAGES = ("decode", "preprocess", "inference", "mask", "background", "blend", "encode")
Record = Callable[[str, float], None]
MIN_BLOB = 0.0  # --min-blob's default (see docs/BENCHMARKS.md: person IoU with and without it)


def _ignore(stage: str, seconds: float) -> None:
    pass


@dataclass(frozen=True)
class Recipe:
    """What the chain makes of a frame: the classes kept sharp, the look, temporal smoothing (the
    share of the previous mask kept: 0 off, 0.9 very steady; for streams of frames), and the
    smallest part of the mask kept, as a share of the frame (`blobs.drop_small_blobs`; 0 off)."""
    class_ids: tuple[int, ...] = (PERSON,)
    style: Style = field(default_factory=Style)
    smooth: float = 0.0
    min_blob: float = MIN_BLOB


class Chain:
    """The steps of one frame with one set of models. `segment` and `mask` keep state between frames
    (the model picked per frame size, the smoothing average), so a stream of frames uses one Chain
    from one thread; `compose` keeps only its output arrays and where a moving background is (one
    frame further per composed frame), and may run in another thread."""

    def __init__(self, models: ModelSet | Backend, recipe: Recipe = Recipe(), record: Record = _ignore):
        self.models = models if isinstance(models, ModelSet) else ModelSet([models])
        self.recipe = recipe
        self.record = record
        self._picked: dict[tuple[int, int], Backend] = {}
        self._average: np.ndarray | None = None
        self._previous: np.ndarray | None = None
        self._movies: dict[str, MovingPicture] = {}
        self._outputs = Buffers(keep=4)  # being made, queued for an encoder, being encoded, spare
        self._masks = Buffers(keep=3)
        self._pyramids = Pyramids()

    def model_for(self, size: tuple[int, int]) -> Backend:
        """The model for frames of (h, w) `size`: the one whose input aspect is closest (asked once per size)."""
        if size not in self._picked:
            self._picked[size] = self.models.pick(*size)
        return self._picked[size]

    def segment(self, frame: np.ndarray, small: np.ndarray | None = None,
                metadata: Any = None) -> np.ndarray | masks.Scores:
        """Preprocess and inference: the class map (uint8, model resolution, no letterbox padding) of a
        BGR frame, or from a model with a logits head its class scores at the network's resolution
        (`masks.Scores`); `small` is a smaller copy of the frame to infer on (a camera's second
        stream), `metadata` what the camera sent with it (where an on-sensor model puts its output)."""
        model = self.model_for(frame.shape[:2])
        start = time.perf_counter()
        if model.on_sensor:
            labels = model.from_metadata(metadata, frame.shape[:2])
            self.record("inference", time.perf_counter() - start)
            return labels
        if small is None:  # the halvings the model's input starts with, kept for the background
            small = self._pyramids.fresh(frame).halved(halvings_for(frame.shape[:2], model.input_size))
        rgb, valid = model.prepare(small)
        prepared = time.perf_counter()
        raw = model.infer(rgb)
        self.record("preprocess", prepared - start)
        self.record("inference", time.perf_counter() - prepared)
        return model.crop(raw, valid)

    def mask(self, labels: np.ndarray | masks.Scores, size: tuple[int, int],
             recipe: Recipe | None = None) -> np.ndarray:
        """The binary mask (uint8 0/255) of a frame of (h, w) `size` from what `segment` gave (a class
        map, or class scores), without the blobs smaller than the recipe's `min_blob`, smoothed over the
        previous frames' masks when the recipe asks."""
        recipe = recipe or self.recipe
        start = time.perf_counter()
        exact = recipe.style.exact
        if isinstance(labels, masks.Scores) and exact:  # the class map a scores head would have given
            labels = labels.labels()
        if isinstance(labels, masks.Scores):
            mask = masks.scores_mask(labels, recipe.class_ids, size, self._masks.take(size, np.uint8))
        elif exact:
            mask = core.frame_mask(labels, recipe.class_ids, size)
        else:
            mask = masks.fast_frame_mask(labels, recipe.class_ids, size, out=self._masks.take(size, np.uint8))
        mask = drop_small_blobs(mask, recipe.min_blob)
        if recipe.smooth > 0:
            self._average = core.smooth_mask(self._average, mask, recipe.smooth)
            mask = core.binarize(self._average, self._previous)
        else:
            self._average = None
        self._previous = mask
        self.record("mask", time.perf_counter() - start)
        return mask

    def compose(self, frame: np.ndarray, mask: np.ndarray, recipe: Recipe | None = None) -> np.ndarray:
        """The output frame: the kept classes of `frame` over the recipe's background."""
        laps = [time.perf_counter()]

        def lap(stage: str) -> None:
            laps.append(time.perf_counter())
            self.record(stage, laps[-1] - laps[-2])
        style = self._still((recipe or self.recipe).style)
        out = None
        if not isinstance(style.background, Transparent) and (frame.ndim == 2 or frame.shape[2] == 3):
            out = self._outputs.take(frame.shape, frame.dtype)
        return core.compose(frame, mask, style, lap, out, self._pyramids.take(frame).halved)

    def _still(self, style: Style) -> Style:
        """The style with a moving background's next frame as its picture (core draws stills only)."""
        movie = style.background
        if not isinstance(movie, Movie):
            return style
        if movie.path not in self._movies:
            for other in self._movies.values():  # one clip plays at a time: the others are closed
                other.close()
            self._movies = {movie.path: open_moving(movie.path)}
        return dataclasses.replace(style, background=Replace(self._movies[movie.path].next()))

    def mask_of(self, image: np.ndarray, small: np.ndarray | None = None, metadata: Any = None) -> np.ndarray:
        """The mask of an image (any format `read_image` gives): segment, then mask at its size."""
        return self.mask(self.segment(to_bgr8(image), small, metadata), image.shape[:2])

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """The output frame of an image: every step, in order."""
        return self.compose(image, self.mask_of(image))

