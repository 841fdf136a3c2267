"""Live sources: picamera2 (through the fake), a video played as if live, OpenCV on a real HTTP stream."""
from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from pibokeh.camera.preview import PreviewHub, PreviewServer
from pibokeh.camera.sources import (
    OpenCVSource,
    Picamera2Source,
    SourceLost,
    VideoPlayback,
    lores_size,
    open_source,
    yuv420_to_bgr,
)
from pibokeh.errors import InputError
from pibokeh.model import open_model
from pibokeh.media.video import VideoFileSink

from tests.conftest import TINY, VIDEO, need
from tests.helpers import FAKES, scene


@pytest.fixture
def fake_picamera2(monkeypatch):
    """The fake picamera2 module, importable as `picamera2` for this test only."""
    monkeypatch.syspath_prepend(str(FAKES))
    for key in ("FAKE_PICAMERA2_VIDEO", "FAKE_PICAMERA2_CAMERAS", "FAKE_PICAMERA2_BUSY", "FAKE_PICAMERA2_FAIL_AFTER"):
        monkeypatch.delenv(key, raising=False)
    sys.modules.pop("picamera2", None)
    module = importlib.import_module("picamera2")
    module._state["frames"] = 0
    yield module
    sys.modules.pop("picamera2", None)


def synthetic_video(path: Path, frames: int, size=(160, 96), fps=25.0) -> Path:
    """A small MP4 whose frame i is filled with grey level 20 + 10 i (to tell frames apart)."""
    with VideoFileSink(path, fps, size) as sink:
        for i in range(frames):
            sink.write(np.full((size[1], size[0], 3), 20 + 10 * i, np.uint8))
    return path


# ---- parsing ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("spec, words", [
    ("webcam", "unknown source"),
    ("picamera2:front", "picamera2:N"),
    ("opencv:/dev/video97", "no such device"),
    ("opencv:front", "opencv:N"),
    ("video:", "needs a file"),
    ("video:/no/such/clip.mp4", "no such file"),
])
def test_bad_source_specs_are_one_clear_error(spec, words):
    with pytest.raises(InputError, match=words):
        open_source(spec)


def test_a_camera_index_that_is_not_there_is_an_input_error():
    # No /dev/video* on a CI machine; on one with a camera, index 63 is still free.
    with pytest.raises(InputError, match="cannot open"):
        open_source("opencv:63")


# ---- video played as if live ---------------------------------------------------------------------

def test_video_plays_at_its_frame_rate(tmp_path):
    source = open_source(f"video:{synthetic_video(tmp_path / 'v.mp4', 8, fps=40.0)}")
    start = time.monotonic()
    frames = list(source)
    elapsed = time.monotonic() - start
    assert len(frames) == 8 and source.fps == 40.0
    assert elapsed >= 7 / 40.0 * 0.95  # 8 frames are 7 frame periods apart; never faster than live


def test_video_fps_and_size_override_and_loop(tmp_path):
    clip = synthetic_video(tmp_path / "v.mp4", 5)
    source = VideoPlayback(str(clip), size=(80, 48), fps=200.0, loop=True)
    frames = [source.read() for _ in range(12)]
    source.close()
    assert all(f.shape == (48, 80, 3) for f in frames)
    levels = [int(round(f.mean())) for f in frames]
    assert levels[5] == pytest.approx(levels[0], abs=3) and levels[10] == pytest.approx(levels[0], abs=3)
    assert levels[4] > levels[0] + 25  # the clip really advanced before it looped
    once = VideoPlayback(str(clip), fps=200.0)
    assert len(list(once)) == 5 and once.read() is None


def test_the_real_clip_plays(tmp_path):
    source = open_source(f"video:{need(VIDEO)}", fps=500.0)
    frames = [source.read() for _ in range(5)]
    assert source.size == (854, 480) and all(f.shape == (480, 854, 3) and f.dtype == np.uint8 for f in frames)


# ---- picamera2 (fake) ----------------------------------------------------------------------------

def test_lores_is_the_models_input_when_the_aspects_match():
    assert lores_size((1280, 720), (513, 289)) == (512, 288)  # YUV420 needs even sizes
    assert lores_size((1920, 1080), (641, 361)) == (640, 360)
    assert lores_size((1280, 720), (513, 513)) == (640, 360)  # a square model: main's aspect, letterboxed later
    assert lores_size((480, 270), (513, 289)) is None  # main is smaller than the model: infer on main


def test_yuv420_with_padded_rows_converts_like_without(fake_picamera2):
    image = scene((320, 180))[0]
    padded = fake_picamera2._to_format(image, {"size": (320, 180), "format": "YUV420"})
    assert padded.shape == (270, 320)  # 320 is a multiple of 64: no padding
    odd = cv2.resize(image, (322, 180))
    padded = fake_picamera2._to_format(odd, {"size": (322, 180), "format": "YUV420"})
    assert padded.shape == (270, 384)  # rows padded to 64 bytes
    plain = cv2.cvtColor(cv2.cvtColor(odd, cv2.COLOR_BGR2YUV_I420), cv2.COLOR_YUV2BGR_I420)
    assert np.array_equal(yuv420_to_bgr(padded, (322, 180)), plain)


def test_picamera2_lores_asks_for_the_models_input(fake_picamera2):
    source = open_source("picamera2", size=(1280, 720), fps=120, infer_size=(513, 289))
    frame = source.next_frame(); main, small = frame.image, frame.small
    assert source._cam.camera_config["lores"] == {"size": (512, 288), "format": "YUV420"}
    assert small.shape == (288, 512, 3) and main.shape == (720, 1280, 3)
    source.close()


def test_lores_keeps_the_aspect_and_yuv_alignment():
    assert lores_size((1280, 720)) == (640, 360)
    assert lores_size((1920, 1080)) == (640, 360)
    assert lores_size((2304, 1296)) == (640, 360)
    assert lores_size((1024, 768)) == (640, 480)
    assert lores_size((640, 480)) is None  # already small: infer on main


def test_picamera2_main_is_bgr_and_lores_is_converted_from_yuv(fake_picamera2, monkeypatch):
    scene = np.zeros((720, 1280, 3), np.uint8)
    scene[:, :640] = (255, 0, 0)    # blue left half (BGR)
    scene[:, 640:] = (0, 0, 255)    # red right half
    monkeypatch.setattr(fake_picamera2.Picamera2, "_scene", lambda self: scene)
    source = open_source("picamera2", size=(1280, 720), fps=120)
    frame = source.next_frame(); main, small = frame.image, frame.small
    assert source._cam.camera_config["main"]["format"] == "RGB888"
    assert source._cam.camera_config["lores"] == {"size": (640, 360), "format": "YUV420"}
    assert main.shape == (720, 1280, 3) and np.array_equal(main, scene)
    assert small.shape == (360, 640, 3)
    # colour order survives the YUV round trip: blue stays in channel 0, red in channel 2
    assert small[180, 100, 0] > 200 and small[180, 100, 2] < 50
    assert small[180, 540, 2] > 200 and small[180, 540, 0] < 50
    source.close()
    assert source._cam.closed


def test_picamera2_without_lores_for_small_frames(fake_picamera2):
    source = open_source("picamera2:0", size=(640, 480), fps=120)
    frame = source.next_frame(); main, small = frame.image, frame.small
    assert small is None and main.shape == (480, 640, 3)
    assert "lores" not in source._names
    source.close()


def test_yuv420_conversion_matches_opencv_round_trip():
    rng = np.random.default_rng(0)
    bgr = cv2.GaussianBlur(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8), (9, 9), 0)
    back = yuv420_to_bgr(cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420), (128, 96))
    assert np.abs(back.astype(int) - bgr).mean() < 4


def test_picamera2_faults_are_clear(fake_picamera2, monkeypatch):
    monkeypatch.setenv("FAKE_PICAMERA2_CAMERAS", "1")
    with pytest.raises(InputError, match=r"picamera2:1: no such camera \(cameras found: 0: imx708\)"):
        open_source("picamera2:1")
    monkeypatch.setenv("FAKE_PICAMERA2_BUSY", "1")
    with pytest.raises(InputError, match="busy"):
        open_source("picamera2")
    monkeypatch.delenv("FAKE_PICAMERA2_BUSY")
    monkeypatch.setenv("FAKE_PICAMERA2_FAIL_AFTER", "3")
    source = open_source("picamera2", size=(320, 240), fps=200)
    for _ in range(3):
        source.read()
    with pytest.raises(SourceLost, match="capture failed"):
        source.read()
    source.close()


def test_picamera2_not_installed_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "picamera2", None)  # import fails as on a non-Pi machine
    with pytest.raises(InputError, match="apt install python3-picamera2"):
        Picamera2Source(0)


def test_lores_inference_agrees_with_main(fake_picamera2, monkeypatch, clip):
    """The lores path (YUV -> BGR, smaller) must give the same person mask as the full frame."""
    monkeypatch.setenv("FAKE_PICAMERA2_VIDEO", str(clip))
    seg = open_model(TINY, threads=2)
    source = open_source("picamera2", size=(1280, 720), fps=120)
    for _ in range(30):
        frame = source.next_frame(); main, small = frame.image, frame.small
    source.close()
    from_main = seg.classes(main) == 15
    from_lores = cv2.resize(seg.segment(small), (1280, 720), interpolation=cv2.INTER_NEAREST) == 15
    iou = (from_main & from_lores).sum() / max((from_main | from_lores).sum(), 1)
    assert from_main.mean() > 0.1 and iou > 0.9


# ---- OpenCV on a network stream --------------------------------------------------------------------

def test_opencv_reads_an_http_mjpeg_stream_and_notices_when_it_ends():
    hub = PreviewHub()
    server = PreviewServer(("127.0.0.1", 0), hub, dict, dict).start()
    frame = np.zeros((120, 160, 3), np.uint8)
    frame[:, 80:] = (0, 200, 0)
    import threading
    stop = threading.Event()

    def feed():
        while not stop.is_set():
            hub.write(frame)
            time.sleep(0.02)
    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        source = open_source(f"{server.url}stream.mjpg")
        assert isinstance(source, OpenCVSource) and source.size == (160, 120)
        got = source.read()
        assert got.shape == (120, 160, 3) and got[60, 120, 1] > 150 and got[60, 20].max() < 40
        stop.set()
        feeder.join()
        server.stop()
        with pytest.raises(SourceLost):
            for _ in range(500):
                source.read()
        source.close()
    finally:
        stop.set()
        server.server_close()


def test_a_stream_larger_than_the_memory_budget_is_refused_at_its_first_frame(monkeypatch):
    """A stream's size is known only once it sends a frame: frames over --max-pixels are refused then,
    with the one-line budget error files get, before the pipeline holds any of them."""
    from pibokeh.media import images
    monkeypatch.setattr(images, "_limit", images._limit)  # the budget as it was, after the test
    hub = PreviewHub()
    server = PreviewServer(("127.0.0.1", 0), hub, dict, dict).start()
    import threading
    stop = threading.Event()

    def feed():
        while not stop.is_set():
            hub.write(np.full((120, 160, 3), 90, np.uint8))
            time.sleep(0.02)
    threading.Thread(target=feed, daemon=True).start()
    try:
        images.limit_pixels(10_000)  # less than one 160x120 frame's way through the engine
        with pytest.raises(InputError, match=r"stream\.mjpg: 160x120 video is 0\.0 megapixels.*--max-pixels 0\.01M"):
            open_source(f"{server.url}stream.mjpg")
        images.limit_pixels(1_000_000)
        source = open_source(f"{server.url}stream.mjpg")
        assert source.read().shape == (120, 160, 3)
        source.close()
    finally:
        stop.set()
        server.stop()
        server.server_close()


def test_retries_double_the_wait_up_to_a_cap_then_give_the_last_error():
    from pibokeh.camera.reopen import MAX_RETRY_WAIT, open_with_retries

    class Clock:  # records the waits instead of sleeping
        def __init__(self):
            self.waits = []

        def wait(self, seconds):
            self.waits.append(seconds)
            return False

        def is_set(self):
            return False
    attempts, logs, clock = [], [], Clock()

    def failing():
        attempts.append(1)
        raise InputError(f"camera: busy ({len(attempts)})")
    with pytest.raises(InputError, match=r"busy \(8\)"):
        open_with_retries(failing, 7, clock, backoff=4.0, log=logs.append)
    assert clock.waits == [4, 8, 16, MAX_RETRY_WAIT, MAX_RETRY_WAIT, MAX_RETRY_WAIT, MAX_RETRY_WAIT]
    assert len(attempts) == 8 and logs[0] == "camera: busy (1); retrying in 4 s (1/7)"
    works = iter([InputError("camera: not yet"), None])

    def second_time():
        error = next(works)
        if error:
            raise error
        return "source"
    assert open_with_retries(second_time, 3, Clock()) == "source"
