"""A loopback "Pi" for the deploy tests: a Debian Bookworm root with its own real sshd on 127.0.0.1.

The target is a debootstrapped Bookworm root (Python 3.11, like Raspberry Pi OS; the host's
architecture) entered with chroot. Its own OpenSSH server listens on a free high port of
127.0.0.1 with a throw-away host key; a user `pi` with passwordless sudo (as on Raspberry Pi OS)
accepts a throw-away client key. deploy.sh and the Ansible playbook talk to it over real ssh,
and pip inside it installs the edge extras from PyPI, as a Pi would.

What it is not: there is no systemd running in a chroot, so /usr/bin/systemctl there is a small
stand-in (target/systemctl.py) that runs the installed unit's real ExecStart as its User/Group.
No Pi camera either: the deployed `pibokeh camera` service plays a video clip as its source.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import SHARED, need

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("PIBOKEH_DEPLOY_CACHE", "/tmp/pibokeh-deploy-test"))
MODELS = SHARED / "models"
SMALL_MODEL = MODELS / "deeplabv3_mnv2_dm05_pascal_quant.tflite"
OTHER_MODEL = MODELS / "deeplabv3_mnv2_pascal_quant.tflite"
CLIP = SHARED / "video" / "person_handwave_854x480.mp4"
UNIT = REPO / "scripts" / "systemd" / "pibokeh.service"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd: list[str | Path], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], check=True, capture_output=True, text=True, **kwargs)


def http_status(url: str, timeout: float = 3) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return reply.status
    except OSError:
        return None


@dataclass
class LoopbackPi:
    root: Path            # the target's filesystem, seen from the host
    port: int             # its sshd, on 127.0.0.1
    service_port: int     # where the deployed service's /healthz listens (config `serve`)
    key: Path
    known_hosts: Path
    work: Path
    sshd: subprocess.Popen | None = None
    mounts: list[Path] = field(default_factory=list)

    @property
    def target(self) -> str:
        return "pi@127.0.0.1"

    @property
    def ssh_options(self) -> list[str]:
        return ["-p", str(self.port), "-i", str(self.key), "-o", f"UserKnownHostsFile={self.known_hosts}",
                "-o", "StrictHostKeyChecking=yes", "-o", "LogLevel=ERROR"]

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.service_port}/healthz"

    def path(self, inside: str) -> Path:
        return self.root / inside.lstrip("/")

    def deploy(self, *args: str | Path, timeout: float = 900) -> subprocess.CompletedProcess:
        cmd = [REPO / "scripts" / "deploy.sh", self.target, *self.ssh_options, *args]
        return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, env=os.environ | {"PYTHON": sys.executable})

    def ssh(self, command: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(["ssh", "-o", "BatchMode=yes", *self.ssh_options, self.target, command],
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)

    def service_pid(self) -> int | None:
        pid_file = self.path("/run/fake-systemd/pibokeh.service.pid")
        if not pid_file.is_file():
            return None
        pid = int(pid_file.read_text())
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return None
        return None if state in ("Z", "X") else pid

    def release(self, link: str = "current") -> str | None:
        path = self.path(f"/opt/pibokeh/{link}")
        return os.readlink(path).rsplit("/", 1)[-1] if path.is_symlink() else None

    def start_sshd(self) -> None:
        self.sshd = subprocess.Popen(["chroot", str(self.root), "/usr/sbin/sshd", "-D", "-e",
                                      "-f", "/etc/ssh/sshd_test_config"],
                                     stdout=subprocess.DEVNULL, stderr=open(self.work / "sshd.log", "wb"))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.sshd.poll() is not None:
                raise RuntimeError(f"sshd exited: {(self.work / 'sshd.log').read_text()}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.2)
        raise RuntimeError("sshd did not start listening")

    def close(self) -> None:
        # Everything started inside the target (the service, sshd sessions) is ours to end.
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                try:
                    if os.readlink(proc / "root") == str(self.root):
                        os.kill(int(proc.name), 15)
                except OSError:
                    pass
        if self.sshd is not None:
            self.sshd.terminate()
            self.sshd.wait(timeout=10)
        for mount in reversed(self.mounts):
            subprocess.run(["umount", "-l", str(mount)], check=False)


def prepare_root(template: Path, root: Path) -> None:
    """A fresh copy of the cached Bookworm root, set up like a Pi that was never deployed to."""
    run(["cp", "-a", template, root])
    # pip inside reaches PyPI like the host does (same resolver, CA bundle and pip settings)
    shutil.copyfile("/etc/resolv.conf", root / "etc/resolv.conf")
    shutil.copyfile("/etc/ssl/certs/ca-certificates.crt", root / "etc/ssl/certs/ca-certificates.crt")
    for conf, inside in (("/etc/pip.conf", "etc/pip.conf"),
                         (Path.home() / ".config/pip/pip.conf", "root/.config/pip/pip.conf")):
        if Path(conf).is_file():
            (root / inside).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(conf, root / inside)
    # the stand-in service manager; and a clip in place of the Pi camera
    shutil.copyfile(HERE / "target" / "systemctl.py", root / "usr/bin/systemctl")
    (root / "usr/bin/systemctl").chmod(0o755)
    (root / "usr/bin/journalctl").symlink_to("systemctl")
    (root / "srv/pibokeh-test").mkdir(parents=True)
    shutil.copyfile(CLIP, root / "srv/pibokeh-test" / CLIP.name)
    # the Raspberry Pi OS first user: passwordless sudo
    # "*": no password to log in with, but not a locked account (sshd refuses those)
    for user in ("pi", "visitor"):
        run(["chroot", root, "useradd", "--create-home", "--shell", "/bin/bash", "--password", "*", user])
    (root / "etc/sudoers.d/010_pi-nopasswd").write_text("pi ALL=(ALL) NOPASSWD: ALL\n")
    (root / "etc/sudoers.d/010_pi-nopasswd").chmod(0o440)


@pytest.fixture(scope="session")
def loopback_pi(tmp_path_factory) -> LoopbackPi:
    if os.geteuid() != 0:
        pytest.skip("the loopback Pi needs root (debootstrap, chroot, mounts)")
    for tool in ("debootstrap", "ssh", "ssh-keygen"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed (apt-get install debootstrap openssh-client)")
    for path in (SMALL_MODEL, OTHER_MODEL, CLIP):
        need(path)

    arch = run(["dpkg", "--print-architecture"]).stdout.strip()
    template = CACHE / f"target-bookworm-{arch}"
    subprocess.run([str(REPO / "scripts" / "debian-root.sh"), arch, str(template), "openssh-server,sudo"],
                   check=True, timeout=1200)
    work = tmp_path_factory.mktemp("loopback-pi")
    root = work / "root"
    prepare_root(template, root)

    pi = LoopbackPi(root=root, port=free_port(), service_port=free_port(), key=work / "id_ed25519",
                    known_hosts=work / "known_hosts", work=work)
    try:
        for inside, source in (("proc", None), ("root/.cache/pip", CACHE / "pip-cache")):
            (root / inside).mkdir(parents=True, exist_ok=True)
            if source is None:
                run(["mount", "-t", "proc", "proc", root / inside])
            else:  # a pip cache that outlives the throw-away root, so re-runs do not download again
                source.mkdir(parents=True, exist_ok=True)
                run(["mount", "--bind", source, root / inside])
            pi.mounts.append(root / inside)

        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "deploy-test", "-f", pi.key])
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", root / "etc/ssh/test_host_ed25519"])
        host_key = (root / "etc/ssh/test_host_ed25519.pub").read_text().split()
        pi.known_hosts.write_text(f"[127.0.0.1]:{pi.port} {host_key[0]} {host_key[1]}\n")
        for user in ("pi", "visitor"):  # visitor: a key, but no sudo
            ssh_dir = root / f"home/{user}/.ssh"
            ssh_dir.mkdir(mode=0o700)
            shutil.copyfile(f"{pi.key}.pub", ssh_dir / "authorized_keys")
            run(["chroot", root, "chown", "-R", f"{user}:{user}", f"/home/{user}/.ssh"])
        (root / "run/sshd").mkdir(parents=True, exist_ok=True)
        (root / "etc/ssh/sshd_test_config").write_text(
            f"Port {pi.port}\nListenAddress 127.0.0.1\nHostKey /etc/ssh/test_host_ed25519\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
            "PermitRootLogin no\nUsePAM no\nAuthorizedKeysFile .ssh/authorized_keys\n"
            "PidFile /run/sshd-test.pid\n")
        pi.start_sshd()
        yield pi
    finally:
        pi.close()


@pytest.fixture(scope="session")
def service_files(tmp_path_factory, loopback_pi: LoopbackPi) -> tuple[Path, Path]:
    """The repository's systemd unit, and a service config that plays a clip in place of the camera.

    Small and slow on purpose (320x180, 5 fps, one thread): the machine is shared."""
    config = tmp_path_factory.mktemp("service") / "pibokeh.toml"
    config.write_text(f'source = "video:/srv/pibokeh-test/{CLIP.name}"\nloop = true\nsize = "320x180"\n'
                      'fps = 5\nthreads = 1\ninfer-every = 2\nquiet = true\n'
                      f'serve = "127.0.0.1:{loopback_pi.service_port}"\n')
    return UNIT, config


def host_pibokeh() -> Path:
    """The `pibokeh` of the venv running the tests (the x86 reference for the target's output)."""
    return Path(sys.executable).parent / "pibokeh"


@pytest.fixture(scope="session")
def ansible_playbook() -> Path:
    """ansible-core from PyPI: the test venv's if installed, else a cached venv made once."""
    for candidate in (Path(sys.executable).parent / "ansible-playbook", shutil.which("ansible-playbook")):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    venv = CACHE / "ansible-venv"
    if not (venv / "bin" / "ansible-playbook").is_file():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "ansible-core>=2.15"],
                       check=True, timeout=600)
    return venv / "bin" / "ansible-playbook"
