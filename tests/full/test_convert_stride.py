"""--output-stride and --size WxH on the tiny DeepLab-shaped graph (output stride 8, atrous blocks
and image pooling like the real graphs): the rewrite is exact at stride 8, stride 16 and frame-shaped
inputs convert and run in every mode, and bad sizes or strides get one line."""
from __future__ import annotations

import argparse
import json

import cv2
import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter
from pibokeh.convert import quantize, shapes, stride
from pibokeh.convert.graph import GraphError, choose_cut, fold_dequantize, load_graph
from pibokeh.errors import InputError
from pibokeh.model import fit_input

from tests.full import tiny_graph
from tests.full.conftest import run_tool
from tests.helpers import iou, one_line_error, red_square

MODES = ["float32", "fp16", "dynamic", "int8"]


@pytest.fixture(scope="module")
def tiny(tiny_pb):
    graph, _ = fold_dequantize(load_graph(tiny_pb))
    return graph, choose_cut(graph)


def outputs(model: bytes, images: list[np.ndarray]) -> list[np.ndarray]:
    """The float model's raw scores for each image, fed as the runtime feeds it."""
    interpreter = Interpreter(model_content=model, num_threads=1)
    interpreter.allocate_tensors()
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    results = []
    for image in images:
        rgb, _ = fit_input(image, tuple(inp["shape"][1:3]))
        interpreter.set_tensor(inp["index"], ((rgb.astype(np.float32) - 127.5) / 127.5)[None])
        interpreter.invoke()
        results.append(interpreter.get_tensor(out["index"]).copy())
    return results


def test_the_graph_is_read_as_tf_slim_built_it(tiny):
    graph, _ = tiny
    blocks = stride.find_blocks(graph)
    assert [(b.stride, b.rate, bool(b.atrous)) for b in blocks] == [
        (2 if i in tiny_graph.STRIDE_2 else 1, tiny_graph.block_rate(i), tiny_graph.block_rate(i) > 1)
        for i in range(tiny_graph.BLOCKS)]
    assert stride.output_stride(graph) == 8
    assert stride.native_strides(blocks)[6] == 2 and stride.native_strides(blocks)[13] == 2
    fast, info = stride.set_output_stride(graph, 16)
    assert stride.output_stride(fast) == 16 and info["graph"] == 8 and info["model"] == 16
    assert [(b.stride, b.rate) for b in stride.find_blocks(fast)][5:] == (
        [(1, 1), (2, 1)] + [(1, 1)] * 7 + [(1, 2)] * 3)
    assert not [n for n in fast.node if n.op in ("SpaceToBatchND", "BatchToSpaceND")]
    # and back: a graph exported at stride 16 goes to 8 the same way
    back, info = stride.set_output_stride(fast, 8)
    assert [(b.stride, b.rate) for b in stride.find_blocks(back)] == [
        (b.stride, b.rate) for b in stride.find_blocks(stride.set_output_stride(graph, None)[0])]


def test_stride_8_rewrite_reproduces_the_original_exactly(tiny, photos):
    graph, cut = tiny
    images = [cv2.imread(str(p)) for p in sorted(photos.glob("p*[0-9].png"))]
    images.append(np.random.default_rng(1).integers(0, 256, (200, 300, 3), dtype=np.uint8))
    original = outputs(quantize.convert(graph, cut, 257, "float32"), images)
    for target in (None, 8):
        rewritten, info = stride.set_output_stride(graph, target)
        assert info["changed"] == [] and info["atrous_as_dilations"] == 10
        assert not [n for n in rewritten.node if n.op == "SpaceToBatchND"]
        again = outputs(quantize.convert(rewritten, cut, 257, "float32"), images)
        for a, b in zip(original, again):
            assert np.array_equal(a.argmax(-1), b.argmax(-1))
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
    # the stride-16 model really is another network: its scores differ
    fast = outputs(quantize.convert(stride.set_output_stride(graph, 16)[0], cut, 257, "float32"), images)
    assert max(float(np.abs(a - b).max()) for a, b in zip(original, fast)) > 0.05


@pytest.mark.parametrize("mode,size,kind", [(m, "513x289", "scores") for m in MODES]
                         + [("int8", "289x513", "labels"), ("float32", "257", "labels")])
def test_stride_16_and_frame_shapes_convert_and_run_in_every_mode(mode, size, kind, tiny_pb, photos, tmp_path,
                                                                 convert, edge_python):
    out = tmp_path / f"tiny_{mode}_{size}.tflite"
    extra = ["--calib", photos] if mode == "int8" else []
    proc = convert(tiny_pb, "-o", out, "--quant", mode, "--size", size, "--output-stride", "16",
                   "--output", kind, "-q", *extra)
    assert proc.returncode == 0, proc.stderr
    height, width = shapes.parse_size(size)
    assert f"at {width}x{height}, output stride 16 (rewritten from 8)" in proc.stderr
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["output_stride"] == 16 and card["stride_rewrite"]["output_stride_of_graph"] == 8
    assert (card["input"]["width"], card["input"]["height"], card["input"]["size"]) == (width, height,
                                                                                       max(width, height))
    assert card["family"] == f"converted by pibokeh ({mode}, {width}x{height}, output stride 16)"
    info = json.loads(run_tool("pibokeh", "info", "--model", out, "--json", python=edge_python).stdout)
    assert info["input"]["shape"] == [1, height, width, 3]
    assert info["output"]["shape"] == [1, height, width] + ([21] if kind == "scores" else [])
    # a frame of the model's aspect: fed whole, and its red square is the person
    image, truth = red_square((2 * height, 2 * width))
    cv2.imwrite(str(tmp_path / "red.png"), image)
    proc = run_tool("pibokeh", "mask", tmp_path / "red.png", "-o", tmp_path / "masks", "--model", out,
                    python=edge_python)
    assert proc.returncode == 0, proc.stderr
    score = iou(cv2.imread(str(tmp_path / "masks" / "red.png"), cv2.IMREAD_UNCHANGED), truth)
    assert score > 0.8


def test_eval_reports_the_cost_of_the_fast_shape_against_stride_8_at_513(tiny_pb, photos, tmp_path, convert):
    out = tmp_path / "fast.tflite"
    proc = convert(tiny_pb, "-o", out, "--quant", "int8", "--calib", photos, "--eval", photos,
                   "--size", "257x145", "--output-stride", "16", "-q")
    assert proc.returncode == 0, proc.stderr
    assert "vs float32, output stride 8, 513x513:" in proc.stdout
    v = json.loads(out.with_suffix(".json").read_text())["validation"]
    # the photos are 4:3: judged centre-cropped to the model's 257:145, like every model compared with it
    assert v["cropped_to_aspect"] == {"aspect": "257x145", "cropped": 12, "of": 12}
    assert "12 centre-cropped to 257x145" in proc.stdout
    b = v["baseline"]
    assert b["model"] == "float32, output stride 8, 513x513" and b["latency_ms"] > 0 and b["size_bytes"] > 0
    assert 0.8 < b["agreement"] <= 1 and 0.8 < b["reference_agreement"] <= 1
    assert b["person_iou"] > 0.8
    assert b["miou_drop_points"] == pytest.approx(100 * (b["miou"] - v["model"]["miou"]))
    assert b["reference_miou_drop_points"] == pytest.approx(100 * (b["miou"] - v["reference"]["miou"]))
    # a model that is the baseline's shape and stride gets no baseline
    same = tmp_path / "ref.tflite"
    proc = convert(tiny_pb, "-o", same, "--quant", "dynamic", "--eval", photos, "--size", "513", "-q")
    assert proc.returncode == 0, proc.stderr
    card = json.loads(same.with_suffix(".json").read_text())
    assert card["output_stride"] == 8 and "baseline" not in card["validation"]
    assert card["validation"]["cropped_to_aspect"] is None  # a square model: letterboxing is its use
    assert "vs float32" not in proc.stdout
    # the validate command takes a baseline too
    proc = convert("validate", out, "--reference", same, "--baseline", same, "--eval", photos, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["baseline"]["agreement"] > 0.8


@pytest.mark.parametrize("args,needle", [
    (["--size", "513x288", "--output-stride", "16"],
     "513x288 at output stride 16: height must be 16k+1, e.g. 273 or 289"),
    (["--size", "500x289", "--output-stride", "16"], "width must be 16k+1, e.g. 497 or 513"),
    (["--size", "512"], "512x512 at output stride 8: width and height must be 8k+1, e.g. 505 or 513"),
    (["--size", "257x145", "--output-stride", "16"], None),  # valid: reaches the calibration check
    (["--size", "8", "--output-stride", "8"], "e.g. 9"),
    (["--size", "513x"], "expected N or WxH (e.g. 513 or 513x289), got '513x'"),
    (["--size", "0"], "sizes must be positive"),
    (["--output-stride", "32"], "invalid choice: 32 (choose from 8, 16)"),
    (["--output-stride", "x"], "invalid int value"),
])
def test_bad_sizes_and_strides_get_one_line(args, needle, tiny_pb, tmp_path, convert_main):
    message = one_line_error(convert_main(tiny_pb, "-o", tmp_path / "a.tflite", *args))
    assert (needle or "needs real calibration images") in message, message


def test_graphs_without_the_expected_structure(tmp_path, convert, convert_main):
    plain = tmp_path / "plain.pb"
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [1, 33, 33, 3], name="sub_7")
        tf.nn.conv2d(x, np.ones((1, 1, 3, 21), np.float32), 1, "SAME", name="logits/semantic/BiasAdd")
    plain.write_bytes(graph.as_graph_def().SerializeToString())
    assert "no MobileNetV2 blocks" in one_line_error(
        convert_main(plain, "-o", tmp_path / "a.tflite", "--quant", "float32", "--output-stride", "16"))
    # without --output-stride such a graph converts as before, at any size
    proc = convert(plain, "-o", tmp_path / "b.tflite", "--quant", "float32", "--size", "40x30", "-q")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "b.json").read_text())["output_stride"] is None

    odd = tmp_path / "odd.pb"  # an atrous block whose BatchToSpaceND is missing
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [1, 33, 33, 3], name="sub_7")
        s2b = tf.space_to_batch_nd(x, [2, 2], [[2, 3], [2, 3]], name="MobilenetV2/expanded_conv/depthwise/s2b")
        y = tf.nn.depthwise_conv2d(s2b, np.ones((3, 3, 3, 1), np.float32), [1, 1, 1, 1], "VALID",
                                   name="MobilenetV2/expanded_conv/depthwise/depthwise")
        tf.identity(y, name="logits/semantic/BiasAdd")
    odd.write_bytes(graph.as_graph_def().SerializeToString())
    message = one_line_error(convert_main(odd, "-o", tmp_path / "c.tflite", "--quant", "float32"))
    assert "SpaceToBatchND without its BatchToSpaceND" in message


def test_size_parsing_and_rules():
    assert shapes.parse_size("513") == (513, 513) and shapes.parse_size("513x289") == (289, 513)
    assert shapes.parse_size(" 385X513 ") == (513, 385)
    for bad in ("", "x", "513x289x3", "-5", "5.0"):
        with pytest.raises(argparse.ArgumentTypeError):
            shapes.parse_size(bad)
    assert shapes.nearest_valid(288, 16) == (273, 289) and shapes.nearest_valid(5, 16) == (17,)
    assert shapes.feature_map((289, 513), 16) == (19, 33) and shapes.feature_map(513, 8) == (65, 65)
    shapes.check((289, 513), 16)
    shapes.check((290, 513), None)  # stride unknown: not checked
    with pytest.raises(InputError, match="height must be 8k\\+1, e.g. 281 or 289"):
        shapes.check((288, 513), 8)
    with pytest.raises(GraphError, match="reaches output stride 16 at most"):
        stride.schedule(2, [1, 2, 1, 2, 1, 1, 2] + [1] * 10, 32)
