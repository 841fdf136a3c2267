"""Live controls from real clients: the page in headless Chromium changes the look and the stream
changes; a page of another site cannot; HTTP clients without the page's origin, without JSON, with
bad values or without credentials are refused and the old settings stay; each change is logged.
Also the still-scene skip as /stats, /metrics and the page show it (the clip here is a still scene)."""
from __future__ import annotations

import argparse
import base64
import http.server
import json
import threading
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
from pibokeh.camera.auth import Authenticator, write_user
from pibokeh.camera.controls import Controls
from pibokeh.camera.preview import PreviewHub, PreviewServer

from tests.conftest import TINY
from tests.edge.cdp import Chromium
from tests.edge.camera_process import Camera

DOTS = [(50, 50), (270, 50), (50, 190), (270, 190)]  # (x, y) of small white lights on a dark wall


@pytest.fixture(scope="module")
def lights(tmp_path_factory) -> Path:
    """A still scene, 320x240: white 3x3 lights on a dark wall and a red block (a "person" to the
    tiny model) in the middle; 30 frames, each with a little sensor noise."""
    path = tmp_path_factory.mktemp("lights") / "lights.mp4"
    frame = np.full((240, 320, 3), 30, np.uint8)
    for x, y in DOTS:
        frame[y - 1:y + 2, x - 1:x + 2] = 255
    frame[80:160, 120:200] = (20, 20, 230)
    rng = np.random.default_rng(0)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, (320, 240))
    for _ in range(30):
        writer.write(np.clip(frame + rng.normal(0, 1.5, frame.shape), 0, 255).astype(np.uint8))
    writer.release()
    return path


@pytest.fixture(scope="module")
def pictures(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("pictures")
    cv2.imwrite(str(folder / "blue.png"), np.full((60, 80, 3), (255, 0, 0), np.uint8))
    return folder


def start(lights: Path, pictures: Path, *extra) -> Camera:
    camera = Camera("--source", f"video:{lights}", "--loop", "--serve", "127.0.0.1:0", "--model", TINY,
                    "--blur-kernel", 61, "--backgrounds-dir", pictures, "--duration", 120, *extra)
    camera.wait_served()
    camera.wait_for(lambda: camera.stats()["frames_out"] > 2, what="frames")
    return camera


def post(camera: Camera, data, headers: dict | None = None) -> tuple[int, dict]:
    origin = camera.url.rstrip("/")
    head = {"Content-Type": "application/json", "Origin": origin, **(headers or {})}
    head = {k: v for k, v in head.items() if v is not None}
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    request = urllib.request.Request(camera.url + "controls", body, head, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def settings(camera: Camera) -> dict:
    return json.loads(camera.get("/config")[1])["settings"]


def test_changes_are_checked_applied_or_refused_and_logged(lights, pictures):
    camera = start(lights, pictures)
    controls = json.loads(camera.get("/controls")[1])
    assert controls["values"] == {"look": "gaussian", "blur-kernel": 61, "background": "blur", "feather": 0,
                                  "classes": "person"}
    assert controls["pictures"] == ["blue.png"] and "lens" in controls["looks"] and "dog" in controls["labels"]
    # not from the page: no Origin, another site's Origin, not JSON
    assert post(camera, {"look": "lens"}, {"Origin": None})[0] == 403
    assert post(camera, {"look": "lens"}, {"Origin": "http://attacker.example"})[0] == 403
    assert post(camera, {"look": "lens"}, {"Origin": camera.url.rstrip("/").replace("127.0.0.1", "localhost")})[0] == 403
    assert post(camera, {"look": "lens"}, {"Content-Type": "text/plain"})[0] == 415
    assert post(camera, b"x" * 5000)[0] == 413
    # from the page, but wrong: one line, the old settings stay
    for change, words in (({"classes": "unicorn"}, "unknown class"), ({"blur-kernel": 60}, "odd"),
                          ({"look": "fisheye"}, "invalid choice"), ({"background": "picture:../../etc/passwd"},
                                                                    "no background picture"),
                          ({"background": str(pictures / "blue.png")}, "the page takes blur, a colour"),
                          ({"background": "transparent"}, "the page takes blur, a colour"),
                          ({"model": "/tmp/x.tflite"}, "cannot be changed"), (["look"], "JSON object")):
        status, reply = post(camera, change)
        assert status == 400 and not reply["ok"] and words in reply["error"], (change, reply)
    assert settings(camera)["look"] == "gaussian" and camera.stats()["reloads_failed"] >= 1  # the class: tried
    # from the page and right: applied at once, reported, logged
    status, reply = post(camera, {"look": "lens", "background": "picture:blue.png", "feather": 9})
    assert status == 200 and reply["ok"] and reply["values"]["look"] == "lens"
    assert reply["values"]["background"] == "picture:blue.png"
    now = settings(camera)
    assert now["look"] == "lens" and now["feather"] == 9 and now["background"].endswith("blue.png")
    def logged() -> bool:
        return any(line.startswith("pibokeh: control from 127.0.0.1: ") and "look lens" in line and "feather 9" in line
                   and "background picture:blue.png" in line for line in camera.lines)
    camera.wait_for(logged, what="the log line")
    assert "control from 127.0.0.1 refused: a change must come from the preview page" in camera.stderr
    # the picture is behind the person now: the top left corner is blue in the stream
    def corner_is_blue() -> bool:
        jpeg = camera.get("/snapshot.jpg")[1]
        corner = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)[:30, :30].reshape(-1, 3).mean(axis=0)
        return corner[0] > 200 and corner[2] < 60
    camera.wait_for(corner_is_blue, what="the blue picture in the stream")
    # the still scene: inferences skipped, on /stats and /metrics
    stats = camera.stats()
    assert stats["inferences_skipped"] > 0 and stats["skip_still"] == 35.0
    metrics = camera.get("/metrics")[1].decode().splitlines()
    skipped = [line for line in metrics if line.startswith("pibokeh_inferences_skipped_total ")]
    assert len(skipped) == 1 and float(skipped[0].split()[1]) > 0
    camera.proc.terminate()
    assert camera.finish() == 0, camera.stderr


def test_no_controls_refuses_every_change(lights, pictures):
    camera = start(lights, pictures, "--no-controls", "--skip-still", 0)
    assert json.loads(camera.get("/controls")[1])["enabled"] is False
    assert post(camera, {"look": "lens"})[0] == 403 and settings(camera)["look"] == "gaussian"
    assert camera.stats()["inferences_skipped"] == 0  # --skip-still 0: off
    camera.proc.terminate()
    assert camera.finish() == 0, camera.stderr


def test_controls_need_the_same_credentials_and_host_as_everything_else(tmp_path):
    users = tmp_path / "users"
    write_user(users, "viewer", "correct horse")
    applied = []
    state = {"opts": argparse.Namespace(look="gaussian", blur_kernel=251, background="blur", feather=0,
                                        classes="person")}
    hub = PreviewHub()
    server = PreviewServer(("127.0.0.1", 0), hub, lambda: {}, lambda: {}, auth=Authenticator.from_file(users))
    server.routes = Controls(state, applied.append, None, lambda line: None).routes()
    server.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        def send(auth: str | None, host: str = "127.0.0.1") -> int:
            headers = {"Content-Type": "application/json", "Origin": f"http://{host}:{server.server_address[1]}",
                       "Host": f"{host}:{server.server_address[1]}"}
            if auth:
                headers["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
            request = urllib.request.Request(url + "/controls", b'{"look": "lens"}', headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    return response.status
            except urllib.error.HTTPError as exc:
                return exc.code
        assert send(None) == 401 and send("viewer:wrong") == 401
        assert send("viewer:correct horse", host="rebound.example") == 403  # DNS rebinding: refused first
        assert applied == []
        assert send("viewer:correct horse") == 200 and applied[0].look == "lens"
    finally:
        server.stop()


class _Site(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def test_the_page_changes_the_look_in_chromium_and_another_site_cannot(tmp_path, lights, pictures, chromium):
    browser_binary = chromium
    camera = start(lights, pictures, "--bloom", "1")
    browser = Chromium(browser_binary, tmp_path / "profile")
    # another site (another origin: a port of its own) whose page tries to change the camera's look
    site = tmp_path / "site"
    site.mkdir()
    (site / "attack.html").write_text(
        "<script>for (const body of ['{\"look\": \"gaussian\"}']) {"
        f"fetch('{camera.url}controls', {{method: 'POST', mode: 'no-cors', body}});"
        f"fetch('{camera.url}controls', {{method: 'POST', mode: 'no-cors', body, "
        "headers: {'Content-Type': 'text/plain'}});}</script>"
        f"<form id=f method=post action='{camera.url}controls' enctype='text/plain'>"
        "<input name='{\"look\": \"gaussian\", \"x\": \"' value='\"}'></form>"
        "<script>setTimeout(() => document.getElementById('f').submit(), 300)</script>")
    attacker = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: _Site(*a, directory=str(site)))
    threading.Thread(target=attacker.serve_forever, daemon=True).start()
    try:
        browser.open(camera.url)
        browser.wait_for("!document.getElementById('controls').hidden && document.getElementById('stream').naturalWidth > 0")
        # mean brightness around the lights, as the page shows the stream (drawn on a canvas)
        glow = ("(() => { const img = document.getElementById('stream'); const c = document.createElement('canvas');"
                " c.width = img.naturalWidth; c.height = img.naturalHeight; const g = c.getContext('2d');"
                " g.drawImage(img, 0, 0); let sum = 0, n = 0;"
                f" for (const [x, y] of {json.dumps(DOTS)}) {{ const d = g.getImageData(x - 8, y - 8, 17, 17).data;"
                " for (let i = 0; i < d.length; i += 4) { sum += (d[i] + d[i + 1] + d[i + 2]) / 3; n++; } }"
                " return sum / n; })()")
        gaussian = browser.evaluate(glow)
        assert gaussian < 45  # a Gaussian leaves three-pixel lights a faint smudge on the dark wall
        browser.evaluate("(() => { const s = document.getElementById('look'); s.value = 'lens';"
                         " s.dispatchEvent(new Event('change', {bubbles: true})); })()")
        state = browser.wait_for("(() => { const t = document.getElementById('control-state').textContent;"
                                 " return t.startsWith('applied') || t.startsWith('not applied') ? t : ''; })()")
        assert state == "applied: look lens"
        lens = browser.wait_for(f"(() => {{ const v = {glow}; return v > {gaussian} + 25 ? v : 0; }})()")
        assert lens > gaussian + 25  # the stream changed: the lights bloom into discs
        camera.wait_for(lambda: "control from 127.0.0.1: look lens" in camera.stderr, what="the log line")
        # the still scene: the page's figures show the skipped inferences
        row = browser.wait_for("(() => { const row = [...document.querySelectorAll('#stats tr')].find("
                               "r => r.cells[0].textContent.startsWith('inferences / skipped')); "
                               "return row && / \\/ [1-9]/.test(row.cells[1].textContent) ? row.cells[1].textContent : ''; })()")
        assert "above 35 dB" in row
        # a page of another site tries every way a browser allows; the look stays
        browser.open(f"http://127.0.0.1:{attacker.server_address[1]}/attack.html")
        camera.wait_for(lambda: camera.stderr.count("refused: a change must come from the preview page") >= 3,
                        what="three refusals")
        assert settings(camera)["look"] == "lens"
    finally:
        browser.close()
        attacker.shutdown()
        camera.proc.terminate()
    assert camera.finish() == 0, camera.stderr
