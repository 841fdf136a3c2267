#!/usr/bin/env python3
"""Make the README's side-by-side picture of the looks: original | Gaussian | lens.

    .venv-edge/bin/python scripts/look_picture.py            # writes docs/img/looks.jpg

The photo is `coral__kite_and_cold.jpg` from ../shared/data/calib (google-coral/test_data,
Apache-2.0: a derived picture may be shown with that attribution); the person mask comes from the
Coral DeepLab model there. Only the picture made here is committed, never the photo.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

import pibokeh
from pibokeh.media.images import read_image, write_image

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
PHOTO = SHARED / "calib" / "coral__kite_and_cold.jpg"
MODEL = SHARED / "models" / "deeplabv3_mnv2_pascal_quant.tflite"
KERNEL = 101  # a 640x480 photo: the default 251 would blur it to a wash


def caption(image: np.ndarray, text: str) -> np.ndarray:
    out = image.copy()
    cv2.rectangle(out, (0, 0), (out.shape[1], 30), (0, 0, 0), -1)
    cv2.putText(out, text, (10, 21), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "looks.jpg")
    args = parser.parse_args()
    for path in (PHOTO, MODEL):
        if not path.exists():
            print(f"look_picture: error: needs {path} (../shared/data beside the repository)", file=sys.stderr)
            return 2
    photo = read_image(PHOTO)
    model = pibokeh.load_model(MODEL)
    looks = [(photo, "original"),
             (pibokeh.blur(photo, model, blur_kernel=KERNEL), f"--blur-kernel {KERNEL} (Gaussian)"),
             (pibokeh.blur(photo, model, blur_kernel=KERNEL, look="lens"), f"--blur-kernel {KERNEL} --look lens")]
    width = 640  # per panel in the README
    panels = [caption(cv2.resize(image, (width, round(image.shape[0] * width / image.shape[1])),
                                 interpolation=cv2.INTER_AREA), text) for image, text in looks]
    write_image(args.out, np.hstack(panels), quality=88)
    print(f"look_picture: wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
