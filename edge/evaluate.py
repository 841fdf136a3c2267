"""`pibokeh eval`: a model against ground-truth class maps (`<id>.jpg|png` + `<id>_gt.png`)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from .errors import InputError
from .media.images import read_image, to_bgr8
from .accuracy import confusion, summarize
from .model import ModelSet
from .progress import Progress

GT_SUFFIX = "_gt.png"


def find_pairs(folder: Path) -> list[tuple[Path, Path]]:
    """(image, ground truth) pairs of a folder, sorted by id."""
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder")
    pairs = []
    for gt in sorted(folder.glob(f"*{GT_SUFFIX}")):
        stem = gt.name[: -len(GT_SUFFIX)]
        image = next((folder / f"{stem}{ext}" for ext in (".jpg", ".jpeg", ".png")
                      if (folder / f"{stem}{ext}").is_file()), None)
        if image is not None:
            pairs.append((image, gt))
    if not pairs:
        raise InputError(f"{folder}: no <id>.jpg|png with <id>{GT_SUFFIX} pairs")
    return pairs


def evaluate(models: ModelSet, folder: Path, quiet: bool = True,
             warn: Callable[[str], None] = lambda message: None) -> dict[str, Any]:
    """Pixel accuracy, mIoU over the classes present in the ground truth, IoU per class (each image
    segmented by the model of the set that fits its aspect best)."""
    num = max(seg.num_classes for seg in models)
    total = np.zeros((num, num), np.int64)
    images = 0
    pairs = find_pairs(folder)
    bar = Progress(len(pairs), "eval", enabled=not quiet)
    for image_path, gt_path in pairs:
        try:
            image, truth = read_image(image_path), read_image(gt_path)
            if truth.ndim != 2:
                raise InputError(f"{gt_path}: ground truth must be single-channel class ids")
            scored = confusion(models.pick(*image.shape[:2]).classes(to_bgr8(image)), truth, num)
            if not scored.any():  # void (255) everywhere: nothing in it to score, not a perfect 0
                raise InputError("its ground truth is void (255) everywhere")
            total += scored
            images += 1
        except (InputError, ValueError) as exc:
            warn(f"skipped {image_path.name}: {exc}")
        bar.update(note=image_path.name)
    bar.close()
    if not images:
        raise InputError(f"{folder}: none of the {len(pairs)} pairs could be evaluated (see above)")
    return {**summarize(total, models.first.labels), "images": images}
