"""`pibokeh` end to end: every command, video in/out, which model is used, and bad input.

Runs on the tiny test model (red things are "person") and synthetic pictures, so it needs nothing
from ../shared except where a real registry model is the point (fetch)."""
from __future__ import annotations

import http.server
import json
import os
import pty
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from tests.conftest import CORAL_DM05, FLOAT257, MODELS, TINY, TINY_LABELS, need
from tests.helpers import command, iou, one_line_error, scene, sha, write_clip


def write_scene(path: Path, size=(320, 240), t: int = 0) -> np.ndarray:
    image, mask = scene(size, t)
    cv2.imwrite(str(path), image)
    return mask


@pytest.fixture
def photos(tmp_path) -> Path:
    """A folder of a few pictures, one in a subfolder, plus a 16-bit, a gray and an RGBA one."""
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    write_scene(folder / "a.jpg", t=0)
    write_scene(folder / "b.jpg", (240, 320), t=3)
    write_scene(folder / "sub" / "c.jpg", t=6)
    bgr = scene((200, 150), 2)[0]
    cv2.imwrite(str(folder / "deep16.png"), bgr.astype(np.uint16) * 257)
    cv2.imwrite(str(folder / "gray.png"), cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(folder / "rgba.png"), np.dstack([bgr, np.full(bgr.shape[:2], 200, np.uint8)]))
    (folder / "notes.txt").write_text("not an image, and not picked up from a folder")
    return folder


def test_blur_a_folder_keeps_names_formats_and_inputs(photos, tmp_path, pibokeh):
    before = {p: sha(p) for p in photos.rglob("*") if p.is_file()}
    out = tmp_path / "out"
    proc = pibokeh("blur", photos, "-o", out, "--model", TINY, "--threads", "2")
    assert proc.returncode == 0, proc.stderr
    assert "6 files done" in proc.stderr
    names = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert names == ["a.jpg", "b.jpg", "deep16.png", "gray.png", "rgba.png", "sub/c.jpg"]
    assert cv2.imread(str(out / "deep16.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    assert cv2.imread(str(out / "gray.png"), cv2.IMREAD_UNCHANGED).ndim == 2
    rgba = cv2.imread(str(out / "rgba.png"), cv2.IMREAD_UNCHANGED)
    assert rgba.shape[2] == 4 and np.all(rgba[..., 3] == 200)
    assert {p: sha(p) for p in photos.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("model", [TINY, TINY_LABELS], ids=["scores", "labels"])
def test_blur_keeps_the_person_and_blurs_the_rest(model, tmp_path, pibokeh):
    truth = write_scene(tmp_path / "in.png", (480, 360))
    out = tmp_path / "out"
    pibokeh("blur", tmp_path / "in.png", "-o", out, "--model", model, check=True)
    pibokeh("mask", tmp_path / "in.png", "-o", out / "m", "--model", model, check=True)
    original, blurred = cv2.imread(str(tmp_path / "in.png")), cv2.imread(str(out / "in.png"))
    mask = cv2.imread(str(out / "m" / "in.png"), cv2.IMREAD_UNCHANGED)
    assert mask.shape == truth.shape and set(np.unique(mask)) <= {0, 255} and iou(mask, truth) > 0.9
    person, rest = mask == 255, cv2.dilate(mask, np.ones((15, 15))) == 0
    diff = np.abs(original.astype(int) - blurred.astype(int)).mean(axis=2)
    assert diff[person].mean() == 0  # PNG: the foreground is the original, pixel for pixel
    lap = lambda img: np.abs(cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.CV_32F))
    assert lap(blurred)[rest].mean() < 0.1 * lap(original)[rest].mean()  # the stripes are gone


@pytest.mark.parametrize("background,bgr", [("green", (0, 255, 0)), ("#0000ff", (255, 0, 0)), ("255,128,0", (0, 128, 255))])
def test_solid_colour_backgrounds(background, bgr, tmp_path, pibokeh):
    truth = write_scene(tmp_path / "in.png")
    out = tmp_path / "out"
    pibokeh("blur", tmp_path / "in.png", "-o", out, "--model", TINY, "--background", background, check=True)
    far = cv2.dilate(truth, np.ones((9, 9))) == 0
    assert np.abs(cv2.imread(str(out / "in.png"))[far].astype(int) - bgr).max() == 0


def test_transparent_background_and_replacement_image(tmp_path, pibokeh):
    write_scene(tmp_path / "in.jpg")
    out = tmp_path / "out"
    pibokeh("blur", tmp_path / "in.jpg", "-o", out, "--model", TINY, "--background", "transparent", check=True)
    pibokeh("mask", tmp_path / "in.jpg", "-o", out / "m", "--model", TINY, check=True)
    png = cv2.imread(str(out / "in.png"), cv2.IMREAD_UNCHANGED)
    mask = cv2.imread(str(out / "m" / "in.png"), cv2.IMREAD_UNCHANGED)
    assert png.shape[2] == 4 and np.array_equal(png[..., 3], mask) and mask.any()
    behind = tmp_path / "beach.png"
    cv2.imwrite(str(behind), np.full((50, 80, 3), (200, 100, 0), np.uint8))
    pibokeh("blur", tmp_path / "in.jpg", "-o", out / "r", "--model", TINY, "--background", behind,
            "--feather", "9", check=True)
    replaced = cv2.imread(str(out / "r" / "in.jpg")).astype(int)
    far = cv2.dilate(mask, np.ones((25, 25))) == 0
    assert np.abs(replaced[far] - (200, 100, 0)).mean() < 4


def test_video_in_video_out(tmp_path, pibokeh):
    clip = write_clip(tmp_path / "clip.mp4", frames=12, size=(320, 240), fps=29)
    out = tmp_path / "out"
    pibokeh("blur", clip, "-o", out, "--model", TINY, check=True)
    pibokeh("mask", clip, "-o", out / "masks", "--model", TINY, check=True)
    for produced in (out / "clip.mp4", out / "masks" / "clip.mp4"):
        with av.open(str(produced)) as container:  # H.264, what browsers play (no longer OpenCV's mp4v)
            assert container.streams.video[0].codec_context.name == "h264"
        cap = cv2.VideoCapture(str(produced))
        assert int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == 320 and int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == 240
        assert abs(cap.get(cv2.CAP_PROP_FPS) - 29) < 0.5
        frames = 0
        while cap.read()[0]:
            frames += 1
        assert frames == 12
    assert not list(out.rglob(".*part*"))


@pytest.fixture
def labelled(tmp_path) -> Path:
    """Pictures with PASCAL-style ground truth: the red block is class 15 (person), the rest 0."""
    folder = tmp_path / "labelled"
    folder.mkdir()
    for t in range(4):
        mask = write_scene(folder / f"s{t}.jpg", t=3 * t)
        truth = np.where(mask > 0, 15, 0).astype(np.uint8)
        truth[cv2.morphologyEx(mask, cv2.MORPH_GRADIENT, np.ones((3, 3))) > 0] = 255  # void border, as VOC
        cv2.imwrite(str(folder / f"s{t}_gt.png"), truth)
    return folder


def test_eval_json_and_table(labelled, pibokeh):
    proc = pibokeh("eval", "--data", labelled, "--model", TINY, "--json", check=True)
    result = json.loads(proc.stdout)
    assert set(result) >= {"pixel_accuracy", "miou", "iou", "images"} and result["images"] == 4
    assert set(result["iou"]) == {"background", "person"} and result["iou"]["person"] > 0.9
    assert result["miou"] == pytest.approx((result["iou"]["person"] + result["iou"]["background"]) / 2)
    table = pibokeh("eval", "--data", labelled, "--model", TINY, check=True).stdout
    assert "mIoU" in table and "person" in table


def test_info(pibokeh):
    info = json.loads(pibokeh("info", "--model", TINY, "--json", check=True).stdout)
    assert info["input"]["shape"] == [1, 65, 65, 3] and info["input"]["dtype"] == "float32"
    assert info["output_kind"] == "scores" and info["backend"] == "ai_edge_litert"
    assert info["card"]["quantization"] == "float32"
    text = pibokeh("info", "--model", TINY_LABELS, "--backend", "tflite_runtime", "--threads", "1").stdout
    assert "labels" in text and "tflite_runtime" in text and "uint8" in text and "none (read from the tensors)" in text


def test_python_dash_m_is_the_same_command(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pibokeh", "info", "--model", str(TINY), "--json"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0 and json.loads(proc.stdout)["model"] == str(TINY)


# ---- which model ----------------------------------------------------------------------------------

def test_models_lists_where_it_looks_and_the_registry(tmp_path, pibokeh):
    listing = pibokeh("models", check=True).stdout
    assert "$PIBOKEH_MODEL" in listing and str(tmp_path / "home" / "models") in listing
    assert str(tmp_path / "cache") in listing
    assert "deeplabv3_mnv2_pascal_quant" in listing and "deeplabv3_257_mv_gpu" in listing


def test_a_converted_model_in_the_data_folder_is_the_default(tmp_path, pibokeh):
    models = tmp_path / "home" / "models"
    models.mkdir(parents=True)
    shutil.copy(TINY, models / "mine.tflite")
    shutil.copy(TINY.with_suffix(".json"), models / "mine.json")
    shutil.copy(TINY_LABELS, models / "no_card.tflite")  # without a card: not a converted model
    info = json.loads(pibokeh("info", "--json", check=True).stdout)
    assert info["model"] == str(models / "mine.tflite")
    listing = pibokeh("models", check=True).stdout
    assert "mine.tflite" in listing and "<- default" in listing and "no_card" not in listing
    # the environment wins over the data folder
    info = json.loads(pibokeh("info", "--json", env={"PIBOKEH_MODEL": str(TINY_LABELS)}, check=True).stdout)
    assert info["model"] == str(TINY_LABELS)


def test_default_model_from_the_environment_and_a_clear_error_without_one(tmp_path, pibokeh):
    message = one_line_error(pibokeh("info"))
    assert "no model found" in message and "pibokeh fetch" in message and str(tmp_path / "home") in message
    info = json.loads(pibokeh("info", "--json", env={"PIBOKEH_MODEL": str(TINY)}, check=True).stdout)
    assert info["model"] == str(TINY)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def mirror():
    """A real HTTP server on 127.0.0.1 serving a folder; yields (base URL, folder setter)."""
    state = {"dir": str(MODELS)}

    class Handler(QuietHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=state["dir"], **kwargs)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", state
    server.shutdown()


def test_fetch_downloads_and_verifies_then_becomes_the_default(mirror, tmp_path, pibokeh):
    need(MODELS)
    url, _ = mirror
    proc = pibokeh("fetch", "deeplabv3_mnv2_dm05_pascal_quant", "deeplabv3_257_mv_gpu", "--mirror", url)
    assert proc.returncode == 0, proc.stderr
    cache = tmp_path / "cache"
    assert sha(cache / "deeplabv3_257_mv_gpu.tflite") == sha(FLOAT257)
    assert sha(cache / "deeplabv3_mnv2_dm05_pascal_quant.tflite") == sha(CORAL_DM05)
    assert "downloaded" in pibokeh("models").stdout
    # no --model: the cached registry model is used
    info = json.loads(pibokeh("info", "--json", check=True).stdout)
    assert Path(info["model"]).parent == cache
    # by registry name
    info = json.loads(pibokeh("info", "--json", "--model", "deeplabv3_257_mv_gpu", check=True).stdout)
    assert info["input"]["shape"][1] == 257


def test_fetch_rejects_a_corrupted_download(mirror, tmp_path, pibokeh_main):
    url, state = mirror
    bad = tmp_path / "bad"
    bad.mkdir()
    data = bytearray(need(FLOAT257).read_bytes())
    data[5000] ^= 0xFF
    (bad / FLOAT257.name).write_bytes(bytes(data))
    state["dir"] = str(bad)
    proc = pibokeh_main("fetch", "deeplabv3_257_mv_gpu", "--mirror", url)
    assert "checksum mismatch" in one_line_error(proc)
    assert not list((tmp_path / "cache").glob("*"))  # not even a temporary file
    assert "HTTP 404" in one_line_error(pibokeh_main("fetch", "deeplabv3_mnv2_pascal_quant", "--mirror", url))
    assert "unknown model" in one_line_error(pibokeh_main("fetch", "nonsense", "--mirror", url))


# ---- bad input ----------------------------------------------------------------------------------

@pytest.fixture
def bad_files(tmp_path) -> dict[str, Path]:
    folder = tmp_path / "bad"
    folder.mkdir()
    write_scene(folder / "good.jpg")
    (folder / "empty.jpg").write_bytes(b"")
    data = (folder / "good.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (folder / "text.png").write_text("this is not a picture")
    (folder / "garbage.mp4").write_bytes(b"\x00\x01garbage" * 1000)
    return {p.stem: p for p in folder.iterdir()}


def test_a_batch_goes_on_past_bad_files_and_reports_them(bad_files, tmp_path, pibokeh):
    out = tmp_path / "out"
    args = [bad_files[k] for k in ("empty", "truncated", "good", "text", "garbage")]
    proc = pibokeh("blur", *args, tmp_path / "missing.jpg", "-o", out, "--model", TINY)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    for name, reason in (("empty.jpg", "empty file"), ("text.png", "not a readable image"),
                         ("garbage.mp4", "not a readable video"), ("missing.jpg", "no such file")):
        assert any(name in line and reason in line for line in proc.stderr.splitlines()), (name, proc.stderr)
    assert (out / "good.jpg").is_file()
    assert not (out / "empty.jpg").exists() and not list(out.glob(".*"))
    assert "1 file done" in proc.stderr


def test_truncated_jpeg_is_an_error_or_a_decoded_partial_image_never_a_crash(bad_files, tmp_path, pibokeh):
    proc = pibokeh("mask", bad_files["truncated"], "-o", tmp_path / "o", "--model", TINY)
    assert proc.returncode in (0, 2) and "Traceback" not in proc.stderr


def test_all_inputs_bad_exits_2(bad_files, tmp_path, pibokeh_main):
    proc = pibokeh_main("mask", bad_files["empty"], bad_files["text"], "-o", tmp_path / "o", "--model", TINY)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_output_equal_to_input_is_refused_and_the_input_kept(tmp_path, pibokeh_main):
    folder = tmp_path / "in"
    folder.mkdir()
    image = folder / "a.jpg"
    write_scene(image)
    before = sha(image)
    proc = pibokeh_main("blur", image, "-o", folder, "--model", TINY)
    assert proc.returncode == 2 and "would overwrite an input" in proc.stderr and "Traceback" not in proc.stderr
    assert sha(image) == before


def test_unwritable_output_folder(tmp_path, pibokeh_main):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    image = tmp_path / "a.jpg"
    write_scene(image)
    assert "cannot create the output folder" in one_line_error(pibokeh_main("blur", image, "-o", blocker / "sub",
                                                                            "--model", TINY))
    assert "output folder is not a folder" in one_line_error(pibokeh_main("blur", image, "-o", blocker, "--model",
                                                                          TINY))


@pytest.mark.parametrize("args,needle", [
    (["--classes", "persn"], "unknown class 'persn'"),
    (["--blur-kernel", "250"], "odd"),
    (["--blur-kernel", "999999999"], "from 1 to 1001"),
    (["--feather", "100001"], "from 0 to 1001"),
    (["--threads", "9999999999"], "from 1 to 64"),
    (["--background", "nocolour"], "not blur, transparent, a colour or an image file"),
    (["--model", "/nonexistent/model.tflite"], "no such model file"),
    (["--backend", "nope"], "invalid choice"),
])
def test_bad_options_get_one_line(args, needle, tmp_path, pibokeh_main):
    image = tmp_path / "a.jpg"
    write_scene(image)
    extra = [] if "--model" in args else ["--model", str(TINY)]
    message = one_line_error(pibokeh_main("blur", image, "-o", tmp_path / "o", *extra, *args))
    assert needle in message, message


def test_not_a_model(tmp_path, pibokeh_main):
    fake = tmp_path / "fake.tflite"
    fake.write_text("nope")
    assert "not a TFLite model" in one_line_error(pibokeh_main("info", "--model", fake))


def test_progress_bar_on_a_terminal_only(tmp_path):
    """The bar is drawn when stderr is a terminal, and not with --quiet or into a pipe."""
    images = [tmp_path / f"{i}.jpg" for i in range(3)]
    for t, image in enumerate(images):
        write_scene(image, t=t)
    base = command() + ["mask", *map(str, images), "--model", str(TINY)]

    def stderr_on_tty(*extra: str) -> str:
        leader, follower = pty.openpty()
        proc = subprocess.Popen(base + ["-o", str(tmp_path / "o"), *extra], stderr=follower, stdout=subprocess.DEVNULL)
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        proc.wait(timeout=120)
        os.close(leader)
        return b"".join(chunks).decode(errors="replace")

    assert "3/3" in stderr_on_tty() and "#" in stderr_on_tty()
    assert "3/3" not in stderr_on_tty("--quiet")
    piped = subprocess.run(base + ["-o", str(tmp_path / "p")], capture_output=True, text=True)
    assert "3/3" not in piped.stderr and "3 files done" in piped.stderr


def test_a_reader_that_stops_early_gets_no_traceback():
    # `pibokeh info | head -n 2`: the reader is gone before the command writes
    proc = subprocess.Popen([sys.executable, "-m", "pibokeh", "info", "--model", str(TINY)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()
    stderr = proc.stderr.read()
    assert proc.wait(timeout=60) == 141 and stderr == ""
