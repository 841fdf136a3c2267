"""The seam every model runner plugs into: a `Backend` turns a BGR frame into a class map.

A backend knows its input size (and so its aspect, and whether a frame of some size is letterboxed
into it), what its output is, which labels its class ids name, and how many threads it uses. The
per-frame chain calls three steps, timed apart:

    rgb, valid = backend.prepare(frame)   # preprocess: fit the frame to the input (RGB uint8)
    raw = backend.infer(rgb)              # the model: class ids (uint8) at the model's resolution
    labels = backend.crop(raw, valid)     # the letterbox padding cut off

A backend whose `output_kind` is "logits" (a TFLite model converted with `--output logits`) returns
from `infer` the float class scores at the network's own resolution (h x w x classes) instead: the
`crop` wraps them with where the picture lies in them (`masks.Scores`), the chain's mask step makes
the frame's mask from them directly (`masks.scores_mask`), and `segment` and `classes` still give
class ids. Every other backend returns class ids.

A runner whose network sits on the image sensor (the AI Camera) sets `on_sensor` and reads the
class map from a frame's metadata instead (`from_metadata`); the chain then skips the first two
steps. Adding a backend is a subclass that sets the attributes in `__init__` and implements `infer`
(and `describe` for anything worth showing in `pibokeh info`), plus a line in `kinds.py` saying
which files or `--backend` name it takes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..masks import Scores
from .labels import LABELS
from .preprocess import aspect_matches, crop_valid, fit_input


class Backend:
    """Something that turns a frame of any size into a class map (uint8 class ids) of its input's
    resolution. Subclasses set the attributes and implement `infer`."""

    path: Path = Path("")
    backend: str = "?"            # what runs it: "ai_edge_litert", "tflite_runtime", "edgetpu", ...
    family: str = "?"             # what kind of model it is, for people
    input_size: tuple[int, int] = (513, 513)  # (height, width) of the model's input
    output_kind: str = "labels"   # "labels" (class ids), "scores" (per-class, arg-max taken) or "logits"
                                  # (per-class at the network's resolution, handed to the mask step)
    labels: tuple[str, ...] = LABELS
    threads: int | None = None    # CPU threads it uses; None where the work is not on the CPU
    card: dict[str, Any] | None = None
    on_sensor: bool = False       # the class map comes with the frame (`from_metadata`), not from `infer`

    @property
    def aspect(self) -> float:
        """Input width / height."""
        return self.input_size[1] / self.input_size[0]

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    @property
    def output_stride(self) -> int | None:
        """Input pixels per output feature (8, 16), where known."""
        stride = (self.card or {}).get("output_stride")
        return int(stride) if stride else None

    @property
    def compute(self) -> Any:
        """Multiply-accumulates per frame (`compute.Compute`), where the backend can count them."""
        return None

    def letterboxes(self, frame_size: tuple[int, int]) -> bool:
        """Whether a frame of (h, w) `frame_size` is padded to fit (else resized to fill the input)."""
        return not aspect_matches(frame_size, self.input_size)

    # ---- the three steps the chain times ----

    def prepare(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        """The RGB uint8 input of `input_size` for a BGR frame, and its valid (h, w) part."""
        return fit_input(frame_bgr, self.input_size)

    def infer(self, rgb: np.ndarray) -> np.ndarray:
        """Class ids (uint8, the model's output resolution) of an RGB image of `input_size` (for a
        "logits" output kind: float32 class scores, h x w x classes)."""
        raise NotImplementedError

    def crop(self, raw: np.ndarray, valid: tuple[int, int]) -> np.ndarray | Scores:
        """The class map without the letterbox padding; scores (a logits head's) as `Scores`, which
        know where the picture lies in them."""
        if raw.ndim == 3:
            return Scores(raw, tuple(self.input_size), tuple(valid))
        return crop_valid(raw, valid, self.input_size)

    def from_metadata(self, metadata: Any, frame_size: tuple[int, int]) -> np.ndarray:
        """On-sensor backends: the class map that came with a frame of (h, w) `frame_size`."""
        raise NotImplementedError(f"{self.backend} runs on the CPU's frames, not on metadata")

    # ---- conveniences built on the steps ----

    def segment(self, frame_bgr: np.ndarray) -> np.ndarray:
        """Class map (uint8) of a BGR frame at the model's resolution, letterbox padding removed
        (for a logits head: the arg-max of its scores upsampled to the input size)."""
        rgb, valid = self.prepare(frame_bgr)
        out = self.crop(self.infer(rgb), valid)
        return out.labels() if isinstance(out, Scores) else out

    def classes(self, frame_bgr: np.ndarray) -> np.ndarray:
        """Class map (uint8) at the frame's own size (nearest neighbour), e.g. for evaluation."""
        labels = self.segment(frame_bgr)
        height, width = frame_bgr.shape[:2]
        return cv2.resize(labels, (width, height), interpolation=cv2.INTER_NEAREST)

    def describe(self) -> dict[str, Any]:
        """What `pibokeh info` shows; subclasses add their own fields."""
        return {"model": str(self.path), "family": self.family, "backend": self.backend,
                "threads": self.threads, "input_size": list(self.input_size), "output_kind": self.output_kind,
                "output_stride": self.output_stride, "on_sensor": self.on_sensor,
                "macs": self.compute.macs if self.compute else None, "card": self.card}

    def close(self) -> None:
        """Release the device or interpreter (nothing to do for most)."""

    def __repr__(self) -> str:
        height, width = self.input_size
        return f"<{type(self).__name__} {self.path.name} {width}x{height} on {self.backend}>"
