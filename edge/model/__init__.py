"""Models and the backends that run them: the `Backend` seam, the TFLite backend, model cards,
labels, the registry of prebuilt models, and where models are found.

Nothing here knows about frames from files or cameras: this package never imports
`pibokeh.media` or `pibokeh.camera`.
"""
from .backend import Backend
from .kinds import BACKENDS, open_model
from .labels import LABELS, PERSON, class_ids
from .model_set import ModelSet
from .preprocess import aspect_matches, crop_valid, fit_input, letterbox
from .tflite import TFLiteBackend

__all__ = ["BACKENDS", "Backend", "LABELS", "ModelSet", "PERSON", "TFLiteBackend", "aspect_matches", "class_ids",
           "crop_valid", "fit_input", "letterbox", "open_model"]
