"""pibokeh-convert on a tiny DeepLab-shaped graph: every mode, every source form, every bad input."""
from __future__ import annotations

import hashlib
import http.server
import io
import json
import subprocess
import tarfile
import threading
from pathlib import Path

import cv2
import pytest

from tests.full.conftest import run_tool
from tests.helpers import iou, one_line_error, red_square

MODES = ["float32", "fp16", "dynamic", "int8"]


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_converts_and_runs_in_the_edge_environment(mode, tiny_pb, photos, tmp_path, convert,
                                                              edge_python):
    out = tmp_path / f"tiny_{mode}.tflite"
    extra = ["--calib", photos] if mode == "int8" else []
    proc = convert(tiny_pb, "-o", out, "--quant", mode, "--size", "257", "--quiet", *extra)
    assert proc.returncode == 0, proc.stderr
    assert "folded 1 Dequantize" in proc.stderr
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["quantization"] == mode and card["input"]["size"] == 257 and card["output"]["kind"] == "scores"
    assert card["source"]["sha256"] == hashlib.sha256(tiny_pb.read_bytes()).hexdigest()
    assert len(card["labels"]) == 21 and card["cut"]["input"] == "sub_7"
    if mode == "int8":
        assert card["calibration"]["images"] == 24  # every image of the folder, ground truths included
    # the edge-only environment runs it, without TensorFlow
    image, truth = red_square((150, 200))
    cv2.imwrite(str(tmp_path / "red.png"), image)
    masks = tmp_path / "masks"
    proc = run_tool("pibokeh", "mask", tmp_path / "red.png", "-o", masks, "--model", out, python=edge_python)
    assert proc.returncode == 0, proc.stderr
    mask = cv2.imread(str(masks / "red.png"), cv2.IMREAD_UNCHANGED)
    assert iou(mask, truth) > 0.85
    no_tf = subprocess.run([edge_python, "-c", "import tensorflow"], capture_output=True)
    assert no_tf.returncode != 0, "the edge environment must not have TensorFlow"


def test_other_input_sizes(tiny_pb, tmp_path, convert, edge_python):
    out = tmp_path / "small.tflite"
    assert convert(tiny_pb, "-o", out, "--quant", "float32", "--size", "33", "-q").returncode == 0
    assert json.loads(out.with_suffix(".json").read_text())["input"]["size"] == 33
    info = json.loads(run_tool("pibokeh", "info", "--model", out, "--json", python=edge_python).stdout)
    assert info["input"]["shape"] == [1, 33, 33, 3] and info["output"]["shape"] == [1, 33, 33, 21]


def test_labels_output_and_uint8_input(tiny_pb, photos, tmp_path, convert, edge_python):
    out = tmp_path / "labels.tflite"
    proc = convert(tiny_pb, "-o", out, "--quant", "int8", "--keep-float", "none", "--output", "labels",
                   "--calib", photos, "--size", "257", "-q")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(run_tool("pibokeh", "info", "--model", out, "--json", python=edge_python).stdout)
    assert info["output_kind"] == "labels" and info["output"]["shape"] == [1, 257, 257]
    assert info["input"]["dtype"] == "uint8"


def test_logits_output_stops_at_the_network_and_makes_the_same_mask(tiny_pb, photos, tmp_path, convert, edge_python):
    """--output logits: no upsampling and no arg-max in the model; the card and the runtime say so, and
    the edge runtime makes the mask from the scores (its margin, upsampled once) close to the scores
    head's."""
    logits, scores = tmp_path / "logits.tflite", tmp_path / "scores.tflite"
    for out, head in ((logits, "logits"), (scores, "scores")):
        proc = convert(tiny_pb, "-o", out, "--quant", "int8", "--calib", photos, "--size", "257", "--output", head, "-q")
        assert proc.returncode == 0, proc.stderr
    card = json.loads(logits.with_suffix(".json").read_text())
    assert card["output"]["kind"] == "logits" and card["cut"]["upsampling"].startswith("none")
    info = json.loads(run_tool("pibokeh", "info", "--model", logits, "--json", python=edge_python).stdout)
    assert info["output_kind"] == "logits" and info["output"]["shape"][1] < 257 and info["output"]["shape"][3] == 21
    image, truth = red_square((150, 200))
    cv2.imwrite(str(tmp_path / "red.png"), image)
    for model in (logits, scores):
        proc = run_tool("pibokeh", "mask", tmp_path / "red.png", "-o", tmp_path / model.stem, "--model", model,
                        python=edge_python)
        assert proc.returncode == 0, proc.stderr
    a, b = (cv2.imread(str(tmp_path / m.stem / "red.png"), cv2.IMREAD_UNCHANGED) for m in (logits, scores))
    assert iou(a, truth) > 0.85 and (a == b).mean() > 0.97


def test_eval_writes_the_report_into_the_card_and_a_picture(tiny_pb, photos, tmp_path, convert):
    out = tmp_path / "checked.tflite"
    proc = convert(tiny_pb, "-o", out, "--quant", "int8", "--calib", photos, "--eval", photos, "--size", "257", "-q")
    assert proc.returncode == 0, proc.stderr
    assert "label agreement" in proc.stdout and "tflite_runtime" in proc.stdout
    v = json.loads(out.with_suffix(".json").read_text())["validation"]
    assert v["images"] == 12 and 0.9 < v["agreement"] <= 1.0
    assert v["model"]["person_iou"] > 0.8 and v["reference"]["person_iou"] > 0.8
    assert v["size_ratio"] > 0 and v["latency_ms"]["model"] > 0  # tiny: int8 overhead can outweigh
    assert "miou" in v["backends"]["tflite_runtime"], v["backends"]
    picture = cv2.imread(str(out.with_suffix(".png")))
    assert picture is not None and picture.shape[1] == 4 * 256
    # validate as its own command, against a float model
    ref = tmp_path / "ref.tflite"
    assert convert(tiny_pb, "-o", ref, "--quant", "float32", "--size", "257", "-q").returncode == 0
    proc = convert("validate", out, "--reference", ref, "--eval", photos, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["agreement"] > 0.9


def make_tarball(path: Path, members: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return path


def test_model_zoo_tarball_source(tiny_pb, tmp_path, convert):
    tarball = make_tarball(tmp_path / "deeplab_tiny_2018.tar.gz",
                           {"deeplab_tiny/frozen_inference_graph.pb": tiny_pb.read_bytes(),
                            "deeplab_tiny/model.ckpt.index": b"x"})
    out = tmp_path / "from_tar.tflite"
    proc = convert(tarball, "-o", out, "--quant", "float32", "--size", "257", "-q")
    assert proc.returncode == 0, proc.stderr
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["source"]["graph_in_tarball"].endswith("frozen_inference_graph.pb")


@pytest.mark.parametrize("members,links,needle", [
    ({"../frozen_inference_graph.pb": b"x"}, None, "outside the extraction folder"),
    ({"/etc/frozen_inference_graph.pb": b"x"}, None, "outside the extraction folder"),
    ({"a/notes.txt": b"x"}, {"a/frozen_inference_graph.pb": "/etc/passwd"}, "links and special files"),
    # only the graph is ever extracted: an unsafe member beside it is left in the archive
    ({"../evil.pb": b"x", "a/model.ckpt.index": b"x"}, None, "holds no frozen_inference_graph.pb"),
    ({"a/frozen_inference_graph.pb": b"x", "b/frozen_inference_graph.pb": b"y"}, None, "which one to convert"),
])
def test_unsafe_tarballs_are_refused(members, links, needle, tmp_path, convert_main):
    tarball = make_tarball(tmp_path / "bad.tar.gz", members, links)
    proc = convert_main(tarball, "-o", tmp_path / "x.tflite", "--quant", "float32")
    assert needle in one_line_error(proc)
    assert not (tmp_path.parent / "evil.pb").exists()


@pytest.fixture
def mirror(tmp_path):
    folder = tmp_path / "mirror"
    folder.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(folder), **k)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", folder
    server.shutdown()


def test_zoo_name_is_downloaded_verified_and_converted(tiny_pb, tmp_path, mirror, convert, convert_main):
    url, folder = mirror
    tarball = make_tarball(folder / "tiny_2018.tar.gz", {"tiny/frozen_inference_graph.pb": tiny_pb.read_bytes()})
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    registry = tmp_path / "zoo.json"

    def zoo(sha: str) -> dict:
        registry.write_text(json.dumps({"models": [{"name": "tiny", "url": "http://example.invalid/tiny_2018.tar.gz",
                                                    "sha256": sha}]}))
        return {"PIBOKEH_ZOO": str(registry), "PIBOKEH_CACHE": str(tmp_path / "cache")}

    bad = convert_main("tiny", "-o", tmp_path / "bad.tflite", "--quant", "float32", "--mirror", url, env=zoo("0" * 64))
    assert "checksum mismatch" in one_line_error(bad)
    out = tmp_path / "zoo.tflite"
    proc = convert("tiny", "-o", out, "--quant", "float32", "--size", "257", "--mirror", url, "-q", env=zoo(digest))
    assert proc.returncode == 0, proc.stderr
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["source"]["zoo"] == "tiny" and card["source"]["sha256"] == digest


def test_bad_inputs_get_one_line_and_exit_2(tiny_pb, photos, tmp_path, convert_main):
    text = tmp_path / "notes.pb"
    text.write_text("not a graph at all")
    assert "no such file" in one_line_error(convert_main(tmp_path / "missing.pb", "-o", tmp_path / "a.tflite"))
    assert "not a TensorFlow frozen graph" in one_line_error(convert_main(text, "-o", tmp_path / "a.tflite"))
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "holds no images" in one_line_error(
        convert_main(tiny_pb, "-o", tmp_path / "a.tflite", "--calib", empty))
    assert "needs real calibration images" in one_line_error(convert_main(tiny_pb, "-o", tmp_path / "a.tflite"))
    assert "must end in .tflite" in one_line_error(
        convert_main(tiny_pb, "-o", tmp_path / "a.bin", "--quant", "float32"))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert "the output folder is not a folder" in one_line_error(
        convert_main(tiny_pb, "-o", blocker / "a.tflite", "--quant", "float32"))
    assert "cannot create the output folder" in one_line_error(
        convert_main(tiny_pb, "-o", blocker / "sub" / "a.tflite", "--quant", "float32"))
    assert "no node 'nope'" in one_line_error(
        convert_main(tiny_pb, "-o", tmp_path / "a.tflite", "--quant", "float32", "--output-tensor", "nope"))


def test_a_graph_that_is_not_deeplab(tmp_path, convert_main):
    import tensorflow as tf
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [1, 8], name="input")
        tf.identity(x * 2.0, name="output")
    pb = tmp_path / "other.pb"
    pb.write_bytes(graph.as_graph_def().SerializeToString())
    message = one_line_error(convert_main(pb, "-o", tmp_path / "a.tflite", "--quant", "float32"))
    assert "none of sub_7" in message and "--input-tensor" in message
