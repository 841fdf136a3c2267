"""Hostile but realistic inputs to the batch commands, run for real: one test per defect class of
issue #13 - malformed model cards, image bombs and out-of-memory, decoder chatter, symlink loops,
unreadable sub-folders, non-UTF-8 paths, unbounded option values, a full disk. Every one ends in
one line per problem, never a traceback, and the batch goes on past the bad file."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import TINY
from tests.fakes.fake_pi import fake_memory
from tests.helpers import clean_env, command, one_line_error, png_file, red_square


def bomb_png(path: Path, side: int) -> Path:
    """A grayscale PNG of side x side zeros: a few hundred kB on disk, side^2 bytes decoded."""
    packer = zlib.compressobj(9)
    row = bytes(side + 1)
    return png_file(path, side, side, b"".join(packer.compress(row) for _ in range(side)) + packer.flush())


@pytest.fixture
def photo(tmp_path) -> Path:
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), red_square()[0])
    return path


def model_with_card(folder: Path, card: object, name: str = "carded") -> Path:
    model = folder / f"{name}.tflite"
    shutil.copyfile(TINY, model)
    (folder / f"{name}.json").write_text(card if isinstance(card, str) else json.dumps(card))
    return model


# ---- model cards ------------------------------------------------------------------------------------

GOOD_CARD = json.loads(TINY.with_suffix(".json").read_text())


@pytest.mark.parametrize("card, field", [
    ({"input": {"mean": "x"}}, "input.mean should be a number"),
    ({"input": [1]}, "input should be an object"),
    ({"labels": 5}, "labels should be a list"),
    ({"labels": ["background", 7]}, "labels[1] should be a string"),
    ({"input": {"std": 0}}, "input.std should be > 0"),
    ({"input": {"size": -65}}, "input.size should be >= 1"),
    ({"output": {"kind": "pixels"}}, "output.kind should be one of"),
    ('{"input": {"std": NaN}}', "input.std"),
    ("[1, 2]", "not a JSON object"),
    ('{"input": ', "not valid JSON"),
])
@pytest.mark.parametrize("command", ["blur", "mask", "info"])
def test_a_malformed_card_is_one_line_naming_the_field(pibokeh_main, tmp_path, photo, card, field, command):
    model = model_with_card(tmp_path, card)
    args = ["info"] if command == "info" else [command, photo, "-o", tmp_path / "out"]
    line = one_line_error(pibokeh_main(*args, "--model", model), 2)
    assert field in line and str(model.with_suffix(".json")) in line


def test_newer_cards_with_extra_fields_still_load(pibokeh_main, tmp_path, photo):
    card = {**GOOD_CARD, "output_stride": 16, "input": {**GOOD_CARD["input"], "width": 65, "height": 65},
            "something_new": {"from": "a later converter"}}
    model = model_with_card(tmp_path, card)
    proc = pibokeh_main("mask", photo, "-o", tmp_path / "out", "--model", model)
    assert proc.returncode == 0, proc.stderr


# ---- image size, memory, decoder errors -----------------------------------------------------------

def test_an_image_bomb_is_refused_from_its_header_and_the_batch_goes_on(pibokeh, tmp_path, photo):
    bomb = bomb_png(tmp_path / "bomb.png", 20000)  # 389 kB on disk, 400 MP
    assert bomb.stat().st_size < 500_000
    proc = pibokeh("mask", bomb, photo, "-o", tmp_path / "out", "--model", TINY, "--threads", "1",
                   env=fake_memory(tmp_path / "pi", 1024),  # a 1 GB Pi: its default budget
                   preexec_fn=lambda: _limit_memory(1 << 30))
    assert proc.returncode == 1, proc.stderr
    # a grey pixel costs 0.46 of an 8-bit colour one (5.4 bytes against 11.8, measured: README, Memory)
    assert (f"{bomb}: 20000x20000 8-bit grey is 400.0 megapixels, as much memory as 183.1 megapixels of an "
            "8-bit colour photo: more than --max-pixels 54M (about 637 MB)") in proc.stderr
    assert (tmp_path / "out" / "photo.png").is_file() and not (tmp_path / "out" / "bomb.png").exists()


def test_max_pixels_is_the_users_choice(pibokeh_main, tmp_path, photo):
    big = tmp_path / "big.png"
    cv2.imwrite(str(big), np.zeros((1200, 1000, 3), np.uint8))  # 1.2 MP of 8-bit colour
    proc = pibokeh_main("mask", big, photo, "-o", tmp_path / "out", "--model", TINY, "--max-pixels", "1M")
    assert proc.returncode == 1 and "1000x1200 is 1.2 megapixels, more than --max-pixels 1M" in proc.stderr
    assert pibokeh_main("mask", big, "-o", tmp_path / "out2", "--model", TINY, "--max-pixels", "2M").returncode == 0


def _limit_memory(limit: int) -> None:
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def test_running_out_of_memory_on_one_file_is_that_files_error(pibokeh, tmp_path, photo):
    bomb = bomb_png(tmp_path / "huge.png", 16000)  # 256 MP, allowed by --max-pixels below
    proc = pibokeh("mask", bomb, photo, "-o", tmp_path / "out", "--model", TINY, "--threads", "1",
                   "--max-pixels", "300M", preexec_fn=lambda: _limit_memory(1200 << 20))
    assert proc.returncode == 1, proc.stderr
    assert f"{bomb}: not enough memory" in proc.stderr and "Traceback" not in proc.stderr
    assert (tmp_path / "out" / "photo.png").is_file()


def test_decoder_chatter_stays_off_stderr(pibokeh, tmp_path, photo):
    png = cv2.imencode(".png", red_square()[0])[1].tobytes()
    broken = tmp_path / "broken.png"
    broken.write_bytes(png[:33] + b"\x00\x00\x00\x04bad!" + png[33:200])  # a bad chunk, then truncated
    jpeg = tmp_path / "cut.jpg"
    jpeg.write_bytes(cv2.imencode(".jpg", red_square()[0])[1].tobytes()[:400])
    proc = pibokeh("mask", broken, jpeg, photo, "-o", tmp_path / "out", "--model", TINY)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert all(line.startswith("pibokeh: ") for line in lines), proc.stderr  # no libpng/libjpeg lines
    assert any(line.startswith(f"pibokeh: {broken}: ") for line in lines)


# ---- paths: symlink loops, unreadable folders, non-UTF-8 names ------------------------------------

def test_symlink_loops_in_inputs_and_outputs_are_one_line_each(pibokeh, tmp_path, photo):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(photo, folder / "sub" / "a.png")
    os.symlink("loop.png", folder / "loop.png")     # a file name that points at itself
    os.symlink("..", folder / "sub" / "up")         # a folder link back up: searched once, not forever
    out = tmp_path / "out"
    out.mkdir()
    os.symlink("photo.png", out / "photo.png")      # the output name is itself a loop
    proc = pibokeh("mask", folder, photo, "-o", out, "--model", TINY)
    assert proc.returncode == 1, proc.stderr
    assert f"pibokeh: {folder / 'loop.png'}: symlink loop" in proc.stderr
    assert f"pibokeh: {photo}: output {out / 'photo.png'} is a symlink loop" in proc.stderr
    assert (out / "sub" / "a.png").is_file() and "2 failed" in proc.stderr
    assert len(list(out.rglob("a.png"))) == 1


def as_nobody() -> list[str]:
    if os.geteuid() != 0:
        pytest.skip("permission cases run as root, dropping to nobody with setpriv (root ignores file modes)")
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("needs setpriv (util-linux)")
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--"]


def test_an_unreadable_sub_folder_is_reported_like_an_unreadable_file(pibokeh, tmp_path_factory, photo):
    prefix = as_nobody()
    tmp_path = Path(tempfile.mkdtemp(prefix="pibokeh-perm-"))  # pytest's own folders are root's alone
    tmp_path.chmod(0o777)
    folder = tmp_path / "in"
    for sub in ("open", "closed"):
        (folder / sub).mkdir(parents=True)
        shutil.copy(photo, folder / sub / "a.png")
    shutil.copy(photo, folder / "secret.png")
    out = tmp_path / "out"
    model = tmp_path / "model.tflite"
    shutil.copy(TINY, model)
    shutil.copy(TINY.with_suffix(".json"), model.with_suffix(".json"))
    for path in (folder, folder / "open"):
        path.chmod(0o777)
    (folder / "closed").chmod(0o000)
    (folder / "secret.png").chmod(0o000)
    proc = subprocess.run(prefix + command() + ["mask", str(folder), "-o", str(out), "--model", str(model)],
                          capture_output=True, text=True, env=clean_env(tmp_path), timeout=300)
    (folder / "closed").chmod(0o755)
    shutil.rmtree(tmp_path, ignore_errors=True)
    assert proc.returncode == 1, proc.stderr
    assert f"pibokeh: {folder / 'closed'}: cannot read the folder (Permission denied)" in proc.stderr
    assert f"pibokeh: {folder / 'secret.png'}: cannot read (Permission denied)" in proc.stderr
    assert "Traceback" not in proc.stderr and "1 file done, 2 failed" in proc.stderr
    unwritable = subprocess.run(prefix + command() + ["mask", str(photo), "-o", "/root/pibokeh-out", "--model",
                                str(TINY)], capture_output=True, text=True, env=clean_env(Path("/tmp")), timeout=300)
    assert one_line_error(unwritable, 2).endswith("/root/pibokeh-out: cannot create the output folder (Permission denied)")


def test_non_utf8_model_and_image_paths(pibokeh, tmp_path, photo):
    folder = os.fsencode(tmp_path)
    model, image = folder + b"/mod\xe9le.tflite", folder + b"/ph\xf6to.png"
    shutil.copyfile(TINY, model)
    shutil.copyfile(photo, image)
    env = {"LC_ALL": "C.UTF-8"}
    proc = subprocess.run(pibokeh_command() + [b"mask", image, b"-o", folder + b"/out", b"--model", model],
                          capture_output=True, env=_env(tmp_path, env), timeout=300)
    assert proc.returncode == 0 and b"Traceback" not in proc.stderr, proc.stderr
    assert os.path.isfile(folder + b"/out/ph\xf6to.png")
    info = subprocess.run(pibokeh_command() + [b"info", b"--model", model], capture_output=True,
                          env=_env(tmp_path, env), timeout=300)
    assert info.returncode == 0 and b"Traceback" not in info.stderr, info.stderr


def pibokeh_command() -> list[bytes]:
    return [os.fsencode(part) for part in command()]


def _env(tmp_path: Path, extra: dict) -> dict:
    return clean_env(tmp_path, extra)


# ---- option values -------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["blur", "--blur-kernel", "999999999"], ["blur", "--blur-kernel", "100001"], ["blur", "--feather", "999999999"],
    ["blur", "--threads", "9999999999"], ["blur", "--threads", "5000"], ["blur", "--threads", "0"],
    ["mask", "--max-pixels", "12"], ["mask", "--max-pixels", "1e400"], ["blur", "--max-pixels", "nan"],
    ["bench", "--frames", "0"], ["bench", "--size", "100000x100000"], ["bench", "--threads", "1,2,99999"],
    ["camera", "--fps", "inf"], ["camera", "--fps", "100000"], ["camera", "--infer-every", "99999999"],
    ["camera", "--open-timeout", "-1"], ["camera", "--snapshot-every", "1e-9"], ["camera", "--duration", "nan"],
    ["camera", "--serve", "[::1:80"], ["camera", "--serve", "host name:80"], ["camera", "--max-clients", "100000"],
    ["camera", "--allow-host", "evil host"], ["camera", "--retries", "-1"], ["blur", "--threads", "²"],
])
def test_option_values_out_of_range_are_usage_errors(pibokeh_main, tmp_path, photo, args):
    command, rest = args[0], args[1:]
    if command in ("blur", "mask"):
        rest += [str(photo), "-o", str(tmp_path / "out")]
    proc = pibokeh_main(command, *rest, "--model", TINY)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "error:" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_the_config_file_has_the_same_bounds(tmp_path):
    from pibokeh.camera.config import read_config
    from pibokeh.errors import InputError
    for setting, words in (("blur-kernel = 999999999", "kernel size in px from 1 to 1001"),
                           ("threads = 5000", "thread count from 1 to 64"), ("fps = inf", "frame rate"),
                           ("max-pixels = 5", "number of pixels"), ("source = '-v'", None)):
        config = tmp_path / "c.toml"
        config.write_text(setting + "\n")
        if words is None:
            assert read_config(config)["source"] == "-v"  # a value that starts with a dash is still a value
            continue
        with pytest.raises(InputError, match=words):
            read_config(config)


# ---- a full disk ---------------------------------------------------------------------------------

@pytest.fixture
def tiny_disk(tmp_path):
    """A 300 kB tmpfs (root only): writes fail with 'No space left on device'."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs for the disk-full case needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(disk)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_a_full_disk_fails_the_files_that_do_not_fit_and_leaves_no_half_file(pibokeh, tmp_path, tiny_disk):
    noise = np.random.default_rng(0).integers(0, 255, (300, 400, 3), dtype=np.uint8)
    inputs = []
    for i in range(4):  # ~360 kB each as PNG: the first may fit, the rest cannot
        path = tmp_path / f"n{i}.png"
        cv2.imwrite(str(path), noise)
        inputs.append(path)
    # the noise as the new background: outputs that do not compress
    proc = pibokeh("blur", *inputs, "-o", tiny_disk, "--model", TINY, "--background", inputs[0])
    assert proc.returncode in (1, 2) and "Traceback" not in proc.stderr, proc.stderr
    assert "No space left on device" in proc.stderr
    assert not [p for p in tiny_disk.iterdir() if p.name.startswith(".")]  # no temporary file left
    for out in tiny_disk.glob("*.png"):
        assert cv2.imread(str(out)) is not None  # whatever was written is whole
