"""`pibokeh` end to end: every command, video in/out, and every kind of bad input."""
from __future__ import annotations

import hashlib
import http.server
import json
import os
import pty
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import CORAL, CORAL_DM05, FLOAT257, MODELS, VIDEO, VOC, need


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def one_line_error(proc, code: int = 2) -> str:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    return "\n".join(lines)


@pytest.fixture
def photos(tmp_path) -> Path:
    """A folder of a few real photos, one in a subfolder, plus a 16-bit, a gray and an RGBA copy."""
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    images = sorted(need(VOC).glob("voc2012_*.jpg"))[:3]
    for image in images[:2]:
        shutil.copy(image, folder)
    shutil.copy(images[2], folder / "sub")
    bgr = cv2.imread(str(images[0]))
    cv2.imwrite(str(folder / "deep16.png"), bgr.astype(np.uint16) * 257)
    cv2.imwrite(str(folder / "gray.png"), cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(folder / "rgba.png"), np.dstack([bgr, np.full(bgr.shape[:2], 200, np.uint8)]))
    (folder / "notes.txt").write_text("not an image, and not picked up from a folder")
    return folder


def test_blur_a_folder_keeps_names_formats_and_inputs(photos, tmp_path, pibokeh):
    before = {p: sha(p) for p in photos.rglob("*") if p.is_file()}
    out = tmp_path / "out"
    proc = pibokeh("blur", photos, "-o", out, "--model", need(CORAL), "--threads", "2")
    assert proc.returncode == 0, proc.stderr
    assert "6 files done" in proc.stderr
    names = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert names == sorted(["deep16.png", "gray.png", "rgba.png", "sub/" + next((photos / "sub").iterdir()).name]
                           + [p.name for p in photos.glob("voc2012_*.jpg")])
    assert cv2.imread(str(out / "deep16.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    assert cv2.imread(str(out / "gray.png"), cv2.IMREAD_UNCHANGED).ndim == 2
    rgba = cv2.imread(str(out / "rgba.png"), cv2.IMREAD_UNCHANGED)
    assert rgba.shape[2] == 4 and np.all(rgba[..., 3] == 200)
    assert {p: sha(p) for p in photos.rglob("*") if p.is_file()} == before


def test_blur_keeps_the_person_and_blurs_the_rest(tmp_path, pibokeh):
    image = need(VOC) / "voc2012_2007_000129.jpg"
    out = tmp_path / "out"
    pibokeh("blur", image, "-o", out, "--model", need(CORAL), check=True)
    pibokeh("mask", image, "-o", out, "--model", CORAL, check=True)
    original, blurred = cv2.imread(str(image)), cv2.imread(str(out / image.name))
    mask = cv2.imread(str(out / f"{image.stem}.png"), cv2.IMREAD_UNCHANGED)
    person, rest = mask == 255, mask == 0
    assert person.mean() > 0.1 and rest.mean() > 0.1
    diff = np.abs(original.astype(int) - blurred.astype(int)).mean(axis=2)
    assert diff[person].mean() < 2  # only JPEG re-encoding
    assert diff[rest].mean() > 8
    # the background lost its detail: far less high-frequency energy than before
    lap = lambda img: np.abs(cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.CV_32F))
    assert lap(blurred)[cv2.erode(rest.astype(np.uint8), np.ones((9, 9))) > 0].mean() < \
        0.25 * lap(original)[rest].mean()


@pytest.mark.parametrize("background,check", [
    ("green", lambda out, rest: np.abs(out[rest].astype(int) - (0, 255, 0)).mean() < 4),
    ("#0000ff", lambda out, rest: np.abs(out[rest].astype(int) - (255, 0, 0)).mean() < 4),
])
def test_solid_colour_backgrounds(background, check, tmp_path, pibokeh):
    image = need(VOC) / "voc2012_2007_000129.jpg"
    out = tmp_path / "out"
    pibokeh("blur", image, "-o", out, "--model", need(CORAL), "--background", background, check=True)
    pibokeh("mask", image, "-o", out / "m", "--model", CORAL, check=True)
    mask = cv2.imread(str(out / "m" / f"{image.stem}.png"), cv2.IMREAD_UNCHANGED)
    rest = cv2.erode(mask, np.ones((5, 5))) == 0
    assert check(cv2.imread(str(out / image.name)), rest & (cv2.dilate(mask, np.ones((5, 5))) == 0))


def test_transparent_background_and_replacement_image(tmp_path, pibokeh):
    image = need(VOC) / "voc2012_2007_000129.jpg"
    out = tmp_path / "out"
    pibokeh("blur", image, "-o", out, "--model", need(CORAL), "--background", "transparent", check=True)
    pibokeh("mask", image, "-o", out / "m", "--model", CORAL, check=True)
    png = cv2.imread(str(out / f"{image.stem}.png"), cv2.IMREAD_UNCHANGED)
    mask = cv2.imread(str(out / "m" / f"{image.stem}.png"), cv2.IMREAD_UNCHANGED)
    assert png.shape[2] == 4 and np.array_equal(png[..., 3], mask)
    behind = tmp_path / "beach.png"
    cv2.imwrite(str(behind), np.full((50, 80, 3), (200, 100, 0), np.uint8))
    pibokeh("blur", image, "-o", out / "r", "--model", CORAL, "--background", behind, "--feather", "9",
            check=True)
    replaced = cv2.imread(str(out / "r" / image.name)).astype(int)
    far = cv2.dilate(mask, np.ones((25, 25))) == 0
    assert np.abs(replaced[far] - (200, 100, 0)).mean() < 4


def test_video_in_video_out(tmp_path, pibokeh):
    clip = tmp_path / "clip.mp4"
    source = cv2.VideoCapture(str(need(VIDEO)))
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 29, (854, 480))
    for _ in range(12):
        ok, frame = source.read()
        writer.write(frame)
    writer.release()
    out = tmp_path / "out"
    pibokeh("blur", clip, "-o", out, "--model", need(CORAL_DM05), check=True)
    pibokeh("mask", clip, "-o", out / "masks", "--model", CORAL_DM05, check=True)
    for produced in (out / "clip.mp4", out / "masks" / "clip.mp4"):
        cap = cv2.VideoCapture(str(produced))
        assert int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == 854 and int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == 480
        assert abs(cap.get(cv2.CAP_PROP_FPS) - 29) < 0.5
        frames = 0
        while cap.read()[0]:
            frames += 1
        assert frames == 12
    assert not list(out.rglob(".*part*"))


def test_eval_json_and_table(pibokeh):
    proc = pibokeh("eval", "--data", need(VOC), "--model", need(CORAL_DM05), "--json", check=True)
    result = json.loads(proc.stdout)
    assert set(result) >= {"pixel_accuracy", "miou", "iou", "images"}
    assert 0.5 < result["miou"] < 1 and "person" in result["iou"] and result["images"] == 31
    table = pibokeh("eval", "--data", VOC, "--model", CORAL_DM05, check=True).stdout
    assert "mIoU" in table and "person" in table


def test_info_and_models(pibokeh):
    info = json.loads(pibokeh("info", "--model", need(FLOAT257), "--json", check=True).stdout)
    assert info["input"]["shape"] == [1, 257, 257, 3] and info["input"]["dtype"] == "float32"
    assert info["output_kind"] == "scores" and info["backend"] == "ai_edge_litert"
    text = pibokeh("info", "--model", CORAL, "--backend", "tflite_runtime", "--threads", "1").stdout
    assert "labels" in text and "tflite_runtime" in text and "uint8" in text
    listing = pibokeh("models", check=True).stdout
    assert "deeplabv3_mnv2_pascal_quant" in listing and "deeplabv3_257_mv_gpu" in listing


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


def test_fetch_rejects_a_corrupted_download(mirror, tmp_path, pibokeh):
    url, state = mirror
    bad = tmp_path / "bad"
    bad.mkdir()
    data = bytearray(need(FLOAT257).read_bytes())
    data[5000] ^= 0xFF
    (bad / FLOAT257.name).write_bytes(bytes(data))
    state["dir"] = str(bad)
    proc = pibokeh("fetch", "deeplabv3_257_mv_gpu", "--mirror", url)
    assert "checksum mismatch" in one_line_error(proc)
    assert not list((tmp_path / "cache").glob("*"))  # not even a temporary file
    assert "HTTP 404" in one_line_error(pibokeh("fetch", "deeplabv3_mnv2_pascal_quant", "--mirror", url))
    assert "unknown model" in one_line_error(pibokeh("fetch", "nonsense", "--mirror", url))


def test_default_model_from_the_environment_and_a_clear_error_without_one(tmp_path, pibokeh):
    proc = pibokeh("info")
    message = one_line_error(proc)
    assert "no model found" in message and "pibokeh fetch" in message and "\n" not in message
    info = json.loads(pibokeh("info", "--json", env={"PIBOKEH_MODEL": str(need(FLOAT257))}, check=True).stdout)
    assert info["model"] == str(FLOAT257)


# ---- bad input ----------------------------------------------------------------------------------

@pytest.fixture
def bad_files(tmp_path) -> dict[str, Path]:
    folder = tmp_path / "bad"
    folder.mkdir()
    good = shutil.copy(need(VOC) / "vainf_0.jpg", folder / "good.jpg")
    (folder / "empty.jpg").write_bytes(b"")
    data = Path(good).read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (folder / "text.png").write_text("this is not a picture")
    (folder / "garbage.mp4").write_bytes(b"\x00\x01garbage" * 1000)
    return {p.stem: p for p in folder.iterdir()}


def test_a_batch_goes_on_past_bad_files_and_reports_them(bad_files, tmp_path, pibokeh):
    out = tmp_path / "out"
    args = [bad_files[k] for k in ("empty", "truncated", "good", "text", "garbage")]
    proc = pibokeh("blur", *args, tmp_path / "missing.jpg", "-o", out, "--model", need(CORAL_DM05))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    for name, reason in (("empty.jpg", "empty file"), ("text.png", "not a readable image"),
                         ("garbage.mp4", "not a readable video"), ("missing.jpg", "no such file")):
        assert any(name in line and reason in line for line in proc.stderr.splitlines()), (name, proc.stderr)
    assert (out / "good.jpg").is_file()
    assert not (out / "empty.jpg").exists() and not list(out.glob(".*"))
    assert "1 files done" in proc.stderr or "1 file done" in proc.stderr


def test_truncated_jpeg_is_an_error_or_a_decoded_partial_image_never_a_crash(bad_files, tmp_path, pibokeh):
    proc = pibokeh("mask", bad_files["truncated"], "-o", tmp_path / "o", "--model", need(CORAL_DM05))
    assert proc.returncode in (0, 2) and "Traceback" not in proc.stderr


def test_all_inputs_bad_exits_2(bad_files, tmp_path, pibokeh):
    proc = pibokeh("mask", bad_files["empty"], bad_files["text"], "-o", tmp_path / "o",
                   "--model", need(CORAL_DM05))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_output_equal_to_input_is_refused_and_the_input_kept(tmp_path, pibokeh):
    folder = tmp_path / "in"
    folder.mkdir()
    image = Path(shutil.copy(need(VOC) / "vainf_0.jpg", folder))
    before = sha(image)
    proc = pibokeh("blur", image, "-o", folder, "--model", need(CORAL_DM05))
    assert "would overwrite an input" in one_line_error(proc)
    assert sha(image) == before


def test_unwritable_output_folder(tmp_path, pibokeh):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    image = need(VOC) / "vainf_0.jpg"
    proc = pibokeh("blur", image, "-o", blocker / "sub", "--model", need(CORAL_DM05))
    assert "cannot create the output folder" in one_line_error(proc)
    proc = pibokeh("blur", image, "-o", blocker, "--model", CORAL_DM05)
    assert "output folder" in one_line_error(proc)


@pytest.mark.parametrize("args,needle", [
    (["--classes", "persn"], "unknown class 'persn'"),
    (["--blur-kernel", "250"], "odd"),
    (["--background", "nocolour"], "not blur, transparent, a colour or an image file"),
    (["--model", "/nonexistent/model.tflite"], "no such model file"),
    (["--backend", "nope"], "invalid choice"),
])
def test_bad_options_get_one_line(args, needle, tmp_path, pibokeh):
    proc = pibokeh("blur", need(VOC) / "vainf_0.jpg", "-o", tmp_path / "o", *args)
    message = one_line_error(proc)
    assert needle in message and len(message.splitlines()) == 1, message


def test_not_a_model(tmp_path, pibokeh):
    fake = tmp_path / "fake.tflite"
    fake.write_text("nope")
    proc = pibokeh("info", "--model", fake)
    assert "not a TFLite model" in one_line_error(proc)


def test_progress_bar_on_a_terminal_only(tmp_path):
    """The bar is drawn when stderr is a terminal, and not with --quiet or into a pipe."""
    images = sorted(need(VOC).glob("vainf_*.jpg"))[:3]
    script = Path(sys.executable).with_name("pibokeh")

    def stderr_on_tty(*extra: str) -> str:
        leader, follower = pty.openpty()
        proc = subprocess.Popen([str(script), "mask", *map(str, images), "-o", str(tmp_path / "o"),
                                 "--model", str(need(CORAL_DM05)), *extra],
                                stderr=follower, stdout=subprocess.DEVNULL)
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
    piped = subprocess.run([str(script), "mask", *map(str, images), "-o", str(tmp_path / "p"),
                            "--model", str(CORAL_DM05)], capture_output=True, text=True)
    assert "3/3" not in piped.stderr and "3 files done" in piped.stderr


def test_a_reader_that_stops_early_gets_no_traceback():
    # `pibokeh info | head -n 2`: the reader is gone before the command writes
    proc = subprocess.Popen([sys.executable, "-m", "edge.cli", "info", "--model", str(need(CORAL))],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()
    stderr = proc.stderr.read()
    assert proc.wait(timeout=60) == 141 and stderr == ""
