"""`pibokeh camera` as a user runs it: a real process in the background, its stderr read line by line,
its preview server asked over HTTP. Every camera started here is stopped after its test, and its
data folder removed (tests/edge/conftest.py calls `stop_all`)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np

from tests.helpers import FAKES, clean_env, command, error_line, interruptible

_started: list["Camera"] = []


class Camera:
    """`pibokeh camera ...` running in the background; stderr collected line by line."""

    def __init__(self, *args, env: dict | None = None, cwd: Path | None = None, fake: bool = False,
                 stdin=subprocess.DEVNULL, home: Path | None = None):
        self.home = None if home else Path(tempfile.mkdtemp(prefix="pibokeh-camera-"))
        full_env = clean_env(home or self.home, env)
        if fake:
            full_env["PYTHONPATH"] = os.pathsep.join([str(FAKES), full_env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        self.proc = subprocess.Popen(command() + ["camera", *map(str, args)], stderr=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stdin=stdin, text=True, env=full_env,
                                     cwd=cwd, preexec_fn=interruptible)
        _started.append(self)
        self.lines: list[str] = []
        self.url: str | None = None
        self._served = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))
            if line.startswith("pibokeh: serving "):
                self.url = line.split()[-1]
                self._served.set()
        self._served.set()

    @property
    def stderr(self) -> str:
        return "\n".join(self.lines)

    def wait_served(self, timeout: float = 60) -> str:
        assert self._served.wait(timeout) and self.url, f"no server came up:\n{self.stderr}"
        return self.url

    def get(self, path: str, timeout: float = 10) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.url + path.lstrip("/"), timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def stats(self) -> dict:
        return json.loads(self.get("/stats")[1])

    def wait_for(self, predicate, timeout: float = 60, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}:\n{self.stderr}")

    def finish(self, timeout: float = 120) -> int:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"pibokeh camera did not finish:\n{self.stderr}") from None
        time.sleep(0.05)
        return code

    def one_line_error(self, code: int) -> str:
        """Wait for the camera to exit with `code`; its one error line (and no traceback)."""
        assert self.finish() == code, self.stderr
        return error_line(self.stderr)


def stop_all() -> None:
    """Kill the cameras a failed test left running, and remove their data folders."""
    while _started:
        camera = _started.pop()
        if camera.proc.poll() is None:
            camera.proc.kill()
            camera.proc.wait()
        if camera.home:
            shutil.rmtree(camera.home, ignore_errors=True)


def frames_of(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            return frames
        frames.append(frame)
