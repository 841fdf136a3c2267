"""Video as users meet it, through the installed command: `pibokeh blur/mask` on clips with sound,
transparent video and PNG sequences, a full disk, signals mid-file, the fallback without PyAV,
`info` and `bench --encoders`."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time

import av
import cv2
import pytest

from tests.conftest import TINY
from tests.edge.video_clips import alpha_frames, av_clip, probe
from tests.helpers import FAKES, clean_env, command, error_line, interruptible, iou, scene, sha


def test_blur_writes_h264_with_the_inputs_sound_and_timing(tone_clip, tmp_path, pibokeh):
    pibokeh("blur", tone_clip, "-o", tmp_path / "out", "--model", TINY, check=True)
    pibokeh("mask", tone_clip, "-o", tmp_path / "masks", "--model", TINY, check=True)
    before, blurred, masks = probe(tone_clip), probe(tmp_path / "out" / "tone.mp4"), probe(tmp_path / "masks" / "tone.mp4")
    for after in (blurred, masks):
        assert (after.format.split(",")[0], after.codec, after.pix_fmt) == ("mov", "h264", "yuv420p")
        assert len(after.times) == 45 and after.times == pytest.approx(before.times)
        assert after.duration == pytest.approx(before.duration)
    assert blurred.audio == before.audio and blurred.audio_packets == before.audio_packets  # copied, not re-encoded
    assert masks.audio == []  # a mask video has no sound
    cap = cv2.VideoCapture(str(tmp_path / "masks" / "tone.mp4"))
    for _ in range(10):
        ok, frame = cap.read()
    assert ok and iou(frame[..., 0] > 127, scene((320, 240), 9)[1]) > 0.8  # the mask of the red block
    assert not list(tmp_path.rglob(".*"))  # no temporary file left


def test_transparent_video_is_vp9_webm_with_alpha_and_png_frames_for_editors(tone_clip, tmp_path, pibokeh):
    proc = pibokeh("blur", tone_clip, "-o", tmp_path, "--model", TINY, "--background", "transparent", check=True)
    assert "audio re-encoded (aac -> opus 48 kbit/s): WebM players do not take it as it is" in proc.stderr
    frames = alpha_frames(tmp_path / "tone.webm")
    assert len(frames) == 45 and probe(tmp_path / "tone.webm").codec == "vp9"
    assert iou(frames[20][..., 3] > 127, scene((320, 240), 20)[1]) > 0.8  # opaque person, transparent rest
    pibokeh("blur", tone_clip, "-o", tmp_path / "png", "--model", TINY, "--background", "transparent",
            "--frames-as-png", check=True)
    pngs = sorted((tmp_path / "png" / "tone").iterdir())
    assert [p.name for p in pngs[:2]] == ["tone_000001.png", "tone_000002.png"] and len(pngs) == 45
    rgba = cv2.imread(str(pngs[20]), cv2.IMREAD_UNCHANGED)
    assert rgba.shape == (240, 320, 4) and iou(rgba[..., 3] > 127, scene((320, 240), 20)[1]) > 0.8
    pibokeh("mask", tone_clip, "-o", tmp_path / "png", "--model", TINY, "--frames-as-png", check=True)
    assert cv2.imread(str(tmp_path / "png" / "tone" / "tone_000001.png"), cv2.IMREAD_UNCHANGED).ndim == 2
    assert len(list((tmp_path / "png" / "tone").iterdir())) == 45  # replaced whole, not mixed
    assert not list(tmp_path.rglob(".*"))


def test_codec_choice_and_errors(tone_clip, tmp_path, pibokeh, pibokeh_main):
    pibokeh("blur", tone_clip, "-o", tmp_path, "--model", TINY, "--codec", "mpeg4", check=True)
    assert probe(tmp_path / "tone.mp4").codec == "mpeg4"
    pibokeh("blur", tone_clip, "-o", tmp_path, "--model", TINY, "--codec", "libvpx-vp9", check=True)
    assert probe(tmp_path / "tone.webm").codec == "vp9"
    with av.open(str(tmp_path / "tone.webm")) as container:
        assert "alpha_mode" not in container.streams.video[0].metadata  # opaque: no alpha plane
    proc = pibokeh_main("blur", tone_clip, "-o", tmp_path, "--model", TINY, "--codec", "h264_v4l2m2m")
    assert proc.returncode == 2 and "--codec h264_v4l2m2m: does not open here" in error_line(proc.stderr)
    proc = pibokeh_main("blur", tone_clip, "-o", tmp_path, "--model", TINY, "--codec", "mpeg4", "--background",
                        "transparent")
    assert proc.returncode == 2 and "cannot carry a transparent background" in error_line(proc.stderr)


# ---- honest writes ------------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    """A 300 kB tmpfs: a disk that fills up (skips where mounting is not permitted)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(disk)], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_full_disk_fails_that_file_keeps_the_earlier_output_and_leaves_nothing(tmp_path, small_disk, pibokeh):
    small = av_clip(tmp_path / "clip.mp4", frames=10, audio=False)
    pibokeh("blur", small, "-o", small_disk, "--model", TINY, check=True)
    good = sha(small_disk / "clip.mp4")
    free = os.statvfs(small_disk)
    (small_disk / "filler").write_bytes(b"\0" * (free.f_bavail * free.f_frsize - 24_000))  # ~24 kB stay free
    (tmp_path / "big").mkdir()
    big = av_clip(tmp_path / "big" / "clip.mp4", frames=60, size=(640, 480), audio=False)  # ~100 kB blurred
    photo = tmp_path / "photo.jpg"
    cv2.imwrite(str(photo), scene((64, 48))[0])
    proc = pibokeh("blur", big, photo, "-o", small_disk, "--model", TINY)
    assert proc.returncode == 1, proc.stderr  # one failed, one done
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith(f"pibokeh: {big}: ")]
    assert len(lines) == 1 and "No space left on device" in lines[0] and str(small_disk / "clip.mp4") in lines[0]
    assert "1 file done" in proc.stderr and "1 failed" in proc.stderr
    assert sha(small_disk / "clip.mp4") == good  # the earlier output is untouched
    assert sorted(p.name for p in small_disk.iterdir()) == ["clip.mp4", "filler", "photo.jpg"]  # no temporary file


@pytest.mark.parametrize("signum, code, words", [(signal.SIGTERM, 143, "stopped by SIGTERM"),
                                                 (signal.SIGHUP, 129, "stopped by SIGHUP"),
                                                 (signal.SIGINT, 130, "interrupted")])
def test_a_signal_mid_video_leaves_no_temporary_file(tmp_path, signum, code, words):
    clip = av_clip(tmp_path / "long.mp4", frames=600, audio=False)
    first = tmp_path / "a.jpg"
    cv2.imwrite(str(first), scene((64, 48))[0])
    out = tmp_path / "out"
    proc = subprocess.Popen(command() + ["blur", str(first), str(clip), "-o", str(out), "--model", str(TINY),
                                         "-q"], env=clean_env(tmp_path), stderr=subprocess.PIPE,
                            text=True, preexec_fn=interruptible)
    deadline = time.monotonic() + 120
    while not list(out.glob(".long.*")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert list(out.glob(".long.*")), "the video never started"
    time.sleep(0.3)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr
    assert words in stderr and "Traceback" not in stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.jpg"]  # the finished output stays, the video's temp goes


# ---- without PyAV, info, bench -------------------------------------------------------------------

def test_without_pyav_opencv_writes_mp4v_and_says_browsers_will_not_play_it(tmp_path, pibokeh, clip):
    env = {"PYTHONPATH": str(FAKES / "without_av")}
    proc = pibokeh("blur", clip, clip.with_name("scene.mp4"), "-o", tmp_path / "out", "--model", TINY, env=env,
                   check=True)
    warnings = [line for line in proc.stderr.splitlines() if "warning:" in line]
    assert len(warnings) == 1 and "will not play in web browsers" in warnings[0] and "pip install av" in warnings[0]
    cap = cv2.VideoCapture(str(tmp_path / "out" / "scene.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 45 and cap.read()[0]
    text = pibokeh("info", "--model", TINY, env=env, check=True).stdout
    assert "opencv-mp4v" in text and "PyAV not installed" in text and "will not play in web browsers" in text
    proc = pibokeh("blur", clip, "-o", tmp_path / "t", "--model", TINY, "--background", "transparent", env=env)
    assert proc.returncode == 2 and "--frames-as-png" in error_line(proc.stderr)


def test_info_names_the_encoder(pibokeh_main):
    info = json.loads(pibokeh_main("info", "--model", TINY, "--json", check=True).stdout)["encoder"]
    assert info["video"].startswith("libx264 (H.264, preset") and info["browsers"] is True
    assert "h264_v4l2m2m" in info["not_used"] and info["transparent"].startswith("libvpx-vp9")
    text = pibokeh_main("info", "--model", TINY, check=True).stdout
    assert "encoder     libx264" in text and "h264_v4l2m2m does not open here" in text


def test_bench_times_every_encoder(pibokeh):
    result = json.loads(pibokeh("bench", "--encoders", "--frames", "4", "--size", "320x240", "--json",
                                check=True).stdout)
    rows = {(r["name"], r["recording"]): r for r in result["encoders"]}
    assert result["default"] == "libx264" and rows[("h264_v4l2m2m", False)]["unavailable"]
    for key in (("libx264", False), ("libx264", True), ("mpeg4", False), ("libvpx-vp9", False), ("opencv-mp4v", False)):
        assert rows[key]["ms_per_frame"] > 0 and rows[key]["kbps"] > 0 and rows[key]["size"] == [320, 240]
    table = pibokeh("bench", "--encoders", "--frames", "2", "--size", "64x48", check=True).stdout
    assert "libx264 (H.264, preset" in table and "ms/frame" in table and "does not open here" in table


def test_bench_times_x264_recordings_by_preset_and_threads(pibokeh, clip):
    """The table --codec auto's recording settings were chosen from, on a real clip's frames."""
    result = json.loads(pibokeh("bench", "--encoders", "--presets", "ultrafast,superfast", "--threads", "1,2",
                                "--frames", "6", "--size", "320x240", "--input", clip, "--json", check=True).stdout)
    labels = [row["encoder"] for row in result["encoders"]]
    assert labels == ["libx264 recording, ultrafast, 1 thread", "libx264 recording, ultrafast, 2 threads",
                      "libx264 recording, superfast, 1 thread", "libx264 recording, superfast, 2 threads"]
    assert all(row["recording"] and row["ms_per_frame"] > 0 and row["kbps"] > 0 for row in result["encoders"])
    assert result["input"] == str(clip)
    proc = pibokeh("bench", "--encoders", "--presets", "ultrafast,warp9")
    assert proc.returncode == 2 and "warp9" in error_line(proc.stderr) and "Traceback" not in proc.stderr


def test_copied_input_is_never_the_output(tmp_path, pibokeh_main, clip):
    shutil.copy(clip, tmp_path / "scene.mp4")
    proc = pibokeh_main("blur", tmp_path / "scene.mp4", "-o", tmp_path, "--model", TINY)
    assert proc.returncode == 2 and "would overwrite an input" in proc.stderr
    assert sha(tmp_path / "scene.mp4") == sha(clip)
