"""The TFLite backend on the real models of each family, against a plain reference and ground truth."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
from pibokeh.model.interpreters import available_interpreters
from pibokeh.errors import ModelError
from pibokeh.model import open_model, fit_input, letterbox

from tests.conftest import CORAL, CORAL_DM05, FLOAT257, MODELS, TINY, TINY_LABELS, TINY_WIDE, VOC, need
from tests.helpers import iou, one_line_error, scene, sha

FAMILIES = [CORAL, CORAL_DM05, FLOAT257]


def reference_mask(model_path, bgr: np.ndarray, classes: list[int]) -> np.ndarray:
    """The design's four steps written out plainly with the interpreter and OpenCV (steps 1-3)."""
    from ai_edge_litert.interpreter import Interpreter
    interpreter = Interpreter(model_path=str(model_path), num_threads=2)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    size = int(inp["shape"][1])
    # 1. longest side to the model size, pad to the fixed input, feed RGB
    height, width = bgr.shape[:2]
    ratio = size / max(height, width)
    tw, th = int(ratio * width), int(ratio * height)
    small = cv2.resize(bgr, (tw, th), interpolation=cv2.INTER_AREA if ratio < 1 else cv2.INTER_LINEAR)
    canvas = np.full((size, size, 3), 128, np.uint8)
    canvas[:th, :tw] = small[..., ::-1]
    x = canvas if inp["dtype"] == np.uint8 else (canvas.astype(np.float32) - 127.5) / 127.5
    interpreter.set_tensor(inp["index"], x[None])
    interpreter.invoke()
    y = interpreter.get_tensor(out["index"])[0]
    seg = (y.argmax(-1) if y.ndim == 3 else y)[:th, :tw]
    # 2. class mask
    mask = np.where(np.isin(seg, classes), 255, 0).astype(np.uint8)
    # 3. to the original size, GaussianBlur 15x15, Otsu
    mask = cv2.resize(mask, (width, height))
    mask = cv2.GaussianBlur(mask, (15, 15), 0)
    _, mask = cv2.threshold(mask, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return mask


@pytest.mark.parametrize("model", FAMILIES, ids=lambda p: p.stem)
def test_mask_command_equals_the_plain_reference(model, tmp_path, pibokeh):
    """--exact is the reference's mask step to the pixel; the default (the same steps at the model's
    resolution, one upscale) agrees with it on >= 99.5 % of every image's pixels."""
    need(model)
    images = sorted(need(VOC).glob("voc2012_*.jpg"))[:4] + sorted(VOC.glob("vainf_*.jpg"))[:2]
    for flags in (["--exact"], []):
        out = tmp_path / f"masks{len(flags)}"
        pibokeh("mask", *images, "-o", out, "--model", model, "--threads", "2", "--classes", "person,car",
                *flags, check=True)
        for image in images:
            got = cv2.imread(str(out / f"{image.stem}.png"), cv2.IMREAD_UNCHANGED)
            expected = reference_mask(model, cv2.imread(str(image)), [15, 7])
            assert got.ndim == 2 and got.shape == expected.shape
            assert set(np.unique(got)) <= {0, 255}
            if flags:
                assert np.array_equal(got, expected), f"{image.name}: {np.mean(got != expected):.4%} differ"
            else:
                assert np.mean(got == expected) >= 0.995, f"{image.name}: {np.mean(got != expected):.4%} differ"


@pytest.mark.parametrize("model,miou,person", [(CORAL, 0.60, 0.80), (FLOAT257, 0.47, 0.70)],
                         ids=["coral-int8", "float257"])
def test_accuracy_on_voc_proves_preprocessing_and_colour_order(model, miou, person, pibokeh):
    need(model), need(VOC)
    proc = pibokeh("eval", "--data", VOC, "--model", model, "--json", "--threads", "2", check=True)
    result = json.loads(proc.stdout)
    assert result["images"] == 31
    assert result["miou"] >= miou and result["iou"]["person"] >= person, result


def test_swapped_colour_order_would_be_caught():
    """Feeding RGB where BGR is expected measurably hurts: the eval bar above can see the mistake."""
    need(FLOAT257)
    seg = open_model(FLOAT257, threads=2)
    gts = sorted(need(VOC).glob("*_gt.png"))

    def person_iou(swap: bool) -> float:
        inter = union = 0
        for gt_path in gts:
            image = cv2.imread(str(gt_path).replace("_gt.png", ".jpg"))
            gt = cv2.imread(str(gt_path), cv2.IMREAD_UNCHANGED)
            pred = seg.classes(image[..., ::-1].copy() if swap else image)
            valid = gt != 255
            inter += np.sum((pred == 15) & (gt == 15) & valid)
            union += np.sum(((pred == 15) | (gt == 15)) & valid)
        return inter / union

    assert person_iou(False) > person_iou(True) + 0.01


def test_letterbox_keeps_aspect_and_pads_bottom_right():
    frame = np.zeros((100, 200, 3), np.uint8)
    frame[..., 2] = 255  # red in BGR
    rgb, valid = letterbox(frame, (64, 64))
    assert valid == (32, 64)
    assert np.all(rgb[:32] == (255, 0, 0)) and np.all(rgb[32:] == 128)


def test_frame_shaped_frames_fill_the_input_without_padding():
    frame = np.zeros((90, 160, 3), np.uint8)
    frame[:, :80] = (0, 0, 255)  # left half red, BGR
    rgb, valid = fit_input(frame, (36, 64))  # 16:9 model, 16:9 frame: a plain resize
    assert valid == (36, 64) and rgb.shape == (36, 64, 3)
    assert np.all(rgb[:, :31] == (255, 0, 0)) and np.all(rgb[:, 33:] == 0)
    rgb, valid = fit_input(frame, (64, 64))  # square model: letterboxed as before
    assert valid == (36, 64) and np.all(rgb[36:] == 128)


def test_tiny_models_find_the_red_block():
    for model in (TINY, TINY_LABELS):
        seg = open_model(model, threads=1)
        image, truth = scene((320, 240), 4)
        assert iou(seg.classes(image) == 15, truth) > 0.9


def test_segmenter_reads_the_card(tmp_path):
    model = tmp_path / "m.tflite"
    shutil.copy(TINY, model)
    labels = [f"c{i}" for i in range(21)]
    (tmp_path / "m.json").write_text(json.dumps({"family": "test family", "labels": labels,
                                                 "input": {"mean": 127.5, "std": 127.5}}))
    seg = open_model(model, threads=1)
    assert seg.family == "test family" and seg.labels == tuple(labels) and seg.card["labels"] == labels


@pytest.mark.parametrize("model", [TINY, TINY_LABELS, FLOAT257], ids=["tiny", "tiny-int8", "float257"])
def test_both_backends_agree(model):
    need(model)
    if "tflite_runtime" not in available_interpreters():
        pytest.skip("tflite_runtime is not installed in this environment")
    image = cv2.imread(str(sorted(VOC.glob("*.jpg"))[0])) if VOC.is_dir() else scene((320, 240))[0]
    a = open_model(model, backend="ai_edge_litert", threads=2).segment(image)
    b = open_model(model, backend="tflite_runtime", threads=2).segment(image)
    assert a.shape == b.shape and np.mean(a == b) > 0.995


def test_clear_errors_for_files_that_are_not_usable_models(tmp_path):
    text = tmp_path / "notes.tflite"
    text.write_text("hello, not a model\n")
    with pytest.raises(ModelError, match="not a TFLite model"):
        open_model(text)
    with pytest.raises(ModelError, match="no such model file"):
        open_model(tmp_path / "missing.tflite")
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(TINY.read_bytes()[:1000])
    with pytest.raises(ModelError, match="cannot load"):
        open_model(truncated)


def test_edgetpu_model_gets_a_clear_error():
    model = need(MODELS / "deeplabv3_mnv2_pascal_quant_edgetpu.tflite")
    with pytest.raises(ModelError, match="Coral Edge TPU cannot be used .*libedgetpu1-std"):
        open_model(model)  # the Edge TPU backend, by its name: no libedgetpu here
    with pytest.raises(ModelError, match="cannot load"):
        open_model(model, backend="ai_edge_litert")  # forced onto the CPU: its custom op is unknown there


def test_missing_interpreter_is_reported():
    if "tensorflow" in available_interpreters():
        pytest.skip("TensorFlow is installed here; the edge-only environment checks this")
    with pytest.raises(ModelError, match="tensorflow is not installed"):
        open_model(TINY, backend="tensorflow")


def test_edge_never_imports_tensorflow():
    code = ("import sys, pibokeh.cli, pibokeh.batch, pibokeh.model, pibokeh.core, pibokeh.model.registry; "
            "pibokeh.cli.build_parser(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')"
            " or m.startswith('pibokeh.convert')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_integer_inputs_follow_their_quantization():
    from pibokeh.model.preprocess import quantized_input_lut
    # Coral's input (scale 1/128, zero point 128) is within a step of raw RGB: fed raw
    assert np.array_equal(quantized_input_lut(np.dtype(np.uint8), 1 / 128, 128), np.arange(256))
    # a converter's input calibrated on [-1, 1] (scale 2/255, zero point 128): raw as well
    assert np.array_equal(quantized_input_lut(np.dtype(np.uint8), 2 / 255, 128), np.arange(256))
    # a narrower calibrated range [-0.5, 0.5] (scale 1/255, zero point 128) stretches the pixels:
    # pixel 200 -> (200 - 127.5) / 127.5 = 0.5686 -> 0.5686 * 255 + 128 = 273 -> clipped to 255
    lut = quantized_input_lut(np.dtype(np.uint8), 1 / 255, 128)
    assert lut[200] == 255 and lut[128] == 129 and lut[100] == 73 and lut[0] == 0
    # int8 with the same range as Coral: pixel - 128
    assert np.array_equal(quantized_input_lut(np.dtype(np.int8), 1 / 128, 0), np.arange(256) - 128)


def test_compute_is_summed_from_the_graph(pibokeh_main):
    """The tiny graph, by hand: a 3x3 stride-2 convolution 3 -> 3 channels and a 1x1 convolution
    3 -> 21 classes, both on a 33x33 feature map."""
    expected = 33 * 33 * 3 * (3 * 3 * 3) + 33 * 33 * 21 * 3
    for model in (TINY, TINY_LABELS):
        info = json.loads(pibokeh_main("info", "--model", model, "--json", check=True).stdout)
        assert info["macs"] == expected and info["output_stride"] == 2  # (65 - 1) / (33 - 1)
    text = pibokeh_main("info", "--model", TINY, check=True).stdout
    assert "compute     157 kMAC per 65x65 frame, output stride 2" in text


def test_compute_of_the_real_models():
    # Google's Coral build runs at output stride 16 (33x33 features at 513); the 257 model at 8
    for model, stride, gmacs in ((CORAL, 16, 2.74), (FLOAT257, 8, 0.73)):
        seg = open_model(need(model), threads=1)
        assert seg.output_stride == stride and seg.compute.macs / 1e9 == pytest.approx(gmacs, abs=0.01)


def plain_unpadded_mask(model_path, bgr: np.ndarray, classes: list[int]) -> np.ndarray:
    """The four steps for a model made for the frame's aspect, written out plainly: the frame
    halved (2x2 means) while it is at least twice the input, then area-resized to the whole input
    (no padding), RGB, (x - 127.5) / 127.5; class mask; resize, GaussianBlur 15x15, Otsu."""
    from ai_edge_litert.interpreter import Interpreter
    interpreter = Interpreter(model_path=str(model_path), num_threads=2)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    in_h, in_w = int(inp["shape"][1]), int(inp["shape"][2])
    height, width = bgr.shape[:2]
    small = bgr
    while small.shape[0] >= 2 * in_h and small.shape[1] >= 2 * in_w:
        small = cv2.resize(small, (small.shape[1] // 2, small.shape[0] // 2), interpolation=cv2.INTER_AREA)
    small = cv2.resize(small, (in_w, in_h), interpolation=cv2.INTER_AREA)
    x = (small[..., ::-1].astype(np.float32) - 127.5) / 127.5
    interpreter.set_tensor(inp["index"], x[None])
    interpreter.invoke()
    y = interpreter.get_tensor(out["index"])[0]
    seg = y.argmax(-1) if y.ndim == 3 else y
    mask = np.where(np.isin(seg, classes), 255, 0).astype(np.uint8)
    mask = cv2.GaussianBlur(cv2.resize(mask, (width, height)), (15, 15), 0)
    return cv2.threshold(mask, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[1]


def test_a_frame_shaped_model_gets_the_whole_frame_like_the_plain_steps(tmp_path, pibokeh):
    images = []
    for i, size in enumerate(((640, 360), (1280, 720), (853, 480))):  # 16:9, and within 3 % of it
        images.append(tmp_path / f"wide{i}.png")
        cv2.imwrite(str(images[-1]), scene(size, 3 * i)[0])
    out = tmp_path / "masks"
    pibokeh("mask", *images, "-o", out, "--model", TINY_WIDE, "--exact", check=True)
    for image in images:
        got = cv2.imread(str(out / image.name), cv2.IMREAD_UNCHANGED)
        expected = plain_unpadded_mask(TINY_WIDE, cv2.imread(str(image)), [15])
        assert np.array_equal(got, expected), image.name


def test_each_input_goes_to_the_model_of_its_aspect(tmp_path, pibokeh):
    wide, square = tmp_path / "wide.png", tmp_path / "square.png"
    cv2.imwrite(str(wide), scene((640, 360), 2)[0])
    cv2.imwrite(str(square), scene((400, 400), 5)[0])
    folder = tmp_path / "models"
    folder.mkdir()
    for model in (TINY, TINY_WIDE):
        shutil.copy(model, folder)
        shutil.copy(model.with_suffix(".json"), folder)

    def masks(*models) -> dict[str, np.ndarray]:
        out = tmp_path / f"out{len(list(tmp_path.glob('out*')))}"
        pibokeh("mask", wide, square, "-o", out, *[a for m in models for a in ("--model", m)], check=True)
        return {name: cv2.imread(str(out / name), cv2.IMREAD_UNCHANGED) for name in ("wide.png", "square.png")}

    only_square, only_wide = masks(TINY), masks(TINY_WIDE)
    assert not np.array_equal(only_square["wide.png"], only_wide["wide.png"])  # the models differ
    for both in (masks(TINY, TINY_WIDE), masks(TINY_WIDE, TINY), masks(folder)):
        assert np.array_equal(both["wide.png"], only_wide["wide.png"])
        assert np.array_equal(both["square.png"], only_square["square.png"])
    listing = pibokeh("info", "--model", folder, "--json", check=True).stdout.splitlines()
    assert sorted(json.loads(line)["input"]["shape"][1:3] for line in listing) == [[65, 65], [73, 129]]


def test_the_default_is_the_newest_converted_model_of_each_aspect(tmp_path, pibokeh):
    """Converting a 4:3 model next to a 16:9 one adds to the default; an older model of an aspect
    already covered, and a model with other classes, are left out."""
    folder = tmp_path / "home" / "models"
    folder.mkdir(parents=True)
    other_card = json.loads(TINY.with_suffix(".json").read_text())
    other_card["labels"] = [f"thing{i}" for i in range(21)]
    for age, (name, model, card) in enumerate([("wide", TINY_WIDE, None), ("square", TINY, None),
                                               ("old_square", TINY, None), ("other_wide", TINY_WIDE, other_card)]):
        shutil.copy(model, folder / f"{name}.tflite")
        card_text = json.dumps(card) if card else model.with_suffix(".json").read_text()
        (folder / f"{name}.json").write_text(card_text)
        os.utime(folder / f"{name}.tflite", (2e9 - age * 100, 2e9 - age * 100))
    listing = pibokeh("models", check=True).stdout
    marked = sorted(line.split()[0] for line in listing.splitlines() if line.endswith("<- default"))
    assert marked == ["square.tflite", "wide.tflite"]
    shapes = [json.loads(line)["input"]["shape"][1:3] for line in pibokeh("info", "--json", check=True).stdout.splitlines()]
    assert sorted(shapes) == [[65, 65], [73, 129]]
    image = tmp_path / "wide.png"
    cv2.imwrite(str(image), scene((640, 360), 2)[0])
    pibokeh("mask", image, "-o", tmp_path / "default", check=True)
    pibokeh("mask", image, "-o", tmp_path / "given", "--model", TINY_WIDE, check=True)
    assert sha(tmp_path / "default" / "wide.png") == sha(tmp_path / "given" / "wide.png")


def test_models_that_do_not_share_their_classes_are_refused(tmp_path, pibokeh_main):
    other = tmp_path / "other.tflite"
    shutil.copy(TINY, other)
    card = json.loads(TINY.with_suffix(".json").read_text())
    card["labels"] = [f"thing{i}" for i in range(21)]
    other.with_suffix(".json").write_text(json.dumps(card))
    assert "different classes" in one_line_error(pibokeh_main("info", "--model", TINY, "--model", other))
