"""A real Prometheus server (Debian package `prometheus`) for tests: started on 127.0.0.1 with a
given config and a temporary storage folder, queried through its HTTP API."""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape_config(targets: list[str], interval: str = "1s") -> str:
    """A prometheus.yml scraping `targets` (HOST:PORT) in one job, `pibokeh`."""
    return (f"global:\n  scrape_interval: {interval}\n  scrape_timeout: {interval}\n"
            "scrape_configs:\n  - job_name: pibokeh\n    static_configs:\n"
            f"      - targets: {json.dumps(targets)}\n")


def binary(name: str = "prometheus") -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"needs {name} (Debian package `prometheus`, listed in scripts/apt-packages.txt)")
    return path


class Prometheus:
    """`prometheus --config.file=CONFIG` on a free port of 127.0.0.1, its data under `work`."""

    def __init__(self, work: Path, config: Path):
        self.port = free_port()
        self.log = work / "prometheus.log"
        self.proc = subprocess.Popen([binary(), f"--config.file={config}", f"--storage.tsdb.path={work / 'tsdb'}",
                                      f"--web.listen-address=127.0.0.1:{self.port}"],
                                     stdout=subprocess.DEVNULL, stderr=open(self.log, "wb"))

    def query(self, expr: str) -> list[dict]:
        """The result of an instant query ([] while the server is not up yet)."""
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            with urllib.request.urlopen(url, timeout=5) as reply:
                answer = json.loads(reply.read())
        except OSError:
            return []
        assert answer["status"] == "success", answer
        return answer["data"]["result"]

    def wait_for(self, expr: str, accept, timeout: float = 90) -> list[dict]:
        """Query until the result is non-empty and `accept(result)`; AssertionError after `timeout`."""
        deadline = time.monotonic() + timeout
        result: list[dict] = []
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            result = self.query(expr)
            if result and accept(result):
                return result
            time.sleep(0.5)
        raise AssertionError(f"{expr}: {result}\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
