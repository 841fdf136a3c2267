"""The preview server from a real HTTP client: routes, methods, the MJPEG stream, client cap, slow clients."""
from __future__ import annotations

import http.client
import json
import socket
import threading
import time

import cv2
import numpy as np
import pytest
from pibokeh.camera.preview import BOUNDARY, PreviewHub, PreviewServer, healthy_while


def frame(level: int, size=(64, 48)) -> np.ndarray:
    return np.full((size[1], size[0], 3), level, np.uint8)


@pytest.fixture
def served():
    hub = PreviewHub()
    server = PreviewServer(("127.0.0.1", 0), hub, lambda: {"frames_out": 7}, lambda: {"settings": {"smooth": 0.5}},
                           max_clients=2, send_timeout=2.0).start()
    yield hub, server
    server.stop()


def request(server, method: str, path: str) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection(*server.server_address[:2], timeout=5)
    conn.request(method, path)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, dict(response.getheaders()), body


def open_stream(server) -> socket.socket:
    sock = socket.create_connection(server.server_address[:2], timeout=5)
    sock.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    return sock


def read_parts(sock: socket.socket, count: int) -> tuple[bytes, list[bytes]]:
    """The response head and `count` JPEG parts of a multipart stream."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, data = data.split(b"\r\n\r\n", 1)
    parts: list[bytes] = []
    while len(parts) < count:
        while data.count(b"--" + BOUNDARY.encode()) < 2 and b"Content-Length" not in data.split(b"\r\n\r\n")[0]:
            data += sock.recv(65536)
        start = data.index(b"--" + BOUNDARY.encode())
        header_end = data.index(b"\r\n\r\n", start)
        length = int([line for line in data[start:header_end].split(b"\r\n")
                      if line.lower().startswith(b"content-length")][0].split(b":")[1])
        while len(data) < header_end + 4 + length:
            data += sock.recv(65536)
        parts.append(data[header_end + 4:header_end + 4 + length])
        data = data[header_end + 4 + length:]
    return head, parts


def test_page_stats_config_health(served):
    hub, server = served
    status, headers, body = request(server, "GET", "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b'src="/stream.mjpg"' in body and b"/stats" in body
    status, headers, body = request(server, "GET", "/stats")
    stats = json.loads(body)
    assert status == 200 and stats["frames_out"] == 7 and stats["max_clients"] == 2 and stats["clients"] == 0
    assert json.loads(request(server, "GET", "/config")[2]) == {"settings": {"smooth": 0.5}}
    assert request(server, "GET", "/healthz")[:1] == (200,)


def test_snapshot_waits_for_a_frame(served):
    hub, server = served
    assert request(server, "GET", "/snapshot.jpg")[0] == 503
    hub.write(frame(200))
    status, headers, body = request(server, "GET", "/snapshot.jpg")
    image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
    assert status == 200 and headers["Content-Type"] == "image/jpeg"
    assert image.shape == (48, 64, 3) and abs(int(image.mean()) - 200) <= 2


@pytest.mark.parametrize("path", ["/nothing", "/static/index.html", "/../edge/cli.py", "/etc/passwd",
                                  "/stream.mjpg/../../pyproject.toml", "/stats/x"])
def test_unknown_paths_are_404_and_nothing_comes_from_disk(served, path):
    status, _, body = request(served[1], "GET", path)
    assert status == 404 and body == b"not found\n"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "BREW"])
def test_only_get_is_allowed(served, method):
    status, headers, _ = request(served[1], method, "/stats")
    assert status == 405 and headers["Allow"] == "GET"


def test_stream_sends_the_newest_frames_as_jpeg(served):
    hub, server = served
    stop = threading.Event()

    def feed():
        level = 0
        while not stop.is_set():
            level = (level + 10) % 250
            hub.write(frame(level))
            time.sleep(0.01)
    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    sock = open_stream(server)
    try:
        head, parts = read_parts(sock, 5)
        assert head.startswith(b"HTTP/1.1 200") and b"multipart/x-mixed-replace; boundary=" + BOUNDARY.encode() in head
        images = [cv2.imdecode(np.frombuffer(p, np.uint8), cv2.IMREAD_COLOR) for p in parts]
        assert all(i.shape == (48, 64, 3) for i in images)
        assert len({int(i.mean()) for i in images}) >= 3  # successive frames, not one repeated
    finally:
        stop.set()
        sock.close()


def test_client_cap_answers_503_and_frees_slots(served):
    hub, server = served
    hub.write(frame(50))
    first, second = open_stream(server), open_stream(server)
    read_parts(first, 1)
    read_parts(second, 1)
    status, headers, body = request(server, "GET", "/stream.mjpg")
    assert status == 503 and headers["Retry-After"] and body == b"too many viewers\n"
    first.close()
    deadline = time.monotonic() + 5
    while server.clients > 1 and time.monotonic() < deadline:
        hub.write(frame(60))  # the server notices a closed client when it next writes to it
        time.sleep(0.05)
    third = open_stream(server)
    hub.write(frame(70))
    assert read_parts(third, 1)[0].startswith(b"HTTP/1.1 200")
    second.close()
    third.close()


def test_a_client_that_stops_reading_does_not_hold_back_the_others(served):
    hub, server = served
    big = np.random.default_rng(1).integers(0, 255, (480, 640, 3), dtype=np.uint8)  # ~300 KB JPEGs
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect(server.server_address[:2])
    stalled.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")  # and never reads
    reader = open_stream(server)
    writes = []
    start = time.monotonic()
    for i in range(40):
        t = time.monotonic()
        hub.write(big if i % 2 else big[::-1])
        writes.append(time.monotonic() - t)
        if i == 5:
            read_parts(reader, 1)
        time.sleep(0.02)
    _, parts = read_parts(reader, 5)
    assert len(parts) == 5  # the reading client kept getting frames while the other one stalled
    assert max(writes) < 0.05  # the pipeline's hand-over never waited for a client
    assert time.monotonic() - start < 10
    stalled.close()
    reader.close()


def test_health_turns_bad_when_frames_stop():
    last = [time.monotonic()]
    running = [True]
    check = healthy_while(lambda: last[0], lambda: running[0], stale_after=0.2)
    assert check() == (True, "ok")
    time.sleep(0.25)
    ok, reason = check()
    assert not ok and reason.startswith("no frame for")
    running[0] = False
    assert check() == (False, "pipeline stopped")
