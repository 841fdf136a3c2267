"""The reference pipeline (the DeepLab background-blur notebook, as docs/DESIGN describes it): resize
the frame so its longest side is 513, run the TF1 frozen graph (ImageTensor -> SemanticPredictions)
in a tf.compat.v1 session, class mask -> resize -> Gaussian 15 -> Otsu, and blend with a
full-resolution GaussianBlur(251). Needs TensorFlow (the full environment), imported on first use."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np

from pibokeh import core
from pibokeh.accuracy import confusion, summarize
from pibokeh.errors import InputError
from pibokeh.evaluate import find_pairs
from pibokeh.media.images import encode_image, read_image, to_bgr8
from pibokeh.model import letterbox
from pibokeh.model.labels import LABELS

REFERENCE_SIZE = 513


class ReferenceGraph:
    """The TF1 frozen graph in a tf.compat.v1 session, fed the way the notebook feeds it."""

    def __init__(self, graph: Path, threads: int):
        import tensorflow as tf  # the full environment only
        graph_def = tf.compat.v1.GraphDef()
        try:
            graph_def.ParseFromString(graph.read_bytes())
        except Exception as exc:  # OSError, or protobuf's own DecodeError
            raise InputError(f"{graph}: not a readable frozen graph ({type(exc).__name__})") from None
        self.graph = tf.Graph()
        with self.graph.as_default():
            tf.compat.v1.import_graph_def(graph_def, name="")
        config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=threads, inter_op_parallelism_threads=1)
        self.session = tf.compat.v1.Session(graph=self.graph, config=config)
        self.path, self.threads, self.tensorflow = graph, threads, tf.__version__

    def preprocess(self, frame: np.ndarray) -> np.ndarray:
        """RGB, longest side 513: the letterbox without its padding (the same resize, cropped)."""
        rgb, (height, width) = letterbox(frame, (REFERENCE_SIZE, REFERENCE_SIZE))
        return rgb[:height, :width]

    def infer(self, rgb: np.ndarray) -> np.ndarray:
        return self.session.run("SemanticPredictions:0", {"ImageTensor:0": rgb[None]})[0].astype(np.uint8)


def time_reference(ref: ReferenceGraph, frame: np.ndarray, ids: Sequence[int], kernel: int
                   ) -> tuple[list[float], np.ndarray]:
    """The reference's steps on a decoded frame: (ms of each stage after decode, in the chain's
    STAGES order, and the mask)."""
    clock = time.perf_counter
    t1 = clock()
    rgb = ref.preprocess(frame)
    t2 = clock()
    labels = ref.infer(rgb)
    t3 = clock()
    mask = core.frame_mask(labels, ids, frame.shape[:2])
    t4 = clock()
    background = core.exact_blur(frame, kernel)
    t5 = clock()
    out = core.blend(frame, background, mask)
    t6 = clock()
    encode_image(out, ".jpg")
    t7 = clock()
    return [(b - a) * 1000.0 for a, b in zip((t1, t2, t3, t4, t5, t6), (t2, t3, t4, t5, t6, t7))], mask


def reference_accuracy(ref: ReferenceGraph, folder: Path) -> dict[str, Any]:
    """Pixel accuracy and mIoU of the frozen graph on `folder` (the eval pairs), fed like the notebook."""
    num = len(LABELS)
    total = np.zeros((num, num), np.int64)
    pairs = find_pairs(folder)
    for image_path, gt_path in pairs:
        frame = to_bgr8(read_image(image_path))
        labels = ref.infer(ref.preprocess(frame))
        full = cv2.resize(labels, (frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_NEAREST)
        total += confusion(full, read_image(gt_path), num)
    return {**summarize(total, LABELS), "images": len(pairs)}
