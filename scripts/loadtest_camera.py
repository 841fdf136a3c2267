#!/usr/bin/env python3
"""Bounded load test of `pibokeh camera --serve` (loopback only, at most ~30 s).

Runs the real command on a looping video, measures its output frame rate with no viewer, then
with 20 concurrent /stream.mjpg clients, one client that reads very slowly, and clients that
connect and leave all the time, then with no viewer again (the no-client figure is the mean of
the two). Prints the figures and checks the issue's targets:

  output fps with clients >= 80 % of the no-client run, no client errors, RSS growth < 20 MB.

    python scripts/loadtest_camera.py                 # 7 s per phase
    python scripts/loadtest_camera.py --seconds 2     # the short version CI runs

Exit status 0 when every target is met, 1 otherwise, 2 when the server cannot be started.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PIBOKEH_SHARED", ROOT.parent / "shared" / "data"))
BOUNDARY = b"--pibokehframe"


def pibokeh_cmd() -> list[str]:
    script = Path(sys.executable).with_name("pibokeh")
    return [str(script)] if script.exists() else [sys.executable, "-m", "pibokeh"]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return 0.0


class Server:
    """The camera command under test, serving on a free loopback port."""

    def __init__(self, args: argparse.Namespace):
        cmd = pibokeh_cmd() + ["camera", "--source", f"video:{args.video}", "--loop", "--fps", str(args.fps),
                               "--size", args.size, "--model", str(args.model), "--infer-every", "2",
                               "--serve", "127.0.0.1:0", "--max-clients", str(args.clients + 8)]
        self.proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        self.lines: list[str] = []
        self.address: tuple[str, int] | None = None
        ready = threading.Event()

        def read() -> None:
            for line in self.proc.stderr:
                self.lines.append(line.rstrip())
                if line.startswith("pibokeh: serving "):
                    host, port = line.split("//")[1].strip("/\n").rsplit(":", 1)
                    self.address = (host, int(port))
                    ready.set()
            ready.set()
        threading.Thread(target=read, daemon=True).start()
        ready.wait(120)
        if self.address is None:
            self.proc.kill()
            raise SystemExit("loadtest: the server did not start:\n" + "\n".join(self.lines))

    def stats(self) -> dict:
        url = f"http://{self.address[0]}:{self.address[1]}/stats"
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.loads(response.read())

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return -9


class Client(threading.Thread):
    """A /stream.mjpg viewer counting the frames it gets. `pause` > 0 makes it a slow reader."""

    def __init__(self, address: tuple[str, int], stop: threading.Event, pause: float = 0.0,
                 max_frames: int = 0):
        super().__init__(daemon=True)
        self.address, self.stop, self.pause, self.max_frames = address, stop, pause, max_frames
        self.frames = 0
        self.error: str | None = None

    def run(self) -> None:
        try:
            sock = socket.socket()
            if self.pause:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.settimeout(10)
            sock.connect(self.address)
            sock.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            head = sock.recv(1024 if self.pause else 65536)
            if not head.startswith(b"HTTP/1.1 200"):
                self.error = head.split(b"\r\n")[0].decode(errors="replace")
                return
            tail = head
            while not self.stop.is_set():
                chunk = sock.recv(1024 if self.pause else 65536)
                if not chunk:
                    self.error = "server closed the stream"
                    return
                # count boundaries, including one split across two reads
                self.frames += (tail[-len(BOUNDARY):] + chunk).count(BOUNDARY)
                tail = chunk
                if self.max_frames and self.frames >= self.max_frames:
                    return
                if self.pause:
                    time.sleep(self.pause)
        except OSError as exc:
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            sock.close()


def measure(server: Server, seconds: float) -> float:
    """Output frames per second of the pipeline over `seconds`."""
    first = server.stats()
    t0 = time.monotonic()
    time.sleep(seconds)
    last = server.stats()
    return (last["frames_out"] - first["frames_out"]) / (time.monotonic() - t0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=7.0, help="length of each of the 3 phases (default: 7)")
    parser.add_argument("--clients", type=int, default=20, help="concurrent stream clients (default: 20)")
    parser.add_argument("--fps", type=float, default=15.0, help="source frame rate (default: 15)")
    parser.add_argument("--size", default="640x360", help="frame size (default: 640x360)")
    parser.add_argument("--video", type=Path, default=SHARED / "video" / "person_handwave_854x480.mp4")
    parser.add_argument("--model", type=Path, default=SHARED / "models" / "deeplabv3_257_mv_gpu.tflite")
    args = parser.parse_args(argv)
    for path in (args.video, args.model):
        if not path.is_file():
            print(f"loadtest: {path}: not found (needs ../shared/data or --video/--model)", file=sys.stderr)
            return 2

    server = Server(args)
    try:
        deadline = time.monotonic() + 60
        while server.stats()["frames_out"] < 10 and time.monotonic() < deadline:
            time.sleep(0.2)  # warm up: model loaded, first frames out
        fps_alone = measure(server, args.seconds)
        rss_before = rss_mb(server.proc.pid)

        stop = threading.Event()
        clients = [Client(server.address, stop) for _ in range(args.clients)]
        slow = Client(server.address, stop, pause=0.5)
        for client in clients + [slow]:
            client.start()
        churned: list[Client] = []
        stop_churn = threading.Event()

        def churn() -> None:  # viewers that come and go: memory must stay flat
            while not stop_churn.wait(0.2):
                visitor = Client(server.address, threading.Event(), max_frames=1)  # leaves after a frame
                visitor.start()
                churned.append(visitor)
        churner = threading.Thread(target=churn, daemon=True)
        churner.start()
        time.sleep(min(1.0, args.seconds / 4))  # all connected
        rss_connected = rss_mb(server.proc.pid)
        start = time.monotonic()
        at_start = [c.frames for c in clients]
        fps_loaded = measure(server, args.seconds)
        elapsed = time.monotonic() - start
        counts = [c.frames - before for c, before in zip(clients, at_start)]
        rss_after = rss_mb(server.proc.pid)
        stats = server.stats()
        stop_churn.set()
        churner.join()
        for visitor in churned:
            visitor.join(15)  # each one gets its frame (or an error) before the others stop
        stop.set()
        for client in clients + [slow]:
            client.join(15)
        # Alone again: with the first run, a baseline on both sides of the loaded one, so a
        # machine that got busier or quieter meanwhile (other jobs) skews the ratio less.
        fps_after = measure(server, args.seconds)
    finally:
        code = server.stop()

    errors = [c.error for c in clients + churned if c.error] + ([slow.error] if slow.error else [])
    visitors_ok = sum(1 for c in churned if c.frames >= 1)
    baseline = (fps_alone + fps_after) / 2
    ratio = fps_loaded / baseline if baseline else 0.0
    growth = rss_after - rss_before
    checks = {
        "output fps with clients >= 80 % of the no-client run": ratio >= 0.8,
        "no client errors": not errors,
        "every viewer got frames": min(counts) > 0 and visitors_ok == len(churned),
        "RSS growth < 20 MB": growth < 20.0,
        "server exited 0": code == 0,
    }
    print(f"load test: {args.clients} stream clients + 1 slow reader + a new viewer every 0.2 s; "
          f"{args.seconds:g} s per phase")
    print(f"  source                    video {args.size} @ {args.fps:g} fps, model {args.model.name} "
          f"({stats['backend']}), infer every 2")
    print(f"  output fps, no clients    {fps_alone:.2f} before, {fps_after:.2f} after")
    print(f"  output fps, with clients  {fps_loaded:.2f}  ({ratio:.1%} of no-client run)")
    print(f"  frames per client         min {min(counts)}, median {statistics.median(counts):g}, "
          f"max {max(counts)} in {elapsed:.1f} s")
    print(f"  slow client frames        {slow.frames}")
    print(f"  viewers come and gone     {len(churned)} ({visitors_ok} got a frame)")
    print(f"  errors                    {len(errors)}" + (f" (first: {errors[0]})" if errors else ""))
    print(f"  server RSS                {rss_before:.1f} MB alone, {rss_connected:.1f} MB with all clients "
          f"connected, {rss_after:.1f} MB at the end ({growth:+.1f} MB; {rss_after - rss_connected:+.1f} MB "
          "while viewers came and went)")
    print(f"  dropped frames            {stats['dropped']}, pipeline latency {stats['ms']['latency']:.0f} ms")
    for name, ok in checks.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
