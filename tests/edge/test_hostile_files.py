"""Files that used to end in a traceback, a misleading line or a leftover: a 250-byte file name, a
video blur killed by SIGKILL, a 1x100000 background, an all-void ground truth, a model card with a
5000-digit number, a non-UTF-8 password, a 12 kB model whose resize asks for 5 GB."""
from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from tests.conftest import TINY
from tests.edge.video_clips import av_clip
from tests.helpers import clean_env, command, interruptible, one_line_error, red_square, run


# ---- a 250-byte file name -------------------------------------------------------------------------

def test_a_250_byte_file_name_is_processed_like_any_other(pibokeh, tmp_path):
    photo = tmp_path / ("p" * 246 + ".png")  # 250 bytes: its hidden temporary name would be longer
    cv2.imwrite(str(photo), red_square()[0])
    clip = av_clip(tmp_path / ("v" * 246 + ".mp4"), frames=6, size=(96, 64), audio=False)
    out = tmp_path / "out"
    pibokeh("blur", photo, clip, "-o", out, "--model", TINY, check=True)
    pibokeh("mask", clip, "-o", tmp_path / "frames", "--model", TINY, "--frames-as-png", check=True)
    assert sorted(p.name for p in out.iterdir()) == sorted([photo.name, clip.name])  # nothing hidden left
    frames = sorted((tmp_path / "frames" / clip.stem).iterdir())
    assert len(frames) == 6 and all(len(os.fsencode(p.name)) <= 255 for p in frames)
    # a name the file system cannot hold is that name's fault, not the folder's
    longest = tmp_path / ("w" * 251 + ".mp4")  # as .webm (transparent) it would be 256 bytes
    shutil.copy(clip, longest)
    proc = pibokeh("blur", longest, "-o", tmp_path / "alpha", "--model", TINY, "--background", "transparent")
    assert proc.returncode == 2 and "File name too long" in proc.stderr and "cannot write here" not in proc.stderr


# ---- SIGKILL mid-video ----------------------------------------------------------------------------

def test_what_a_killed_video_blur_left_is_removed_by_the_next_run(tmp_path):
    clip = av_clip(tmp_path / "long.mp4", frames=600, size=(320, 240), audio=False)
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen(command() + ["blur", clip, "-o", out, "--model", TINY, "--threads", "1", "-q"],
                            env=clean_env(tmp_path), stderr=subprocess.PIPE, preexec_fn=interruptible)
    deadline = time.monotonic() + 120
    while not [p for p in out.iterdir() if p.name.startswith(".long.") and p.stat().st_size > 0]:
        assert proc.poll() is None and time.monotonic() < deadline, "the temporary file never appeared"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    left = [p for p in out.iterdir() if p.name.startswith(".")]
    assert len(left) == 1 and left[0].name.endswith(".part.mp4")
    os.utime(left[0], (time.time() - 60, time.time() - 60))
    # an unrelated hidden file of the user's, of a similar name, is never touched
    (out / ".long.notours.part.mp4").write_bytes(b"mine")
    (tmp_path / "short").mkdir()
    short = av_clip(tmp_path / "short" / "long.mp4", frames=6, size=(320, 240), audio=False)  # same output name
    done = run(command() + ["blur", short, "-o", out, "--model", TINY, "-q"], env=clean_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == [".long.notours.part.mp4", "long.mp4"]


def test_a_temporary_file_being_written_is_never_taken_for_a_leftover(tmp_path):
    from pibokeh.files import release, remove_stale, temp_beside
    target = tmp_path / "clip.mp4"
    live = temp_beside(target, ".part.mp4")  # held (flock) by this process, as a running blur holds it
    os.utime(live, (time.time() - 600, time.time() - 600))
    assert remove_stale(target, ".part.mp4") == [] and live.exists()
    release(live)
    assert remove_stale(target, ".part.mp4") == [live] and not live.exists()


# ---- odd inputs that gave misleading lines --------------------------------------------------------

def test_a_1x100000_background_works(pibokeh, tmp_path):
    strip = tmp_path / "strip.png"
    cv2.imwrite(str(strip), (np.arange(100_000) % 256).astype(np.uint8).reshape(1, -1))
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), red_square()[0])
    pibokeh("blur", photo, "-o", tmp_path / "out", "--model", TINY, "--background", strip, check=True)
    out = cv2.imread(str(tmp_path / "out" / "photo.png"))
    # covering a 160x120 frame, the strip shows the one pixel at its middle: 49999 % 256 = 79
    assert np.abs(out[:, :out.shape[1] // 5].astype(int) - 79).max() <= 1


def test_an_all_void_ground_truth_is_not_a_score_of_zero(pibokeh, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    image, _ = red_square()
    cv2.imwrite(str(data / "a.png"), image)
    cv2.imwrite(str(data / "a_gt.png"), np.full(image.shape[:2], 255, np.uint8))
    proc = pibokeh("eval", "--data", data, "--model", TINY)
    line = one_line_error(proc)
    assert "none of the 1 pairs could be evaluated" in line
    assert "skipped a.png: its ground truth is void (255) everywhere" in proc.stderr
    assert "mIoU" not in proc.stdout


def test_a_card_with_a_5000_digit_number_is_one_line(pibokeh, tmp_path):
    model = tmp_path / "model.tflite"
    shutil.copy(TINY, model)
    card = TINY.with_suffix(".json").read_text()
    model.with_suffix(".json").write_text(card.replace('"size_bytes": ', '"size_bytes": ' + "9" * 5000 + ', "x": ', 1))
    assert "9" * 5000 in model.with_suffix(".json").read_text()
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), red_square()[0])
    for args in (["info", "--model", model], ["blur", photo, "-o", tmp_path / "out", "--model", model]):
        line = one_line_error(pibokeh(*args))
        assert "model card is not valid JSON (a number with thousands of digits)" in line


@pytest.mark.parametrize("data, words", [(b"caf\xe9 au lait\n", "not UTF-8 text"),
                                         (b"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\n", "not UTF-8 text"),
                                         (b"x" * 5000 + b"\n", "longer than 1024 bytes")])
def test_a_password_that_is_not_utf8_text_is_one_line(tmp_path, data, words):
    users = tmp_path / "users"
    proc = subprocess.run(command() + ["passwd", str(users), "alice"], input=data, capture_output=True,
                          env=clean_env(tmp_path), timeout=60)
    assert proc.returncode == 2 and b"Traceback" not in proc.stderr
    assert words.encode() in proc.stderr and b"nothing changed" in proc.stderr
    assert not users.exists()


def test_a_12_kb_model_whose_resize_asks_for_gigabytes_is_refused_before_allocating(pibokeh, tmp_path):
    data = bytearray(TINY.read_bytes())
    at = data.find(struct.pack("<iii", 8, 65, 65))  # the resize's constant target size, [65, 65]
    assert at > 0
    data[at + 4:at + 12] = struct.pack("<ii", 9000, 7500)  # the declared shapes still say 65x65
    model = tmp_path / "evil.tflite"
    model.write_bytes(bytes(data))
    peak = """
import resource, subprocess, sys
proc = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(proc.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, proc.stderr.strip())
"""
    out = run([sys.executable, "-c", peak, *command(), "info", "--model", model], env=clean_env(tmp_path))
    code, kilobytes, line = out.stdout.split(" ", 2)
    assert code == "2" and "not a usable model (its tensors would need 5.3 GB)" in line
    assert int(kilobytes) < 600_000  # the 5.3 GB were never touched (2.7 GB of them before)


def test_a_file_with_sound_only_is_refused_at_once_not_retried(pibokeh, tmp_path):
    import av
    sound = tmp_path / "sound.mp4"
    with av.open(str(sound), "w") as out:
        stream = out.add_stream("aac", rate=44100)
        stream.layout = "mono"
        for start in range(0, 44100, 1024):
            chunk = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            chunk.sample_rate, chunk.pts = 44100, start
            for packet in stream.encode(chunk):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    proc = pibokeh("camera", "--source", f"video:{sound}", "--model", TINY, "--retries", "3")
    assert "not a readable video (no video stream: sound only)" in one_line_error(proc)
    assert "retrying" not in proc.stderr
    proc = pibokeh("blur", sound, "-o", tmp_path / "out", "--model", TINY)
    assert proc.returncode == 2 and "no video stream: sound only" in proc.stderr
