"""`pibokeh camera` against faults, for real: a network source on 127.0.0.1 that accepts and never answers
(SIGTERM while opening, reconnecting and recording ends the process within 3 s with the recording
finalised), reloads with a broken card or an absurd option (one log line, the old settings keep
running), and a source that yields no frame at all (non-zero exit)."""
from __future__ import annotations

import json
import shutil
import signal
import socket
import threading
import time

import cv2
import numpy as np
import pytest

from tests.conftest import TINY
from tests.edge.camera_process import Camera, frames_of
from tests.helpers import scene

STOP_WITHIN = 3.0  # seconds: systemd's TimeoutStopSec is 20, the bar is 3


class StreamServer:
    """A local HTTP camera: connection 1 gets `frames` MJPEG frames then `after` ("stall": stays open and
    silent, "close": hangs up); every later connection is accepted and never answered."""

    def __init__(self, frames: int = 0, after: str = "stall"):
        self.frames, self.after = frames, after
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/stream.mjpg"
        self.connections: list[socket.socket] = []
        self.stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections.append(conn)
            if len(self.connections) == 1 and self.frames:
                threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\n\r\n")
            for t in range(self.frames):
                jpeg = cv2.imencode(".jpg", scene((320, 240), t)[0])[1].tobytes()
                conn.sendall(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n" % (len(jpeg), jpeg))
                time.sleep(1 / 30)
            if self.after == "close":
                conn.close()
        except OSError:
            pass

    def close(self) -> None:
        self.stop.set()
        for conn in self.connections:
            conn.close()
        self.sock.close()


@pytest.fixture
def stream():
    servers: list[StreamServer] = []

    def make(frames: int = 0, after: str = "stall") -> StreamServer:
        servers.append(StreamServer(frames, after))
        return servers[-1]
    yield make
    for server in servers:
        server.close()


def stop_and_time(camera: Camera) -> tuple[int, float]:
    start = time.monotonic()
    camera.proc.send_signal(signal.SIGTERM)
    code = camera.finish(timeout=60)
    return code, time.monotonic() - start


def test_sigterm_while_opening_a_stalled_stream(stream):
    server = stream()
    camera = Camera("--source", server.url, "--model", TINY, "--open-timeout", 60, "--retries", 3)
    camera.wait_for(lambda: server.connections, what="the connection")
    time.sleep(0.5)
    code, took = stop_and_time(camera)
    assert code == 0 and took < STOP_WITHIN, (took, camera.stderr)
    assert f"{server.url}: opening, waiting up to 60 s for the stream to answer" in camera.stderr
    assert "Traceback" not in camera.stderr


def test_a_stalled_stream_times_out_with_one_line(stream):
    server = stream()
    start = time.monotonic()
    camera = Camera("--source", server.url, "--model", TINY, "--open-timeout", 1, "--retries", 0)
    assert camera.finish() == 2
    assert time.monotonic() - start < 30  # not FFmpeg's own ~30 s per attempt
    errors = [line for line in camera.lines if "error:" in line]
    assert errors == [f"pibokeh: error: {server.url}: cannot open within 1 s (no answer, unreachable, or not a "
                      "stream OpenCV can read)"], camera.stderr
    assert all(line.startswith("pibokeh: ") for line in camera.lines), camera.stderr  # no OpenCV/FFmpeg chatter


@pytest.mark.parametrize("after", ["stall", "close"])
def test_sigterm_while_recording_or_reconnecting_finalises_the_recording(stream, tmp_path, after):
    # "stall": the capture is blocked reading a silent stream; "close": it is reopening a stalled one
    server = stream(frames=40, after=after)
    out = tmp_path / "rec.mp4"
    camera = Camera("--source", server.url, "--model", TINY, "--record", out, "--open-timeout", 30,
                    "--retries", 5, "--serve", "127.0.0.1:0")
    camera.wait_served()
    camera.wait_for(lambda: camera.stats()["frames_out"] >= 10, what="frames")
    if after == "close":
        camera.wait_for(lambda: "reconnecting" in camera.stderr, what="a reconnect")
        camera.wait_for(lambda: len(server.connections) >= 2, what="the reopened connection")
    else:
        camera.wait_for(lambda: camera.stats()["frames_in"] >= 40, what="the stream to go silent")
    time.sleep(1.0)
    code, took = stop_and_time(camera)
    assert code == 0 and took < STOP_WITHIN, (took, camera.stderr)
    frames = frames_of(out)
    assert len(frames) >= 10 and frames[0].shape == (240, 320, 3)  # finalised: decodable to the end
    assert not list(tmp_path.glob(".rec.*"))


def test_a_source_that_yields_no_frame_exits_non_zero(tmp_path):
    clip = tmp_path / "broken.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 25, (320, 240))
    for t in range(5):
        writer.write(np.full((240, 320, 3), 40 * t, np.uint8))  # flat frames: JPEGs of < 200 bytes
    writer.release()
    data = bytearray(clip.read_bytes())
    start = 0
    while (start := data.find(b"\xff\xd8", start)) >= 0:  # every JPEG of the clip wiped
        data[start:start + 200] = bytes(200)
        start += 200
    clip.write_bytes(bytes(data))
    camera = Camera("--source", f"video:{clip}", "--model", TINY)
    assert camera.finish() == 1, camera.stderr
    errors = [line for line in camera.lines if "error:" in line]
    assert errors == [f"pibokeh: error: video:{clip}: delivered no frame at all"], camera.stderr
    assert not [line for line in camera.lines if not line.startswith("pibokeh: ")]  # no FFmpeg chatter


def test_a_reload_checks_the_whole_new_configuration_and_keeps_the_old_one_on_errors(tmp_path, clip):
    model = tmp_path / "model.tflite"
    shutil.copy(TINY, model)
    card = json.loads(TINY.with_suffix(".json").read_text())
    model.with_suffix(".json").write_text(json.dumps(card))
    config = tmp_path / "pibokeh.toml"
    base = f'source = "video:{clip}"\nloop = true\nsize = "320x180"\nmodel = "{model}"\nserve = "127.0.0.1:0"\n'
    config.write_text(base + 'background = "#00ff00"\n')
    camera = Camera("--config", config)
    camera.wait_served()
    camera.wait_for(lambda: camera.stats()["frames_out"] >= 3, what="frames")

    def reload_fails(words: str) -> None:
        before = camera.stats()["frames_out"]
        failed = camera.stderr.count("reload failed")
        camera.proc.send_signal(signal.SIGHUP)
        camera.wait_for(lambda: camera.stderr.count("reload failed") > failed, what="a failed reload")
        line = [line for line in camera.lines if "reload failed" in line][-1]
        assert words in line and "Traceback" not in camera.stderr, camera.stderr
        camera.wait_for(lambda: camera.stats()["frames_out"] > before + 3, what="frames after the reload")
        assert camera.stats()["state"] == "running" and camera.stats()["reloads"] == 0

    model.with_suffix(".json").write_text(json.dumps({**card, "input": {"mean": "x"}}))  # a malformed card
    reload_fails("bad model card: input.mean should be a number")
    model.with_suffix(".json").write_text(json.dumps(card))
    config.write_text(base + "blur-kernel = 999999999\n")
    reload_fails("kernel size in px from 1 to 1001")
    config.write_text(base + "threads = 5000\n")
    reload_fails("thread count from 1 to 64")
    config.write_text(base + 'background = "#0000ff"\n')  # and a good one still applies
    camera.proc.send_signal(signal.SIGHUP)
    camera.wait_for(lambda: "reloaded" in camera.stderr, what="the reload")
    jpeg = camera.get("/snapshot.jpg")[1]
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).astype(int)
    camera.wait_for(lambda: camera.stats()["reloads"] == 1, what="the reload count")
    camera.proc.send_signal(signal.SIGTERM)
    assert camera.finish() == 0, camera.stderr
    assert image.shape == (180, 320, 3)


def test_reload_never_loads_a_model_whose_card_lies(tmp_path, clip):
    """A card that names nonsense (std 0) is refused at start and on reload alike."""
    model = tmp_path / "model.tflite"
    shutil.copy(TINY, model)
    card = json.loads(TINY.with_suffix(".json").read_text())
    model.with_suffix(".json").write_text(json.dumps({**card, "input": {**card["input"], "std": 0}}))
    camera = Camera("--source", f"video:{clip}", "--model", model)
    assert camera.finish() == 2
    assert "bad model card: input.std should be > 0" in camera.stderr and "Traceback" not in camera.stderr


def test_pixel_limit_reaches_the_background_image(tmp_path, clip):
    big = tmp_path / "big.png"
    cv2.imwrite(str(big), np.zeros((1200, 1000, 3), np.uint8))
    camera = Camera("--source", f"video:{clip}", "--model", TINY, "--background", big, "--max-pixels", "1M")
    assert camera.finish() == 2
    assert "more than --max-pixels 1M" in camera.stderr
