"""The fast mask step and compositing held to what they give up against the reference path, on
images made here: masks equal to the reference's on >= 99.5 % of the pixels, output frames >= 40 dB
PSNR from the reference's; the logits head's geometry (letterboxed or not) and its class maps; the
reused output arrays never handed out while something still holds them.
(No timing here: speed is measured by scripts/benchmarks/compositing.py.)"""
from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
from pibokeh import core, masks, styles
from pibokeh.bench import synthetic_frame
from pibokeh.buffers import Buffers, Pyramid, Pyramids
from pibokeh.chain import Chain, Recipe
from pibokeh.engine import Engine, ThreadedSink
from pibokeh.media.frames import FrameSink, FrameSource
from pibokeh.model import PERSON, open_model

from tests.conftest import TINY_LOGITS, TINY_WIDE
from tests.helpers import iou, red_square

FRAME_SIZES = [(1080, 1920), (720, 1280), (359, 641), (60, 100)]  # (h, w); the last is below the model's


def class_map(shape: tuple[int, int], seed: int) -> np.ndarray:
    """A model-resolution class map: a person (body, head, a thin arm), a car, a stray blob."""
    h, w = shape
    rng = np.random.default_rng(seed)
    labels = np.zeros(shape, np.uint8)
    cx, cy = int(w * rng.uniform(0.3, 0.7)), int(h * rng.uniform(0.45, 0.6))
    cv2.ellipse(labels, (cx, cy), (max(2, w // 9), max(3, h // 3)), 0, 0, 360, PERSON, -1)
    cv2.circle(labels, (cx, max(1, cy - h // 3)), max(2, h // 10), PERSON, -1)
    cv2.line(labels, (cx, cy), (min(w - 1, cx + w // 4), max(0, cy - h // 4)), PERSON, max(1, h // 40))
    cv2.rectangle(labels, (w // 20, h * 2 // 3), (w // 4, h - 2), 7, -1)
    cv2.circle(labels, (w * 7 // 8, h // 5), max(1, h // 25), PERSON, -1)
    return labels


@pytest.mark.parametrize("model_shape", [(73, 129), (289, 513), (65, 65)])
@pytest.mark.parametrize("size", FRAME_SIZES)
def test_fast_mask_agrees_with_the_reference_mask_step(model_shape, size):
    for seed in range(3):
        labels = class_map(model_shape, seed)
        for ids in ([PERSON], [PERSON, 7]):
            reference = core.frame_mask(labels, ids, size)
            fast = masks.fast_frame_mask(labels, ids, size)
            assert fast.shape == size and fast.dtype == np.uint8 and set(np.unique(fast)) <= {0, 255}
            assert np.mean(fast == reference) >= 0.995, (model_shape, size, seed, np.mean(fast != reference))


def test_fast_mask_of_an_empty_or_full_class_map():
    assert masks.fast_frame_mask(np.zeros((33, 33), np.uint8), [PERSON], (64, 48)).max() == 0
    assert masks.fast_frame_mask(np.full((33, 33), PERSON, np.uint8), [PERSON], (64, 48)).min() == 255


def test_fast_mask_writes_into_the_array_given():
    out = np.full((180, 320), 7, np.uint8)
    got = masks.fast_frame_mask(class_map((73, 129), 1), [PERSON], (180, 320), out=out)
    assert got is out and np.array_equal(out, masks.fast_frame_mask(class_map((73, 129), 1), [PERSON], (180, 320)))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


@pytest.mark.parametrize("size", FRAME_SIZES[:3])
def test_fast_compositing_stays_within_40_db_of_the_reference(size):
    """The fast mask, the background made into a reused array from shared halvings, the foreground
    copied over it: >= 40 dB PSNR from the reference's mask step and compose, on a textured frame."""
    h, w = size
    buffers, pyramids = Buffers(), Pyramids()
    for seed in range(3):
        frame = synthetic_frame((w, h), seed)
        labels = class_map((73, 129), seed)
        reference = core.compose(frame, core.frame_mask(labels, [PERSON], size))
        pyramids.fresh(frame).halved(3)  # what the model's input made (the chain's segment stage)
        mask = masks.fast_frame_mask(labels, [PERSON], size)
        fast = core.compose(frame, mask, out=buffers.take(frame.shape, frame.dtype), halved=pyramids.take(frame).halved)
        assert fast.shape == frame.shape and fast.dtype == frame.dtype
        assert psnr(fast, reference) >= 40.0, (size, seed, psnr(fast, reference))


@pytest.mark.parametrize("style", [styles.Style(), styles.Style(exact=True), styles.Style(feather=9),
                                   styles.Style(styles.Color((10, 200, 30))),
                                   styles.Style(styles.Replace(synthetic_frame((200, 150), 9))),
                                   styles.Style(styles.Lens()), styles.Style(styles.Lens(falloff=0.3))],
                         ids=["blur", "exact", "feather", "colour", "replace", "lens", "lens-falloff"])
def test_compose_into_a_given_array_is_compose(style):
    frame = synthetic_frame((320, 180), 4)
    mask = masks.fast_frame_mask(class_map((73, 129), 2), [PERSON], (180, 320))
    out = np.full_like(frame, 99)
    got = core.compose(frame, mask, style, out=out, halved=Pyramid(frame).halved)
    assert got is out and np.array_equal(got, core.compose(frame, mask, style))


@pytest.mark.parametrize("shape, dtype", [((90, 160), np.uint8), ((90, 160, 4), np.uint8), ((90, 160, 3), np.uint16)])
def test_compose_ignores_an_array_of_another_format(shape, dtype):
    frame = (np.random.default_rng(3).integers(0, 200, shape)).astype(dtype)
    mask = masks.fast_frame_mask(class_map((73, 129), 2), [PERSON], shape[:2])
    out = np.zeros((90, 160, 3), np.uint8)
    assert np.array_equal(core.compose(frame, mask, out=out), core.compose(frame, mask))


# ---- class scores (the logits head) --------------------------------------------------------------

def smooth_scores(cells: tuple[int, int], seed: int, classes: int = 21) -> np.ndarray:
    """Scores that vary smoothly between cells, so the classes form regions, not noise."""
    rng = np.random.default_rng(seed)
    coarse = rng.normal(0, 4, (max(2, cells[0] // 4), max(2, cells[1] // 4), classes)).astype(np.float32)
    return cv2.resize(coarse, cells[::-1], interpolation=cv2.INTER_CUBIC)


def align_corners(values: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Plain bilinear sampling of `values` at fractional cell positions (edges repeated)."""
    ys = np.clip(ys, 0, values.shape[0] - 1)
    xs = np.clip(xs, 0, values.shape[1] - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, values.shape[0] - 1), np.minimum(x0 + 1, values.shape[1] - 1)
    fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    top = values[y0][:, x0] * (1 - fx) + values[y0][:, x1] * fx
    bottom = values[y1][:, x0] * (1 - fx) + values[y1][:, x1] * fx
    return top * (1 - fy) + bottom * fy


def test_margin_is_positive_exactly_where_a_chosen_class_wins():
    scores = np.random.default_rng(0).normal(0, 3, (19, 33, 21)).astype(np.float32)
    for ids in ([PERSON], [PERSON, 7, 9]):
        assert np.array_equal(masks.margin(scores, ids) > 0, np.isin(scores.argmax(-1), ids))
    assert (masks.margin(scores, [99]) < 0).all() and (masks.margin(scores, range(21)) > 0).all()


@pytest.mark.parametrize("valid", [(289, 513), (289, 385)])  # a 16:9 frame, and a 4:3 one letterboxed
@pytest.mark.parametrize("frame_h", [1080, 360])
def test_scores_mask_is_the_arg_max_of_the_scores_upsampled_onto_the_frame(valid, frame_h):
    """Frame pixel centres go onto the valid part of the input, input pixel i onto cell i / 16 (the
    align_corners grid of a stride-16 head); the mask is where the chosen class wins there."""
    scores = masks.Scores(smooth_scores((19, 33), 1), (289, 513), valid)
    height, width = frame_h, round(frame_h * valid[1] / valid[0])
    ys = ((np.arange(height) + 0.5) * valid[0] / height - 0.5) / 16
    xs = ((np.arange(width) + 0.5) * valid[1] / width - 0.5) / 16
    expected = align_corners(scores.values, ys, xs).argmax(-1) == PERSON
    got = masks.scores_mask(scores, [PERSON], (height, width))
    assert got.shape == (height, width) and set(np.unique(got)) <= {0, 255}
    assert expected.any() and np.mean((got > 0) == expected) >= 0.995


def test_scores_labels_are_what_a_model_upsampling_inside_would_give():
    scores = masks.Scores(smooth_scores((19, 33), 2), (289, 513), (289, 513))
    grid = np.arange(289) / 16, np.arange(513) / 16
    expected = align_corners(scores.values, *grid).argmax(-1)
    labels = scores.labels()
    assert labels.shape == (289, 513) and labels.dtype == np.uint8
    assert np.mean(labels == expected) >= 0.99


def test_resample_puts_its_grid_within_half_a_pixel():
    ramp = np.add.outer(np.arange(10, dtype=np.float32) * 3, np.arange(17, dtype=np.float32))
    for size, scale, offset in (((200, 300), (0.04, 0.05), (0.1, -0.2)), ((91, 161), (0.1, 0.1), (0.0, 0.0))):
        got = masks.resample(ramp, size, scale, offset)
        ys, xs = np.arange(size[0]) * scale[0] + offset[0], np.arange(size[1]) * scale[1] + offset[1]
        expected = align_corners(ramp[..., None], ys, xs)[..., 0]
        inside = (slice(2, -2), slice(2, -2))  # away from the repeated edges
        slope = 3 * scale[0] + scale[1]  # value change per output pixel along both axes
        assert np.abs(got - expected)[inside].max() <= slope * 0.5 + 1e-3


@pytest.mark.parametrize("size", [(90, 160), (120, 160), (200, 100)])  # 16:9 (the model's), 4:3, portrait
def test_the_logits_head_finds_the_red_square_through_the_chain(size):
    image, truth = red_square(size)
    fast = Chain(open_model(TINY_LOGITS, threads=1)).mask_of(image)
    reference = Chain(open_model(TINY_WIDE, threads=1), Recipe(style=styles.Style(exact=True))).mask_of(image)
    assert iou(fast > 0, truth > 0) > 0.85
    assert np.mean(fast == reference) >= 0.97  # the same network, with the mask made from its scores
    exact = Chain(open_model(TINY_LOGITS, threads=1), Recipe(style=styles.Style(exact=True))).mask_of(image)
    assert np.mean(exact == reference) >= 0.99  # --exact: the class map the scores head gives, then the reference


# ---- reused arrays -------------------------------------------------------------------------------

def test_an_array_is_handed_out_again_only_once_nobody_holds_it():
    pool = Buffers(keep=3)
    first = pool.take((4, 6, 3), np.uint8)
    assert pool.take((4, 6, 3), np.uint8) is not first  # still held here
    first_id = id(first)
    del first
    again = pool.take((4, 6, 3), np.uint8)
    assert id(again) == first_id  # nobody held it: the same array
    view = again[1:]
    queued = [(again, 1)]
    del again
    for holder in (view, queued):
        assert id(pool.take((4, 6, 3), np.uint8)) != first_id, type(holder)  # a view and a queue hold it
    assert pool.take((2, 2), np.float32).shape == (2, 2)  # another size: a new one


def test_the_pool_keeps_at_most_keep_arrays():
    pool = Buffers(keep=2)
    held = [pool.take((3, 3), np.uint8) for _ in range(5)]
    assert len({id(a) for a in held}) == 5 and pool.made == 5
    del held
    assert pool.take((3, 3), np.uint8) is not None and pool.made == 5  # one of the two kept


def test_a_pyramid_is_made_once_and_taken_over_by_the_next_stage():
    pyramids = Pyramids()
    frame = synthetic_frame((64, 48), 1)
    level = pyramids.fresh(frame).halved(2)
    assert level.shape == (12, 16, 3) and np.array_equal(level, core.halve(frame, 2))
    assert pyramids.take(frame).halved(2) is level  # the compose stage gets the same halvings
    assert pyramids.take(frame).halved(2) is not level  # taken once: a frame seen again starts over
    frame[:] = 0  # a caller may refill its array with the next frame: segment starts a new pyramid
    assert pyramids.fresh(frame).halved(1).max() == 0


class _Frames(FrameSource):
    """`count` different frames, read as fast as asked."""
    skips_frames = False

    def __init__(self, count: int):
        self.count, self.read_frames = count, 0

    def read(self):
        if self.read_frames >= self.count:
            return None
        self.read_frames += 1
        return synthetic_frame((160, 90), self.read_frames)


class _SlowChecker(FrameSink):
    """Takes its time over each frame and checks it did not change meanwhile (a reused array
    overwritten while an encoder still reads it would)."""

    def __init__(self):
        self.frames, self.torn = 0, 0

    def write(self, frame, pts=None):
        before = frame.copy()
        time.sleep(0.01)
        self.torn += int(not np.array_equal(before, frame))
        self.frames += 1


@pytest.mark.parametrize("skips", [False, True])
def test_reused_outputs_are_never_overwritten_while_a_sink_reads_them(skips):
    slow, fast = _SlowChecker(), _SlowChecker()
    slow_sink = ThreadedSink(slow, skips=skips)
    engine = Engine(_Frames(40), open_model(TINY_WIDE, threads=1), [slow_sink, ThreadedSink(fast, skips=True)])
    engine.start()
    assert engine.wait(60)
    engine.join()
    slow_sink.close()
    assert engine.failure is None and slow.frames > 0 and slow.torn == 0 and fast.torn == 0
    if not skips:
        assert slow.frames == 40


def test_outputs_a_caller_keeps_stay_as_they_were():
    chain = Chain(open_model(TINY_WIDE, threads=1))
    frames = [synthetic_frame((160, 90), i) for i in range(4)]
    outs = [chain(f) for f in frames]  # all still held: four different arrays
    assert len({id(o) for o in outs}) == 4
    fresh = Chain(open_model(TINY_WIDE, threads=1))
    assert all(np.array_equal(o, fresh(f)) for o, f in zip(outs, frames))
