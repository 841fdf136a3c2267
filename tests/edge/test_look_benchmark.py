"""scripts/benchmarks/look.py on small inputs: it measures what it says and writes its section into
a page once, however often it runs."""
from __future__ import annotations

import json

import cv2
import numpy as np
from pibokeh.model import ModelSet

from scripts.benchmarks import look
from tests.conftest import TINY
from tests.helpers import scene


def test_lens_figures_render_and_replace_their_section(tmp_path):
    frames = [scene((640, 360), t)[0] for t in (0, 5)]
    lens = look.measure_lens(ModelSet.open([TINY]), frames, rounds=1)
    row = lens["looks"]["lens (default: disc, bloom 0.5)"]
    assert lens["size"] == [640, 360] and row["fast_ms"] > 0 and row["exact_vs_fast"] > 0
    assert row["psnr_min"] >= 35  # the fast path's bound, on these frames too
    run = {"db": 35.0, "frames": 2, "inferences": 1, "skipped": 1, "skipped_share": 0.5, "agreement": 1.0,
           "foreground_iou": 1.0}
    data = {"host": {"system": "Linux", "machine": "x", "cpus": 2, "opencv": "4"}, "when": "now", "model": "m",
            "lens": lens, "skip": {"clip": {"frames": 2, "inferences_without": 2, "runs": [run]}},
            "still_check_ms_1080p": 1.0, "blobs": {"m": {"photos": 1, "iou": {"0": 0.5, "0.001": 0.6}}}}
    json.dumps(data)
    page = tmp_path / "BENCHMARKS.md"
    page.write_text("# Benchmarks\n\nearlier text\n")
    look.update(page, look.render(data))
    look.update(page, look.render(data))
    text = page.read_text()
    assert text.count(look.BEGIN) == 1 and "earlier text" in text
    assert "1 of 2 (50.0 %)" in text and "**0.6000**" in text and "on every model: 0.001" in text


def test_engine_masks_count_the_skip(tmp_path):
    frame = scene((320, 240), 0)[0]
    path = tmp_path / "still.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, (320, 240))
    for _ in range(8):
        writer.write(frame)
    writer.release()
    masks, inferences, skipped = look.engine_masks(path, ModelSet.open([TINY]), 35.0)
    assert len(masks) == 8 and (inferences, skipped) == (1, 7)
    assert look.agreement(masks, masks) == (1.0, 1.0) and isinstance(masks[0], np.ndarray)
