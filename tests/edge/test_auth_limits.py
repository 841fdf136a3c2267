"""Nobody let in: a reload re-reads the password file (changed and removed logins stop at once, open
streams included; a file others may read or change is refused), and login floods are limited before
any hash is computed (at most two scrypt checks at a time, per user name as well as per address, and a
logged-in viewer is never re-hashed nor locked out). Real `pibokeh camera` processes, real clients;
memory is read from /proc (the kernel's peak RSS of the process), not timed."""
from __future__ import annotations

import base64
import http.client
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from pibokeh.camera.auth import Authenticator, write_user
from pibokeh.errors import InputError

from tests.conftest import TINY
from tests.edge.camera_process import Camera
from tests.helpers import clean_env, command, run

PASSWORDS = {"alice": "alice secret 1", "bob": "bob secret 22"}


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def users(tmp_path) -> Path:
    path = tmp_path / "viewers"
    for user, password in PASSWORDS.items():
        write_user(path, user, password)
    return path


def get(url: str, path: str, auth: str | None = None, timeout: float = 30) -> int:
    host, port = url.split("//")[1].rstrip("/").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    conn.request("GET", path, headers={"Authorization": auth} if auth else {})
    status = conn.getresponse().status
    conn.close()
    return status


def serving(clip: Path, users: Path, *extra: str) -> Camera:
    camera = Camera("--source", f"video:{clip}", "--loop", "--model", TINY, "--threads", "1", "--serve",
                    "127.0.0.1:0", "--auth", users, "--duration", "120", *extra)
    camera.wait_served()
    return camera


def passwd(path: Path, user: str, password: str | None) -> None:
    args = ["passwd", path, user] + (["--remove"] if password is None else [])
    proc = run(command() + args, env=clean_env(path.parent), input=f"{password}\n" if password else None)
    assert proc.returncode == 0, proc.stderr


# ---- reload ---------------------------------------------------------------------------------------

def open_stream(url: str, auth: str) -> http.client.HTTPResponse:
    host, port = url.split("//")[1].rstrip("/").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request("GET", "/stream.mjpg", headers={"Authorization": auth})
    response = conn.getresponse()
    assert response.status == 200
    response.read(1000)  # frames are flowing
    return response


def ends_within(response: http.client.HTTPResponse, seconds: float) -> bool:
    """True when the stream's server closes it within `seconds` (read on until the end of the body)."""
    done = threading.Event()

    def drain() -> None:
        try:
            while response.read(65536):
                pass
        except OSError:
            pass
        done.set()
    threading.Thread(target=drain, daemon=True).start()
    return done.wait(seconds)


def test_a_reload_re_reads_the_password_file_and_ends_revoked_streams(tmp_path, clip, users):
    camera = serving(clip, users)
    alice_old, bob = basic("alice", PASSWORDS["alice"]), basic("bob", PASSWORDS["bob"])
    for path in ("/", "/stats", "/metrics", "/snapshot.jpg"):
        assert get(camera.url, path, alice_old) == 200 and get(camera.url, path, bob) == 200
    alice_stream, bob_stream = open_stream(camera.url, alice_old), open_stream(camera.url, bob)
    passwd(users, "alice", "alice new secret")
    passwd(users, "bob", None)
    passwd(users, "carol", "carol secret 333")
    camera.proc.send_signal(signal.SIGHUP)
    camera.wait_for(lambda: "auth: " in camera.stderr, what="the auth reload")
    line = next(l for l in camera.lines if "auth: " in l)
    assert "added carol; removed bob; new password for alice" in line
    assert not any(secret in camera.stderr for secret in ("alice new secret", "carol secret", *PASSWORDS.values()))
    assert ends_within(alice_stream, 10) and ends_within(bob_stream, 10)  # open streams of revoked logins end
    for path in ("/", "/stream.mjpg", "/stats", "/metrics", "/snapshot.jpg"):
        assert get(camera.url, path, alice_old) == 401, path
        assert get(camera.url, path, bob) == 401, path
    assert get(camera.url, "/stats", basic("alice", "alice new secret")) == 200
    assert get(camera.url, "/stats", basic("carol", "carol secret 333")) == 200
    camera.proc.send_signal(signal.SIGTERM)
    assert camera.finish() == 0


def test_a_password_file_others_may_read_or_change_is_refused(tmp_path, clip, users):
    users.chmod(0o644)
    camera = Camera("--source", f"video:{clip}", "--model", TINY, "--serve", "127.0.0.1:0", "--auth", users)
    assert camera.finish() == 2
    assert f"{users}: the password file can be read or changed by others (mode 0644); make it private: " \
           f"chmod 640 {users}" in camera.stderr
    users.chmod(0o640)
    camera = serving(clip, users)
    users.chmod(0o666)  # someone could have written into it: a reload keeps the logins it had
    passwd_line = f"{users.read_text()}eve:{users.read_text().splitlines()[0].split(':', 1)[1]}\n"
    users.write_text(passwd_line)
    camera.proc.send_signal(signal.SIGHUP)
    camera.wait_for(lambda: "auth: reload failed" in camera.stderr, what="the refused reload")
    assert "the previous logins stay" in camera.stderr and "mode 0666" in camera.stderr
    assert get(camera.url, "/stats", basic("alice", PASSWORDS["alice"])) == 200
    assert get(camera.url, "/stats", basic("eve", PASSWORDS["alice"])) == 401
    camera.proc.send_signal(signal.SIGTERM)
    assert camera.finish() == 0


def test_passwd_removes_a_user_but_never_the_last_one(tmp_path, users):
    passwd(users, "bob", None)
    assert "bob:" not in users.read_text() and "alice:" in users.read_text()
    for user, words in (("bob", "no user bob to remove"), ("alice", "alice is the last user")):
        proc = run(command() + ["passwd", users, user, "--remove"], env=clean_env(tmp_path))
        assert proc.returncode == 2 and words in proc.stderr and "Traceback" not in proc.stderr
    assert Authenticator.from_file(users).users.keys() == {"alice"}


# ---- floods ---------------------------------------------------------------------------------------

def peak_rss(pid: int) -> int:
    """The process's peak resident memory so far (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def flood(url: str, headers: list[str]) -> list[int]:
    """All `headers` sent at once, each from its own connection; the status codes."""
    codes: list[int] = []
    start = threading.Barrier(len(headers))

    def one(header: str) -> None:
        start.wait()
        try:
            codes.append(get(url, "/stats", header, timeout=60))
        except OSError:
            codes.append(0)  # dropped (the server's queues are full): no hash either
    threads = [threading.Thread(target=one, args=(h,)) for h in headers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return codes


MB = 1 << 20
SCRYPT = 16 * MB  # what one password check holds while it runs
HASH_SLOTS_BOUND = 2 * SCRYPT + 24 * MB  # two checks at once, and the threads' stacks and buffers


@pytest.mark.parametrize("clients, tries", [(10, 40), (100, 150)])
def test_a_flood_of_wrong_logins_costs_at_most_two_checks_of_memory(tmp_path, clip, users, clients, tries):
    camera = serving(clip, users, "--max-clients", str(clients))
    bob = basic("bob", PASSWORDS["bob"])
    assert get(camera.url, "/stats", bob) == 200  # logged in before the flood
    time.sleep(1.0)  # the pipeline at its working size
    before = peak_rss(camera.proc.pid)
    codes = flood(camera.url, [basic("alice", f"guess {i}") for i in range(tries)])
    after = peak_rss(camera.proc.pid)
    # every attempt was counted before its hash: 10 of alice's from this address were checked, the rest
    # refused without a hash (429), or not even read (503 busy) when the workers were all taken
    assert codes.count(401) == 10, sorted(codes)
    assert set(codes) <= {401, 429, 503, 0} and codes.count(429) > 0
    assert after - before < HASH_SLOTS_BOUND, (before / MB, after / MB)
    # the flood aimed at alice: bob's session goes on without a hash, and bob logs in anew too
    assert get(camera.url, "/stats", bob) == 200
    assert get(camera.url, "/stats", basic("bob", "wrong")) == 401
    assert get(camera.url, "/stats", basic("alice", PASSWORDS["alice"])) == 429  # alice's name waits
    camera.proc.send_signal(signal.SIGTERM)
    assert camera.finish() == 0


def test_guessed_user_names_behind_one_address_lock_no_real_user_out(tmp_path, clip, users):
    camera = serving(clip, users, "--max-clients", "100")
    assert get(camera.url, "/stats", basic("bob", PASSWORDS["bob"])) == 200
    time.sleep(1.0)  # the pipeline at its working size
    before = peak_rss(camera.proc.pid)
    codes = flood(camera.url, [basic(f"nobody{i}", "guess") for i in range(150)])
    after = peak_rss(camera.proc.pid)
    assert codes.count(401) == 30 and codes.count(429) > 0, sorted(codes)  # unknown names: one shared limit
    assert after - before < HASH_SLOTS_BOUND
    # everyone behind that address (an ssh tunnel, a proxy) still logs in with a real name
    assert get(camera.url, "/stats", basic("alice", PASSWORDS["alice"])) == 200
    assert get(camera.url, "/stats", basic("bob", PASSWORDS["bob"])) == 200
    camera.proc.send_signal(signal.SIGTERM)
    assert camera.finish() == 0


def test_checks_are_counted_before_they_are_hashed_in_process(users):
    auth = Authenticator.from_file(users)
    results = []
    threads = [threading.Thread(target=lambda i=i: results.append(auth.check(basic("alice", f"x{i}"), "192.0.2.9")))
               for i in range(25)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    refused = [v for v in results if v.wait > 0]
    assert len(results) == 25 and len(refused) == 15 and all(v.login is None for v in results)
    assert auth.check(basic("bob", PASSWORDS["bob"]), "192.0.2.9").login.user == "bob"
    with pytest.raises(InputError, match="can be read or changed by others"):
        os.chmod(users, 0o604)
        Authenticator.from_file(users)
