"""Memory: the peak resident set size of `pibokeh blur` on a 1920x1080 video with the recommended model
(before, by the previous version from git, and now, in the same run), of `pibokeh camera` at 1280x720
with the live page open and a recording running, what each part costs, and whether a long input
keeps it flat.

Each peak is measured by a fresh parent that runs only the command (RUSAGE_CHILDREN). The parts come
from a probe process that adds one part at a time and reads its RSS after each: the libraries
(NumPy, OpenCV, PyAV, the interpreter, pibokeh), the interpreter with the model after its first run,
a 1080p decoder after 30 frames, a 1080p encoder as `blur` sets it up after 30 frames; the frames in
flight (and what else the threaded run holds) are the run's peak minus those (`compositing_probe`).
The long run samples
the RSS of `pibokeh blur` once a second over a synthetic 720p clip of `minutes` minutes.
"""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import compositing_inputs as inputs

LIMITS_MB = {"blur_1080p": 250, "camera_720p": 220}
PEAK = ("import resource, subprocess, sys; code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, "
        "stderr=subprocess.DEVNULL).returncode; print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)")
BEFORE_CLI = ("import sys; from scripts.benchmarks.compositing_inputs import previous_version; previous_version(); "
              "from pibokeh_before.cli import main; sys.exit(main(sys.argv[1:]))")


def pibokeh(*args: Any, before: bool = False) -> list[str]:
    code = BEFORE_CLI if before else "import sys; from pibokeh.cli import main; sys.exit(main(sys.argv[1:]))"
    return [sys.executable, "-c", code, *map(str, args)]


def peak_mb(cmd: Sequence[str]) -> float:
    proc = subprocess.run([sys.executable, "-c", PEAK, *cmd], capture_output=True, text=True, cwd=inputs.ROOT)
    kib, code = proc.stdout.split()[-2:]
    if int(code) != 0:
        raise RuntimeError(f"{' '.join(cmd[3:6])}...: exit status {code}")
    return round(int(kib) / 1024, 1)


def rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def parts(model: Path, video: Path, peak: float, live: bool = False) -> dict[str, float]:
    proc = subprocess.run([sys.executable, "-m", "scripts.benchmarks.compositing_probe", str(model), str(video)]
                          + (["--live"] if live else []), capture_output=True, text=True, cwd=inputs.ROOT, check=True)
    steps = json.loads(proc.stdout)
    names = list(steps)
    out = {"python itself": round(steps["python"], 1)}
    for previous, name in zip(names, names[1:]):
        out[name] = round(steps[name] - steps[previous], 1)
    out["frames in flight and the rest of the threaded run"] = round(peak - steps[names[-1]], 1)
    return out


def camera_peak(model: Path, seconds: float = 20.0) -> float:
    """`pibokeh camera` on the 720p clip at 30 fps, with a viewer on /stream.mjpg and a recording."""
    with tempfile.TemporaryDirectory(prefix="pibokeh-memory-") as tmp:
        cmd = pibokeh("camera", "--source", f"video:{inputs.clip((1280, 720))}", "--loop", "--fps", "30", "--model",
                      model, "--serve", "127.0.0.1:0", "--record", Path(tmp) / "rec.mp4", "--duration", seconds)
        proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=inputs.ROOT)
        peak, stop = [0.0], threading.Event()
        for line in proc.stderr:
            if line.startswith("pibokeh: serving "):
                host, port = line.split("//")[1].strip("/\n").rsplit(":", 1)
                threading.Thread(target=_view, args=((host, int(port)), stop), daemon=True).start()
                break
        threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
        while proc.poll() is None:
            try:
                peak[0] = max(peak[0], rss_mb(proc.pid))
            except OSError:
                break
            time.sleep(0.1)
        stop.set()
    if proc.returncode != 0:
        raise RuntimeError(f"pibokeh camera: exit status {proc.returncode}")
    return round(peak[0], 1)


def _view(address: tuple[str, int], stop: threading.Event) -> None:
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        while not stop.is_set() and sock.recv(1 << 16):
            pass


def synthetic_clip(minutes: float, fps: float = 30.0, size: tuple[int, int] = (1280, 720)) -> Path:
    """A clip of `minutes` of a slow pan over synthetic pictures (made once, ultrafast)."""
    from pibokeh.bench import synthetic_frame
    from pibokeh.media import encoders
    from pibokeh.media.video import VideoFileSink
    path = inputs.WORKDIR / f"synthetic_{size[0]}x{size[1]}_{minutes:g}min.mp4"
    if not path.is_file():
        inputs.WORKDIR.mkdir(parents=True, exist_ok=True)
        bases = [synthetic_frame(size, seed) for seed in range(4)]
        encoder = encoders.encoder_for("libx264")
        encoder.options["preset"] = "ultrafast"
        with VideoFileSink(path, fps, size, encoder=encoder) as sink:
            for t in range(int(minutes * 60 * fps)):
                sink.write(np.roll(bases[(t // int(fps * 10)) % len(bases)], 4 * t, axis=1))
    return path


def long_run(minutes: float = 10.0) -> dict[str, Any]:
    """RSS of `pibokeh blur` once a second over a synthetic 720p clip of `minutes` minutes."""
    clip = synthetic_clip(minutes)
    samples = []
    with tempfile.TemporaryDirectory(prefix="pibokeh-long-") as tmp:
        proc = subprocess.Popen(pibokeh("blur", clip, "-o", tmp, "--model", inputs.TINY, "--quiet"), cwd=inputs.ROOT)
        while proc.poll() is None:
            try:
                samples.append(round(rss_mb(proc.pid), 1))
            except OSError:
                break
            time.sleep(1.0)
    if proc.returncode != 0:
        raise RuntimeError(f"pibokeh blur on the long clip: exit status {proc.returncode}")
    steady = samples[len(samples) // 10:] or samples  # after the first tenth (start-up)
    first, last = steady[: max(1, len(steady) // 10)], steady[-max(1, len(steady) // 10):]
    return {"clip_minutes": minutes, "seconds": len(samples), "samples": samples,
            "first_tenth_median": float(np.median(first)), "last_tenth_median": float(np.median(last)),
            "max": max(samples), "steady_spread": round(max(steady) - min(steady), 1)}


def measure(long_minutes: float = 10.0) -> dict[str, Any]:
    models = inputs.recommended_models()
    video = inputs.clip((1920, 1080))
    out: dict[str, Any] = {"video": video.name, "limits_mb": LIMITS_MB}
    with tempfile.TemporaryDirectory(prefix="pibokeh-memory-") as tmp:
        inputs.log("peak RSS of pibokeh blur on the 1080p clip, before and now")
        out["blur_1080p"] = {
            "before": peak_mb(pibokeh("blur", video, "-o", Path(tmp) / "a", "--model", models["scores"][0], "--quiet",
                                      before=True)),
            "now": peak_mb(pibokeh("blur", video, "-o", Path(tmp) / "b", "--model", models["logits"][0], "--quiet")),
            "model_before": models["scores"][0].name, "model_now": models["logits"][0].name}
    out["blur_1080p"]["parts"] = parts(models["logits"][0], video, out["blur_1080p"]["now"])
    inputs.log("peak RSS of pibokeh camera at 1280x720 with the page and a recording")
    out["camera_720p"] = {"now": camera_peak(models["logits"][0]), "model": models["logits"][0].name}
    out["camera_720p"]["parts"] = parts(models["logits"][0], inputs.clip((1280, 720)), out["camera_720p"]["now"],
                                        live=True)
    if long_minutes:
        inputs.log(f"RSS every second over a {long_minutes:g}-minute synthetic 720p clip")
        out["long_run"] = long_run(long_minutes)
    return out

