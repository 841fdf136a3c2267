"""scripts/deploy.sh against the loopback Pi, in order: first deploy, the runtime on an image there,
an idempotent second run, a model update, a broken model rolled back, an explicit rollback, and
a missing ssh key. The steps share one target, as one Pi lives through them."""
from __future__ import annotations

import hashlib
import os
import subprocess
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import OTHER_MODEL, SHARED, SMALL_MODEL, LoopbackPi, host_pibokeh, http_status

# every test deploys to the loopback Pi (built and started in ~2 min, a deploy takes 10-30 s)
pytestmark = [pytest.mark.usefixtures("loopback_pi"), pytest.mark.slow]
RELEASES: dict[str, str] = {}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def state(pi: LoopbackPi) -> dict[str, object]:
    """What a no-op deploy must leave alone: files (with mtimes), links, the running service."""
    snapshot: dict[str, object] = {"pid": pi.service_pid()}
    for top in ("/opt/pibokeh/releases", "/opt/pibokeh/models", "/etc/pibokeh", "/etc/systemd/system"):
        for path in sorted(pi.path(top).rglob("*")):
            snapshot[str(path)] = os.readlink(path) if path.is_symlink() else path.stat().st_mtime_ns
    for path in (pi.path("/opt/pibokeh/venv/.pibokeh-wheel"), pi.path("/opt/pibokeh/venv/pyvenv.cfg")):
        snapshot[str(path)] = path.stat().st_mtime_ns
    snapshot["current"] = pi.release()
    return snapshot


def test_first_deploy_installs_venv_unit_model_and_a_healthy_service(loopback_pi, service_files):
    pi, (unit, config) = loopback_pi, service_files
    result = pi.deploy("--model", SMALL_MODEL, "--unit", unit, "--config", config, "--health-timeout", "90")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "deployed: release" in result.stdout

    cfg = pi.path("/opt/pibokeh/venv/pyvenv.cfg").read_text()
    assert "include-system-site-packages = true" in cfg  # python3-picamera2 from apt must be visible
    assert pi.path("/etc/systemd/system/pibokeh.service").read_text() == unit.read_text()
    assert pi.path("/etc/pibokeh/pibokeh.toml").read_text() == config.read_text()
    dropin = pi.path("/etc/systemd/system/pibokeh.service.d/10-deploy.conf").read_text()
    assert "PIBOKEH_MODEL=/opt/pibokeh/models/current.tflite" in dropin
    assert sha256(pi.path("/opt/pibokeh/models/current.tflite").resolve()) == sha256(SMALL_MODEL)
    # the edge extras: the interpreter with wheels for this platform, the numpy/OpenCV pins
    versions = pi.ssh("/opt/pibokeh/venv/bin/python -c 'import numpy, cv2, ai_edge_litert; "
                      "print(numpy.__version__, cv2.__version__)'")
    assert versions.returncode == 0, versions.stderr
    numpy_version, cv2_version = versions.stdout.split()
    assert int(numpy_version.split(".")[0]) < 2 and tuple(map(int, cv2_version.split(".")[:2])) < (4, 12)
    assert pi.ssh("/opt/pibokeh/venv/bin/python -c 'import tensorflow'").returncode != 0  # edge only

    pid = pi.service_pid()
    assert pid is not None
    uid = int(Path(f"/proc/{pid}/status").read_text().split("Uid:")[1].split()[0])
    pibokeh_uid = next(int(line.split(":")[2]) for line in pi.path("/etc/passwd").read_text().splitlines()
                       if line.startswith("pibokeh:"))
    assert uid == pibokeh_uid != 0
    assert http_status(pi.health_url) == 200
    # the deployed camera service really streams: a blurred frame of the clip, at the configured size
    snapshot = urllib.request.urlopen(pi.health_url.replace("/healthz", "/snapshot.jpg"), timeout=10).read()
    frame = cv2.imdecode(np.frombuffer(snapshot, np.uint8), cv2.IMREAD_COLOR)
    assert frame is not None and frame.shape == (180, 320, 3)
    RELEASES["first"] = pi.release()


def test_deployed_runtime_makes_the_same_mask_as_the_workstation(loopback_pi, tmp_path):
    pi = loopback_pi
    image = SHARED / "voc" / "voc2012_2007_000129.jpg"  # a person, 37 % of the frame in the ground truth
    upload = subprocess.run(["ssh", "-o", "BatchMode=yes", *pi.ssh_options, pi.target,
                             "mkdir -p photos && cat > photos/in.jpg"],
                            input=image.read_bytes(), capture_output=True, timeout=60)
    assert upload.returncode == 0, upload.stderr
    remote = pi.ssh("/opt/pibokeh/venv/bin/pibokeh mask photos/in.jpg -o masks --quiet "
                    "--model /opt/pibokeh/models/current.tflite")
    assert remote.returncode == 0, remote.stderr
    there = cv2.imread(str(pi.path("/home/pi/masks/in.png")), cv2.IMREAD_UNCHANGED)

    local = subprocess.run([str(host_pibokeh()), "mask", str(image), "-o", str(tmp_path), "--quiet",
                            "--model", str(SMALL_MODEL)], capture_output=True, text=True, timeout=120)
    assert local.returncode == 0, local.stderr
    here = cv2.imread(str(tmp_path / "voc2012_2007_000129.png"), cv2.IMREAD_UNCHANGED)

    assert there.shape == here.shape == cv2.imread(str(image)).shape[:2]
    assert np.mean(there == here) >= 0.999
    gt = cv2.imread(str(SHARED / "voc" / "voc2012_2007_000129_gt.png"), cv2.IMREAD_UNCHANGED)
    person = there > 0
    assert np.sum(person & (gt == 15)) / np.sum(person | (gt == 15)) > 0.5  # it found the person


def test_second_deploy_changes_nothing_and_says_so(loopback_pi, service_files):
    pi, (unit, config) = loopback_pi, service_files
    before = state(pi)
    result = pi.deploy("--model", SMALL_MODEL, "--unit", unit, "--config", config)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no change" in result.stdout
    assert "uploading" not in result.stdout
    assert state(pi) == before


def test_model_update_swaps_only_the_model(loopback_pi, service_files):
    pi, (unit, config) = loopback_pi, service_files
    pid_before = pi.service_pid()
    wheel_stamp = pi.path("/opt/pibokeh/venv/.pibokeh-wheel").stat().st_mtime_ns
    result = pi.deploy("--model", OTHER_MODEL, "--unit", unit, "--config", config, "--health-timeout", "90")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "installing" not in result.stdout  # same wheel: pip is not run again
    assert pi.path("/opt/pibokeh/venv/.pibokeh-wheel").stat().st_mtime_ns == wheel_stamp
    assert sha256(pi.path("/opt/pibokeh/models/current.tflite").resolve()) == sha256(OTHER_MODEL)
    assert pi.release() != RELEASES["first"] and pi.release("previous") == RELEASES["first"]
    assert pi.service_pid() not in (None, pid_before)
    assert http_status(pi.health_url) == 200
    RELEASES["second"] = pi.release()


def test_broken_model_fails_health_check_and_rolls_back(loopback_pi, service_files, tmp_path):
    pi, (unit, config) = loopback_pi, service_files
    broken = tmp_path / "truncated.tflite"  # a model cut short by a bad copy
    broken.write_bytes(SMALL_MODEL.read_bytes()[: 200_000])
    result = pi.deploy("--model", broken, "--unit", unit, "--config", config, "--health-timeout", "20")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "failed its health check" in result.stderr
    assert f"rolled back: release {RELEASES['second']} is running and healthy" in result.stderr
    assert "Traceback" not in result.stdout  # the deploy's own output; the service log is quoted on stderr
    assert pi.release() == RELEASES["second"]
    assert sha256(pi.path("/opt/pibokeh/models/current.tflite").resolve()) == sha256(OTHER_MODEL)
    assert pi.service_pid() is not None
    assert http_status(pi.health_url) == 200


def test_rollback_command_returns_to_the_previous_release(loopback_pi):
    pi = loopback_pi
    result = pi.deploy("--rollback", "--health-timeout", "90")
    assert result.returncode == 0, result.stdout + result.stderr
    assert pi.release() == RELEASES["first"] and pi.release("previous") == RELEASES["second"]
    assert sha256(pi.path("/opt/pibokeh/models/current.tflite").resolve()) == sha256(SMALL_MODEL)
    assert http_status(pi.health_url) == 200
    status = pi.deploy("--status")
    assert status.returncode == 0 and f"release={RELEASES['first']}" in status.stdout
    assert "healthy=yes" in status.stdout


def test_missing_ssh_key_fails_clearly_without_a_prompt(loopback_pi, tmp_path):
    pi = loopback_pi
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    options = [o if o != str(pi.key) else str(stranger) for o in pi.ssh_options]
    result = subprocess.run([str(Path(__file__).resolve().parents[2] / "scripts" / "deploy.sh"), pi.target,
                             *options, "--status"],
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert "ssh-copy-id" in result.stderr and "Permission denied" in result.stderr
    assert pi.release() == RELEASES["first"]


def test_user_without_passwordless_sudo_fails_clearly(loopback_pi, service_files):
    pi, (unit, config) = loopback_pi, service_files
    result = subprocess.run([str(Path(__file__).resolve().parents[2] / "scripts" / "deploy.sh"), "visitor@127.0.0.1",
                             *pi.ssh_options, "--model", str(SMALL_MODEL), "--unit", str(unit), "--config", str(config)],
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "passwordless sudo" in result.stderr
    assert pi.release() == RELEASES["first"]
