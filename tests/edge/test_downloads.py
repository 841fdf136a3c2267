"""Downloads against hostile servers (a real HTTP server on loopback): endless zeros, a size larger than
the registry's, a byte every half second, signals mid-download (SIGTERM, SIGHUP, Ctrl-C, SIGKILL); and
the model-zoo tarballs: pinned checksums only, extracted into a private folder, one graph or none."""
from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import signal
import subprocess
import tarfile
import threading
import time
from pathlib import Path

import pytest
from pibokeh.errors import InputError, ModelError
from pibokeh.model import registry

from tests.helpers import clean_env, command, interruptible, one_line_error

ENTRY = registry.lookup("deeplabv3_mnv2_dm05_pascal_quant")  # 760904 bytes by the registry


class Hostile(http.server.BaseHTTPRequestHandler):
    """/zeros/F: zeros without end; /big/F: announces 1 GB; /trickle/F: a byte every half second."""

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        kind = self.path.split("/")[1]
        self.send_response(200)
        if kind == "big":
            self.send_header("Content-Length", str(1 << 30))
        self.end_headers()
        try:
            while True:
                if kind == "trickle":
                    self.wfile.write(b"\0")
                    self.wfile.flush()
                    time.sleep(0.5)
                else:
                    self.wfile.write(b"\0" * 65536)
        except OSError:
            pass


@pytest.fixture(scope="module")
def hostile():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def fetch(tmp_path: Path, mirror: str, *extra: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(command() + ["fetch", ENTRY.name, "--mirror", mirror, "-q", *extra], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env(tmp_path),
                            preexec_fn=interruptible, **kwargs)


def finished(proc: subprocess.Popen, timeout: float = 120) -> subprocess.CompletedProcess:
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def cache_files(tmp_path: Path) -> list[str]:
    cache = tmp_path / "cache"
    return sorted(p.name for p in cache.rglob("*")) if cache.exists() else []


def test_a_server_sending_zeros_without_end_is_stopped_at_the_registry_size(tmp_path, hostile):
    line = one_line_error(finished(fetch(tmp_path, f"{hostile}/zeros")))
    assert f"more than the {ENTRY.size_bytes} bytes the registry says" in line
    assert cache_files(tmp_path) == []  # not even a hidden partial file


def test_a_server_announcing_more_than_the_registry_says_is_refused_before_reading(tmp_path, hostile):
    line = one_line_error(finished(fetch(tmp_path, f"{hostile}/big")))
    assert f"the server offers {1 << 30} bytes, the registry says {ENTRY.size_bytes}" in line
    assert cache_files(tmp_path) == []


def test_a_trickling_server_is_given_up_after_the_whole_timeout(tmp_path, hostile):
    # a byte every 0.5 s never trips a per-read timeout: only a bound on the whole download ends it
    line = one_line_error(finished(fetch(tmp_path, f"{hostile}/trickle", "--timeout", "3")))
    assert "not complete after 3 s" in line
    assert cache_files(tmp_path) == []


def wait_for_partial(tmp_path: Path, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while not any(name.endswith(".part.tflite") for name in cache_files(tmp_path)):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)])
def test_every_signal_removes_the_partial_download(tmp_path, hostile, signum, code):
    proc = fetch(tmp_path, f"{hostile}/trickle")
    wait_for_partial(tmp_path, proc)
    proc.send_signal(signum)
    result = finished(proc)
    assert result.returncode == code and "Traceback" not in result.stderr, result.stderr
    assert cache_files(tmp_path) == []


def test_what_a_killed_download_left_is_removed_by_the_next_one(tmp_path, hostile):
    proc = fetch(tmp_path, f"{hostile}/trickle")
    wait_for_partial(tmp_path, proc)
    proc.kill()  # SIGKILL: no cleanup can run
    finished(proc)
    left = [p for p in (tmp_path / "cache").iterdir() if p.name.endswith(".part.tflite")]
    assert len(left) == 1
    os.utime(left[0], (time.time() - 60, time.time() - 60))  # a while ago, as after a reboot
    again = fetch(tmp_path, f"{hostile}/big")  # the next download of that model (it fails: no matter)
    finished(again)
    assert not left[0].exists() and cache_files(tmp_path) == []


# ---- the model zoo -------------------------------------------------------------------------------

def tarball(path: Path, members: dict[str, bytes], links: tuple[str, ...] = ()) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name in links:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(info)
    return path


def test_an_unpinned_zoo_tarball_is_not_downloaded(tmp_path, monkeypatch):
    from pibokeh.convert import zoo
    monkeypatch.setenv("PIBOKEH_CACHE", str(tmp_path / "cache"))
    unpinned = zoo.lookup("deeplabv3_mnv2_pascal_trainval")
    assert unpinned is not None and not unpinned.sha256
    with pytest.raises(ModelError, match="no sha256 is pinned .* download it yourself, check it"):
        zoo.fetch_tarball(unpinned)
    pinned = zoo.lookup("deeplabv3_mnv2_pascal_train_aug")
    assert len(pinned.sha256) == 64 and pinned.size_bytes == 23882985 and pinned.url.startswith("https://")
    assert not (tmp_path / "cache").exists()


def test_a_pinned_zoo_tarball_from_a_mirror_is_checked_and_its_graph_extracted_privately(tmp_path, monkeypatch):
    from pibokeh.convert import cli, zoo
    graph = b"a frozen graph's bytes"
    served = tmp_path / "served"
    served.mkdir()
    good = tarball(served / "model_2018.tar.gz", {"model/frozen_inference_graph.pb": graph,
                                                   "model/model.ckpt.index": b"x"})
    listing = tmp_path / "zoo.json"
    listing.write_text(json.dumps({"models": [{"name": "mine", "url": "https://example.invalid/model_2018.tar.gz",
                                               "sha256": hashlib.sha256(good.read_bytes()).hexdigest(),
                                               "size_bytes": good.stat().st_size}]}))
    monkeypatch.setenv("PIBOKEH_ZOO", str(listing))
    monkeypatch.setenv("PIBOKEH_CACHE", str(tmp_path / "cache"))
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    mirror = f"http://127.0.0.1:{server.server_address[1]}"
    # a graph someone left where the converter used to extract to is never picked up
    planted = Path(os.environ.get("TMPDIR", "/tmp")) / "pibokeh-zoo" / "model_2018" / "frozen_inference_graph.pb"
    scratch = tmp_path / "scratch"
    scratch.mkdir(mode=0o700)
    try:
        path, provenance, entry = cli.resolve_source("mine", mirror, True, scratch)
        assert path.read_bytes() == graph and scratch in path.parents and path != planted
        assert provenance["graph_in_tarball"] == "model/frozen_inference_graph.pb"
        assert provenance["graph_sha256"] == hashlib.sha256(graph).hexdigest()
        assert sorted(p.name for p in scratch.rglob("*")) == ["frozen_inference_graph.pb", "model"]  # one member
        # the mirror now serves something else under that name: refused, nothing kept
        (tmp_path / "cache" / "zoo" / "model_2018.tar.gz").unlink()
        tarball(served / "model_2018.tar.gz", {"model/frozen_inference_graph.pb": b"another graph, same size?"})
        with pytest.raises(ModelError, match="checksum mismatch|bytes the registry says"):
            zoo.fetch_tarball(zoo.lookup("mine"), mirror)
        assert list((tmp_path / "cache" / "zoo").iterdir()) == []
    finally:
        server.shutdown()


@pytest.mark.parametrize("members, links, words", [
    ({"a/frozen_inference_graph.pb": b"1", "b/frozen_inference_graph.pb": b"2"}, (), "holds 2"),
    ({"a/model.ckpt": b"1"}, (), "holds no frozen_inference_graph.pb"),
    ({}, ("m/frozen_inference_graph.pb",), "links and special files"),
    ({"../frozen_inference_graph.pb": b"1"}, (), "outside the extraction folder"),
    ({"/abs/frozen_inference_graph.pb": b"1"}, (), "outside the extraction folder"),
])
def test_hostile_tarballs_are_refused(tmp_path, members, links, words):
    from pibokeh.convert import zoo
    bad = tarball(tmp_path / "bad.tar.gz", members, links)
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises((InputError, ModelError), match=words):
        zoo.extract_graph(bad, dest)
    assert list(dest.rglob("*")) == [] and not (tmp_path / "frozen_inference_graph.pb").exists()
