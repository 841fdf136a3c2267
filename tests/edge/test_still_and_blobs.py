"""The still-scene skip (the PSNR test, the engine reusing the mask, the counters) and small-blob
removal (the pure function, the chain's mask step, `pibokeh mask --min-blob`)."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from pibokeh import still
from pibokeh.blobs import drop_small_blobs
from pibokeh.chain import Chain, Recipe
from pibokeh.engine import Engine, Settings
from pibokeh.media.frames import FrameSink
from pibokeh.media.video import VideoFileSource
from pibokeh.model import ModelSet

from tests.conftest import TINY
from tests.helpers import iou, scene

# ---- the PSNR test ----------------------------------------------------------------------------------


def test_psnr_of_a_known_difference():
    a = np.full((40, 60), 100, np.uint8)
    b = a.copy()
    b[:10] = 110  # a quarter of the pixels off by 10: MSE 25
    assert still.psnr(a, b) == pytest.approx(10 * math.log10(255 ** 2 / 25))
    assert still.psnr(a, a) == math.inf


def test_a_thumbnail_is_small_grey_and_averages_noise_away():
    rng = np.random.default_rng(0)
    frame, _ = scene((1920, 1080))
    noisy = np.clip(frame + rng.normal(0, 6, frame.shape), 0, 255).astype(np.uint8)
    thumb = still.thumbnail(frame)
    assert thumb.ndim == 2 and max(thumb.shape) <= still.THUMB_SIDE and thumb.shape[1] > thumb.shape[0]
    assert still.psnr(noisy, frame) < 35 < still.psnr(still.thumbnail(noisy), thumb)  # noise is not motion


def test_is_still_compares_with_the_frame_the_model_saw():
    frame, _ = scene((640, 360), 0)
    moved, _ = scene((640, 360), 1)  # the block moved 3 px, the stripes by a whole stripe
    seen = still.thumbnail(frame)
    assert still.is_still(still.thumbnail(frame.copy()), seen, 35)
    assert not still.is_still(still.thumbnail(moved), seen, 35)
    assert not still.is_still(seen, seen, 0)  # 0: off
    assert not still.is_still(seen, None, 35) and not still.is_still(seen, seen[:, 1:], 35)


# ---- the engine ---------------------------------------------------------------------------------------

class Masks(FrameSink):
    def __init__(self) -> None:
        self.masks: list[np.ndarray] = []

    def write(self, frame: np.ndarray, pts: int | None = None) -> None:
        self.masks.append(frame.copy())


def clip_of(path, frames) -> str:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, frames[0].shape[1::-1])
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def run(path, skip_still: float, infer_every: int = 1, threaded: bool = False) -> tuple[Engine, list[np.ndarray]]:
    sink = Masks()
    with VideoFileSource(path) as source:
        engine = Engine(source, ModelSet.open([TINY]), [sink], Settings(Recipe(), infer_every, skip_still=skip_still),
                        masks=True)
        if threaded:
            engine.start()
            engine.wait(120)
            engine.join()
        else:
            engine.run_serial()
    assert engine.failure is None
    return engine, sink.masks


def test_a_still_scene_runs_the_model_once_and_keeps_its_mask(tmp_path):
    rng = np.random.default_rng(1)
    frame, _ = scene((320, 240), 0)
    path = clip_of(tmp_path / "still.mp4",
                   [np.clip(frame + rng.normal(0, 2, frame.shape), 0, 255).astype(np.uint8) for _ in range(30)])
    engine, masks = run(path, 35.0)
    _, every = run(path, 0.0)
    assert engine.stats.inferences == 1 and engine.stats.inferences_skipped == 29
    assert len(masks) == 30 and iou(masks[-1], every[-1]) > 0.97


def test_a_moving_scene_skips_nothing_and_the_masks_are_the_same(tmp_path):
    path = clip_of(tmp_path / "moving.mp4", [scene((320, 240), t)[0] for t in range(20)])
    engine, masks = run(path, 35.0)
    _, every = run(path, 0.0)
    assert engine.stats.inferences == 20 and engine.stats.inferences_skipped == 0
    assert all(np.array_equal(a, b) for a, b in zip(masks, every))


def test_still_then_moving_infers_again_once_the_scene_changes(tmp_path):
    frames = [scene((320, 240), 0)[0]] * 10 + [scene((320, 240), t)[0] for t in range(1, 11)]
    path = clip_of(tmp_path / "both.mp4", frames)
    engine, masks = run(path, 35.0, threaded=True)
    assert engine.stats.inferences_skipped == 9 and engine.stats.inferences == 11
    assert len(masks) == 20
    for t in range(1, 11):  # every moving frame got its own mask: the block where it is in that frame
        assert iou(masks[9 + t], scene((320, 240), t)[1]) > 0.8


def test_only_frames_due_for_inference_are_checked(tmp_path):
    frame, _ = scene((320, 240), 0)
    path = clip_of(tmp_path / "still.mp4", [frame] * 12)
    engine, _ = run(path, 35.0, infer_every=3)
    assert engine.stats.inferences == 1 and engine.stats.inferences_skipped == 3  # frames 3, 6, 9


class Reload(Masks):
    """After the second frame written, swaps in a recipe that keeps cars only (a reload)."""
    engine: Engine

    def write(self, frame: np.ndarray, pts: int | None = None) -> None:
        super().write(frame, pts)
        if len(self.masks) == 2:
            self.engine.update(Settings(Recipe(class_ids=(7,)), skip_still=35.0))


def test_a_new_recipe_is_never_skipped(tmp_path):
    """A reload's new classes must reach the mask even while the scene stays still."""
    frame, _ = scene((320, 240), 0)
    sink = Reload()
    with VideoFileSource(clip_of(tmp_path / "still.mp4", [frame] * 5)) as source:
        sink.engine = Engine(source, ModelSet.open([TINY]), [sink], Settings(Recipe(), skip_still=35.0), masks=True)
        sink.engine.run_serial()
    assert [bool(m.any()) for m in sink.masks] == [True, True, False, False, False]  # no car: an empty mask
    assert sink.engine.stats.inferences == 2 and sink.engine.stats.inferences_skipped == 3


# ---- small blobs ----------------------------------------------------------------------------------------

def blobby() -> np.ndarray:
    mask = np.zeros((100, 200), np.uint8)
    mask[10:90, 20:80] = 255      # 4800 px: 24 % of the frame
    mask[10:20, 150:160] = 255    # 100 px: 0.5 %
    mask[50:53, 150:153] = 255    # 9 px: 0.045 %
    mask[60:61, 120:121] = 255    # 1 px
    return mask


def test_blobs_smaller_than_the_share_are_dropped_and_the_rest_kept():
    mask = blobby()
    out = drop_small_blobs(mask, 0.001)  # 20 px
    expected = mask.copy()
    expected[50:53, 150:153] = 0
    expected[60:61, 120:121] = 0
    assert np.array_equal(out, expected)
    assert np.array_equal(drop_small_blobs(mask, 0.01), np.where(np.arange(200)[None, :] < 100, mask, 0))
    assert drop_small_blobs(mask, 0.0) is mask and drop_small_blobs(mask, 1e-9) is mask
    assert not drop_small_blobs(mask, 0.5).any()


def test_diagonal_neighbours_are_one_blob():
    mask = np.zeros((50, 50), np.uint8)
    for i in range(10):
        mask[i, i] = 255  # a 10 px diagonal line: one 8-connected part
    assert np.array_equal(drop_small_blobs(mask, 9 / 2500), mask)
    assert not drop_small_blobs(mask, 11 / 2500).any()


def test_the_chains_mask_step_drops_them(tmp_path):
    labels = np.zeros((40, 80), np.uint8)
    labels[5:35, 5:35] = 15   # a person
    labels[2:4, 70:72] = 15   # a speck the model called a person
    chain = Chain(ModelSet.open([TINY]), Recipe())
    kept = chain.mask(labels, (400, 800), Recipe())
    cleaned = chain.mask(labels, (400, 800), Recipe(min_blob=0.002))
    assert kept[20:40, 700:720].any() and not cleaned[:, 600:].any()
    assert np.array_equal(kept[:, :600], cleaned[:, :600])


def test_pibokeh_mask_min_blob(tmp_path, pibokeh):
    image, _ = scene((320, 240), 0)
    image[200:216, 280:296] = (20, 20, 230)  # a small red patch: "person" to the tiny model
    cv2.imwrite(str(tmp_path / "in.png"), image)
    for args, folder in (([], "all"), (["--min-blob", "0.01"], "big")):
        pibokeh("mask", tmp_path / "in.png", "-o", tmp_path / folder, "--model", TINY, *args, check=True)
    every = cv2.imread(str(tmp_path / "all" / "in.png"), cv2.IMREAD_GRAYSCALE)
    big = cv2.imread(str(tmp_path / "big" / "in.png"), cv2.IMREAD_GRAYSCALE)
    assert every[195:220, 275:300].any() and not big[180:, 260:].any()
    assert iou(every[:, :240], big[:, :240]) == 1.0
    line = pibokeh("mask", tmp_path / "in.png", "-o", tmp_path / "x", "--model", TINY, "--min-blob", "0.9").stderr
    assert "--min-blob" in line and "0.9" in line
