"""The camera pipeline's ceiling: the engine `pibokeh camera` runs, with the near-free model, fed as
fast as a video decodes (a camera that never makes it wait: frames the pipeline is not ready for are
dropped, as a live camera's are), with the live page's stream open (the real preview server and a
client reading /stream.mjpg) and a recording running (the real `Recording`, dropping frames its
encoder has no time for, as on a camera), for `seconds` at 1920x1080 and 1280x720.

Measured: frames out per second, the recording's frames per second, what /stats shows per stage, and
the CPU each stage's thread took per frame it handled (/proc/self/task), and the whole process's CPU
per output frame (getrusage: threads that ended meanwhile included). The machine's cores are shared with
other jobs while this runs, so the frame rate measured is what the pipeline got of them; the CPU per
frame says what it would do with the cores to itself: each stage's thread can do 1000 / its CPU ms
frames a second at most, and all of them together can use every core.
"""
from __future__ import annotations

import os
import resource
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from pibokeh.camera.preview import PreviewHub, PreviewServer
from pibokeh.camera.recording import Recording
from pibokeh.camera.sources import LiveSource
from pibokeh.engine import Engine, Settings
from pibokeh.media.video import VideoFileSource
from pibokeh.model import open_model
from pibokeh.stats import Stats

from . import compositing_inputs as inputs

TICKS = os.sysconf("SC_CLK_TCK")


class Unthrottled(LiveSource):
    """A video file played as fast as it decodes, from the start again at its end, like a camera that
    never waits for the pipeline."""

    def __init__(self, path: Path):
        self._video = VideoFileSource(path)
        self.name, self.fps, self.size = f"video:{path.name}", self._video.fps, self._video.size

    def read(self):
        frame = self._video.read()
        if frame is None:
            self._video.rewind()
            frame = self._video.read()
        return frame

    def close(self) -> None:
        self._video.close()


def thread_names() -> dict[int, str]:
    """Every thread's name by native id: Python's own names where Python made it, else the OS's
    (FFmpeg names its decoding threads av:h264:df0, ...)."""
    names = {}
    for task in os.listdir("/proc/self/task"):
        try:
            names[int(task)] = Path(f"/proc/self/task/{task}/comm").read_text().strip()
        except OSError:
            continue
    names.update({t.native_id: t.name for t in threading.enumerate() if t.native_id})
    return names


def process_cpu() -> float:
    """CPU seconds of the whole process so far, every thread it ever had included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def thread_cpu() -> dict[int, float]:
    """CPU seconds of every thread of this process, by native thread id."""
    out = {}
    for task in os.listdir("/proc/self/task"):
        try:
            fields = Path(f"/proc/self/task/{task}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # a thread that just ended
        out[int(task)] = (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime
    return out


def _viewer(address: tuple[str, int], stop: threading.Event, counts: dict[str, int]) -> None:
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        tail = b""
        while not stop.is_set():
            chunk = sock.recv(1 << 16)
            if not chunk:
                return
            counts["frames"] += (tail + chunk).count(b"--pibokehframe")
            tail = chunk[-16:]


def run(size: tuple[int, int], seconds: float = 15.0, threads: int = 2) -> dict[str, Any]:
    stats = Stats()
    source = Unthrottled(inputs.clip(size))
    hub = PreviewHub(on_encode=lambda s: stats.record("encode", s))
    server = PreviewServer(("127.0.0.1", 0), hub, stats=lambda: {}, config=lambda: {}).start()
    with tempfile.TemporaryDirectory(prefix="pibokeh-ceiling-") as tmp:
        recording = Recording(Path(tmp) / "rec.mp4", source.fps, source.size, skips=True, record=stats.record)
        engine = Engine(source, open_model(inputs.TINY, threads=threads), [hub, recording], Settings(), stats=stats)
        stop, viewer = threading.Event(), {"frames": 0}
        threading.Thread(target=_viewer, args=(server.server_address[:2], stop, viewer), daemon=True).start()
        before = thread_cpu()
        engine.start()
        time.sleep(2.0)  # warm-up: the model's first run, the encoder's start
        cpu0, counts0, t0, all0 = thread_cpu(), _counts(stats, recording, viewer), time.monotonic(), process_cpu()
        time.sleep(seconds)
        cpu1, counts1, t1, all1 = thread_cpu(), _counts(stats, recording, viewer), time.monotonic(), process_cpu()
        ms = {k: round(v, 2) for k, v in stats.ms.items()}
        stage_ids = {name: t.native_id for name, t in zip(("read", "segment", "compose"), engine._threads)}
        stage_ids["record"] = recording._thread.native_id
        names = thread_names()
        engine.join(read_timeout=2.0)
        stop.set()
        server.stop()
        recording.close()
    del before
    elapsed = t1 - t0
    done = {k: counts1[k] - counts0[k] for k in counts0}
    used = {tid: cpu1.get(tid, 0.0) - cpu0.get(tid, 0.0) for tid in cpu1}
    per_frame = {}
    handled = {"read": done["frames_in"], "segment": done["inferences"], "compose": done["frames_out"],
               "record": done["recorded"]}
    for name, tid in stage_ids.items():
        per_frame[name] = round(1000 * used.get(tid, 0.0) / max(handled[name], 1), 2)
    rest = {tid: v for tid, v in used.items() if tid not in stage_ids.values()}
    preview = [tid for tid in rest if names.get(tid) == "pibokeh-request"]
    per_frame["preview JPEG (request thread)"] = round(1000 * sum(rest.pop(t) for t in preview) / max(done["viewer"], 1), 2)
    # everything else, threads that ended meanwhile included (FFmpeg starts new decoding threads each
    # time the clip starts again): the process's CPU time less the threads named above
    total = all1 - all0
    named = sum(v for tid, v in used.items() if tid not in rest)
    per_frame["decoder's, x264's, the interpreter's and other threads"] = round(
        1000 * (total - named) / max(done["frames_out"], 1), 2)
    total_ms = 1000 * total / max(done["frames_out"], 1)
    pipeline = [per_frame[k] for k in ("read", "segment", "compose", "preview JPEG (request thread)")]
    cores = os.cpu_count() or 1
    return {"size": list(size), "seconds": round(elapsed, 1), "load_average": round(os.getloadavg()[0], 2),
            "fps_out": round(done["frames_out"] / elapsed, 1), "fps_in": round(done["frames_in"] / elapsed, 1),
            "fps_recorded": round(done["recorded"] / elapsed, 1), "fps_viewer": round(done["viewer"] / elapsed, 1),
            "stats_ms": ms, "cpu_ms_per_frame": per_frame, "cpu_ms_per_output_frame": round(total_ms, 2),
            "ceiling_fps_cores_to_itself": round(min(1000 / max(max(pipeline), 1e-3), cores * 1000 / total_ms), 1),
            "cores": cores}


def _counts(stats: Stats, recording: Recording, viewer: dict[str, int]) -> dict[str, int]:
    return {"frames_in": stats.frames_in, "frames_out": stats.frames_out, "inferences": stats.inferences,
            "recorded": recording.frames, "viewer": viewer["frames"]}


def measure(seconds: float = 15.0, threads: int = 2) -> dict[str, Any]:
    runs = []
    for size in ((1920, 1080), (1280, 720)):
        inputs.log(f"camera pipeline ceiling at {size[0]}x{size[1]}, {seconds:g} s")
        runs.append(run(size, seconds, threads))
    return {"model": inputs.TINY.name, "runs": runs}
