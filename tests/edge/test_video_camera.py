"""`pibokeh camera` video outputs: a recording that survives SIGKILL, files a real browser plays
(headless Chromium: the recorded MP4 and a transparent WebM), and the virtual camera (the fake
pyvirtualcam receiving frames, the real one's error here, where v4l2loopback cannot be loaded)."""
from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path

import av
import numpy as np
import pytest

from tests.conftest import TINY
from tests.edge.video_clips import av_clip, probe
from tests.helpers import FAKES, clean_env, command, error_line


def camera(tmp_path: Path, *args, fake: bool = False, env: dict | None = None, timeout: float = 300):
    full_env = clean_env(tmp_path, env)
    if fake:
        full_env["PYTHONPATH"] = str(FAKES)
    return subprocess.run(command() + ["camera", *map(str, args)], capture_output=True, text=True, env=full_env,
                          timeout=timeout)


def test_a_recording_grows_under_its_name_and_survives_sigkill(tmp_path, clip):
    rec = tmp_path / "rec.mp4"
    proc = subprocess.Popen(command() + ["camera", "--source", f"video:{clip}", "--loop", "--record", str(rec),
                                         "--model", str(TINY), "-q"], env=clean_env(tmp_path),
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (rec.exists() and rec.stat().st_size > 0) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert rec.exists(), "the recording never appeared under its name"
        time.sleep(3)
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith((".rec", "rec"))] == ["rec.mp4"]
    finally:
        proc.kill()  # SIGKILL: no finalising, as on power loss
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    times = []
    with av.open(str(rec)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        try:
            for frame in container.decode(video=0):
                times.append(frame.time)
        except av.FFmpegError:
            pass  # the torn last fragment
    # 3 s recorded, a fragment a second: at least the first complete second plays (on a busy machine
    # the clip may play slower than 30 fps, so count seconds, not frames)
    assert len(times) >= 5 and times[-1] >= 1.0, times[-3:]


# ---- a real browser plays what pibokeh writes ---------------------------------------------------

PAGE = """<!doctype html><html><body>
<video id="v" src="{name}" muted playsinline></video>
<script>
const v = document.getElementById('v');
const send = (o) => fetch('/report?' + encodeURIComponent(JSON.stringify(o)));
v.addEventListener('error', () => send({{error: v.error ? v.error.code + ' ' + v.error.message : 'unknown'}}));
v.addEventListener('timeupdate', () => {{
  if (v.currentTime <= 1 || window.sent) return;
  window.sent = true;
  v.pause();
  const c = document.createElement('canvas');
  c.width = v.videoWidth; c.height = v.videoHeight;
  const g = c.getContext('2d');
  g.drawImage(v, 0, 0);
  const row = g.getImageData(0, Math.floor(c.height / 2), c.width, 1).data;
  let most = 0;
  for (let i = 3; i < row.length; i += 4) most = Math.max(most, row[i]);
  send({{width: v.videoWidth, height: v.videoHeight, time: v.currentTime,
         corner_alpha: g.getImageData(2, 2, 1, 1).data[3], middle_row_max_alpha: most}});
}});
v.play().catch((e) => send({{error: 'play: ' + e}}));
</script></body></html>"""


def played_in_chromium(browser: str, folder: Path, name: str, profile: Path) -> dict:
    """Open a page with <video src=name> from 127.0.0.1 in headless Chromium; what its script reports."""
    (folder / "play.html").write_text(PAGE.format(name=name))
    reports: list[dict] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(folder), **kwargs)

        def do_GET(self):
            if self.path.startswith("/report?"):
                reports.append(json.loads(urllib.parse.unquote(self.path.split("?", 1)[1])))
                self.send_response(204)
                self.end_headers()
                return
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    proc = subprocess.Popen([browser, "--headless", "--no-sandbox", "--disable-gpu", "--mute-audio",
                             "--autoplay-policy=no-user-gesture-required", "--disable-background-networking",
                             "--disable-component-update", "--no-first-run", f"--user-data-dir={profile}",
                             f"http://127.0.0.1:{server.server_address[1]}/play.html"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while not reports and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
    finally:
        proc.kill()
        proc.wait()
        server.shutdown()
        server.server_close()
    assert reports, "the page never reported (Chromium did not play the video within 90 s)"
    return reports[0]


def test_chromium_plays_a_recording_and_a_transparent_webm(tmp_path, pibokeh, chromium):
    long_clip = av_clip(tmp_path / "walk.mp4", frames=90, audio=False)  # 3 s
    site = tmp_path / "site"
    site.mkdir()
    proc = camera(tmp_path, "--source", f"video:{long_clip}", "--record", site / "rec.mp4", "--model", TINY)
    assert proc.returncode == 0, proc.stderr
    assert probe(site / "rec.mp4").codec == "h264"
    pibokeh("blur", long_clip, "-o", site, "--model", TINY, "--background", "transparent", check=True)
    mp4 = played_in_chromium(chromium, site, "rec.mp4", tmp_path / "profile-mp4")
    assert "error" not in mp4, mp4
    assert mp4["width"] == 320 and mp4["height"] == 240 and mp4["time"] > 1
    webm = played_in_chromium(chromium, site, "walk.webm", tmp_path / "profile-webm")  # a fresh profile: no stale lock
    assert "error" not in webm, webm
    assert webm["width"] == 320 and webm["time"] > 1
    assert webm["corner_alpha"] < 10 and webm["middle_row_max_alpha"] > 245  # the browser sees the alpha


# ---- the virtual camera -------------------------------------------------------------------------

def test_the_fake_virtual_camera_receives_the_pipelines_frames(tmp_path, clip):
    out = tmp_path / "cam"
    proc = camera(tmp_path, "--source", f"video:{clip}", "--virtual-camera", "/dev/video7", "--max-frames", 12,
                  "--size", "320x180", "--model", TINY, "--background", "green", fake=True,
                  env={"FAKE_PYVIRTUALCAM_OUT": str(out)})
    assert proc.returncode == 0, proc.stderr
    assert "virtual camera /dev/video7" in proc.stderr
    info = json.loads((out / "camera.json").read_text())
    assert info == {"device": "/dev/video7", "width": 320, "height": 180, "fps": 30.0, "fmt": "BGR", "frames": 12}
    last = np.load(out / "last.npy").astype(int)
    green = (last[..., 1] > 200) & (last[..., 0] < 60) & (last[..., 2] < 60)
    assert 0.3 < green.mean() < 0.95  # a composed frame: green background, the red block kept


@pytest.mark.parametrize("device, words", [(None, "No v4l2 loopback device found"),
                                           ("/dev/video63", "Device /dev/video63 does not exist")])
def test_without_v4l2loopback_the_virtual_camera_is_one_line_saying_modprobe(clip, device, words, pibokeh_main):
    pytest.importorskip("pyvirtualcam", reason="needs pyvirtualcam (pip install 'pibokeh[virtualcam]')")
    if any(Path("/sys/devices/virtual/video4linux").glob("video*")):
        pytest.skip("this machine has a v4l2loopback device")
    args = ["--virtual-camera"] + ([device] if device else [])
    proc = pibokeh_main("camera", "--source", f"video:{clip}", *args, "--max-frames", 3, "--model", TINY)
    assert proc.returncode == 2, proc.stderr
    line = error_line(proc.stderr)
    assert words in line and "sudo modprobe v4l2loopback exclusive_caps=1" in line
    assert os.linesep not in line.strip()
