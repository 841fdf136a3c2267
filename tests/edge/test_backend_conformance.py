"""What every backend must do, run against each one: the TFLite backend on the tiny models (and on
Google's models when ../shared is there) and the test fakes. A new backend joins by adding a factory
to BACKENDS (and, if it loads files, a way to damage one to DAMAGED).

Checked: the input size and aspect; the RGB input `prepare` gives; class maps with the letterbox crop
right for frames of any shape (landscape, portrait, 16:9, tiny); class ids within the labels; the red
test square found where it is; `describe`; thread counts; one-line errors for damaged model files.
A model on the camera's sensor (the AI Camera) gets its class maps from the frame's metadata, as the
chain does: for it, `segment` below asks the fake camera for a frame's metadata."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import pytest
from pibokeh.errors import ModelError
from pibokeh.model import PERSON, Backend, open_model

import tempfile

from tests.conftest import CORAL, FLOAT257, MODELS, TINY, TINY_LABELS, TINY_LOGITS, TINY_WIDE, need
from tests.fakes.backends import RedBackend, edgetpu_copy, fake_edgetpu, fake_hailo, fake_imx500
from tests.helpers import red_square

Factory = Callable[[int], Backend]  # threads -> backend

BACKENDS: dict[str, Factory] = {
    "tflite-tiny-float": lambda threads: open_model(TINY, threads=threads),
    "tflite-tiny-labels": lambda threads: open_model(TINY_LABELS, threads=threads),
    "tflite-tiny-wide": lambda threads: open_model(TINY_WIDE, threads=threads),
    "tflite-tiny-logits": lambda threads: open_model(TINY_LOGITS, threads=threads),  # scores to the mask step
    "tflite-coral": lambda threads: open_model(need(CORAL), threads=threads),
    "tflite-float257": lambda threads: open_model(need(FLOAT257), threads=threads),
    "fake-red": lambda threads: RedBackend(threads=threads),
    "fake-red-wide": lambda threads: RedBackend((73, 129), stride=1, threads=threads),
    # the accelerators on their fake helpers, each computing on the CPU with a model beside its network file
    "imx500-fake-tiny-wide": lambda threads: fake_imx500(_folder("imx500"), TINY_WIDE),
    "imx500-fake-tiny-square": lambda threads: fake_imx500(_folder("imx500sq"), TINY),
    "hailo-fake-tiny": lambda threads: fake_hailo(_folder("hailo"), TINY_LABELS),
    "hailo-fake-coral-513": lambda threads: fake_hailo(_folder("hailo513"), need(CORAL)),
    "edgetpu-fake-tiny": lambda threads: fake_edgetpu(edgetpu_copy(_folder("edgetpu"), TINY_LABELS), threads),
    "edgetpu-fake-coral": lambda threads: fake_edgetpu(need(MODELS / "deeplabv3_mnv2_pascal_quant_edgetpu.tflite"),
                                                       threads),
}
# backends that load a model from ../shared/data: their tests are in the shared_data lane
NEEDS_SHARED = {"tflite-coral", "tflite-float257", "hailo-fake-coral-513", "edgetpu-fake-coral"}
# backends that find the red square (the tiny models and the fakes were made to)
KNOWS_RED = {"tflite-tiny-float", "tflite-tiny-labels", "tflite-tiny-wide", "tflite-tiny-logits", "fake-red",
             "fake-red-wide", "imx500-fake-tiny-wide", "imx500-fake-tiny-square", "hailo-fake-tiny",
             "edgetpu-fake-tiny"}
FRAMES = {"4:3": (120, 160), "16:9": (90, 160), "portrait": (160, 90), "square": (100, 100), "tiny": (9, 17)}


def _folder(name: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"pibokeh-{name}-"))


def segment(model: Backend, frame: np.ndarray) -> np.ndarray:
    """The class map the chain gets for a frame: from the (fake) camera's metadata for a model on the
    sensor, else the backend's own steps."""
    if model.on_sensor:
        return model.from_metadata(model.device.metadata_for(frame), frame.shape[:2])
    return model.segment(frame)


def classes(model: Backend, frame: np.ndarray) -> np.ndarray:
    labels = segment(model, frame)
    return cv2.resize(labels, (frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_NEAREST)


@pytest.fixture(scope="module", params=[pytest.param(name, marks=pytest.mark.shared_data) if name in NEEDS_SHARED
                                        else name for name in sorted(BACKENDS)])
def backend(request) -> tuple[str, Backend]:
    return request.param, BACKENDS[request.param](1)


def test_input_size_and_aspect(backend):
    _, model = backend
    height, width = model.input_size
    assert isinstance(height, int) and isinstance(width, int) and min(height, width) >= 8
    assert model.aspect == pytest.approx(width / height)
    assert model.num_classes >= 2 and len(model.labels) >= 2 and model.labels[PERSON] == "person"


@pytest.mark.parametrize("shape", sorted(FRAMES))
def test_prepare_gives_rgb_of_the_input_size(backend, shape):
    _, model = backend
    frame = np.zeros(FRAMES[shape] + (3,), np.uint8)
    frame[..., 2] = 200  # BGR red: the model must see R as its first channel
    rgb, valid = model.prepare(frame)
    assert rgb.shape == (*model.input_size, 3) and rgb.dtype == np.uint8
    assert 1 <= valid[0] <= model.input_size[0] and 1 <= valid[1] <= model.input_size[1]
    assert rgb[0, 0, 0] == 200 and rgb[0, 0, 2] == 0
    if model.letterboxes(FRAMES[shape]):  # the valid part keeps the frame's aspect
        assert valid[1] / valid[0] == pytest.approx(FRAMES[shape][1] / FRAMES[shape][0], rel=0.15)
    else:
        assert valid == model.input_size


@pytest.mark.parametrize("shape", sorted(FRAMES))
def test_class_maps_are_cropped_to_the_frame_and_hold_known_ids(backend, shape):
    _, model = backend
    frame = np.random.default_rng(1).integers(0, 255, FRAMES[shape] + (3,), np.uint8)
    labels = segment(model, frame)
    assert labels.dtype == np.uint8 and labels.ndim == 2 and labels.size
    assert int(labels.max()) < model.num_classes
    if model.on_sensor:  # the sensor's map cut to the frame's view, at the map's density
        assert labels.shape[1] / labels.shape[0] == pytest.approx(FRAMES[shape][1] / FRAMES[shape][0], rel=0.25)
        assert max(labels.shape) <= 2 * max(model.input_size)
    else:
        assert labels.shape[0] <= model.input_size[0] and labels.shape[1] <= model.input_size[1]
    if model.letterboxes(FRAMES[shape]) and min(labels.shape) >= 8:  # no padding left in the map
        assert labels.shape[1] / labels.shape[0] == pytest.approx(FRAMES[shape][1] / FRAMES[shape][0], rel=0.25)
    full = classes(model, frame)
    assert full.shape == FRAMES[shape] and full.dtype == np.uint8


@pytest.mark.parametrize("name", sorted(KNOWS_RED))
@pytest.mark.parametrize("size", [(120, 160), (90, 160), (200, 100)])
def test_the_red_square_is_found_where_it_is(name, size):
    """(Google's models know people, not red squares: test_model checks them on labelled photos.)"""
    model = BACKENDS[name](1)
    image, truth = red_square(size)
    found = classes(model, image) == PERSON
    inside = found[truth > 0].mean()
    outside = found[truth == 0].mean()
    assert inside > 0.8 and outside < 0.1, (inside, outside)


def test_describe_says_what_info_shows(backend):
    _, model = backend
    info = model.describe()
    for key in ("model", "family", "backend", "threads", "input_size", "output_kind", "on_sensor"):
        assert key in info, key
    assert info["input_size"] == list(model.input_size) and info["backend"] == model.backend


@pytest.mark.parametrize("threads", [1, 2])
def test_thread_count_is_what_was_asked(threads):
    for name, factory in BACKENDS.items():
        if name in NEEDS_SHARED:
            continue  # the tiny models show the same code path
        model = factory(threads)
        assert model.threads in (threads, None), name  # None: the work is not on the CPU


DAMAGED: dict[str, Callable[[Path], Path]] = {
    "truncated": lambda tmp: _write(tmp / "cut.tflite", TINY.read_bytes()[: len(TINY.read_bytes()) // 3]),
    "not a model": lambda tmp: _write(tmp / "notes.tflite", b"just some text, not a flatbuffer\n" * 10),
    "empty": lambda tmp: _write(tmp / "empty.tflite", b""),
    "flipped bytes": lambda tmp: _write(tmp / "flipped.tflite", _flip(TINY.read_bytes())),
    "missing": lambda tmp: tmp / "nowhere.tflite",
}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _flip(data: bytes) -> bytes:
    raw = bytearray(data)
    for i in range(64, len(raw), 97):
        raw[i] ^= 0xFF
    return bytes(raw)


@pytest.mark.parametrize("damage", sorted(DAMAGED))
def test_a_damaged_model_file_is_one_line_error(tmp_path, damage):
    path = DAMAGED[damage](tmp_path)
    try:
        model = open_model(path, threads=1)
        model.segment(np.zeros((40, 40, 3), np.uint8))  # some damage only shows when the model runs
    except ModelError as exc:
        text = str(exc)
        assert "\n" not in text and str(path) in text, text
        return
    pytest.fail(f"{damage}: no ModelError")
