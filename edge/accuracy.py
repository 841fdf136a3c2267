"""Segmentation accuracy against ground truth: confusion matrix, pixel accuracy, IoU per class, mIoU."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

VOID = 255  # PASCAL VOC marks object boundaries and unclear pixels with 255; they are not scored


def confusion(pred: np.ndarray, truth: np.ndarray, num_classes: int) -> np.ndarray:
    """num_classes x num_classes counts: rows = ground truth, columns = prediction. Void ignored."""
    if pred.shape != truth.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {truth.shape} differ in size")
    valid = truth != VOID
    t = truth[valid].astype(np.int64)
    p = np.minimum(pred[valid].astype(np.int64), num_classes - 1)
    if t.size and t.max() >= num_classes:
        raise ValueError(f"ground truth holds class {int(t.max())}, beyond the {num_classes} classes")
    return np.bincount(t * num_classes + p, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def summarize(conf: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """Pixel accuracy, mIoU over the classes present in the ground truth, and IoU per such class."""
    total = conf.sum()
    truth = conf.sum(axis=1)
    pred = conf.sum(axis=0)
    hits = np.diag(conf)
    present = np.flatnonzero(truth > 0)
    iou = {labels[c]: float(hits[c] / (truth[c] + pred[c] - hits[c])) for c in present}
    return {
        "pixel_accuracy": float(hits.sum() / total) if total else 0.0,
        "miou": float(np.mean(list(iou.values()))) if iou else 0.0,
        "iou": iou,
    }
