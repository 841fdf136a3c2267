"""Deploying an AI Camera model (the folder `pibokeh-convert --target imx500` writes) to the loopback Pi:
the Pi runs imx500-package on its packerOut.zip and the service runs the network.rpk it made.

The target has no AI Camera and no Sony packager: a stand-in imx500-package (target/imx500-package)
turns the zip into network.rpk as the real one is documented to, and the fake picamera2 with its IMX500
helper (tests/fakes/picamera2, copied where Raspberry Pi OS's python3-picamera2 lives) plays the camera.
What this proves is the deploy's side: packaging on the Pi, the model links, the service pointed at the
.rpk, idempotence, and a clear error when the packager is missing.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import pytest
from conftest import HERE, REPO, UNIT, LoopbackPi, http_status
from pibokeh.model.card import CARD_FORMAT
from pibokeh.model.labels import LABELS

from tests.conftest import TINY_WIDE
from tests.fakes.picamera2.devices.imx500 import write_rpk

FAKES = REPO / "tests" / "fakes" / "picamera2"
DEPLOY = REPO / "scripts" / "deploy.sh"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def converted(folder: Path, name: str = "fake") -> Path:
    """A stand-in for a converted AI Camera model: packerOut.zip holding dnnParams.xml (input 129x73, the
    tiny test model's) and the card the converter writes beside it."""
    folder.mkdir(parents=True)
    write_rpk(str(folder / "packerOut.zip"), 129, 73)
    with zipfile.ZipFile(folder / "packerOut.zip", "a") as archive:
        archive.writestr("manifest.json", json.dumps({"Network Name": name}))
    card = {"format": CARD_FORMAT, "family": f"test AI Camera network ({name})", "labels": list(LABELS),
            "input": {"width": 129, "height": 73, "size": 129}, "target": "imx500"}
    (folder / "network.json").write_text(json.dumps(card))
    return folder


@pytest.fixture(scope="module")
def ai_camera_pi(loopback_pi: LoopbackPi, tmp_path_factory) -> tuple[LoopbackPi, Path, Path]:
    """The loopback Pi with picamera2 (the fake, AI Camera attached) and imx500-package (the stand-in);
    a unit that tells the fake which camera it is and which CPU model plays the sensor's network."""
    pi = loopback_pi
    shutil.copytree(FAKES, pi.path("/usr/lib/python3/dist-packages/picamera2"), dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copyfile(HERE / "target" / "imx500-package", pi.path("/usr/bin/imx500-package"))
    pi.path("/usr/bin/imx500-package").chmod(0o755)
    shutil.copyfile(TINY_WIDE, pi.path("/srv/pibokeh-test/network_cpu.tflite"))
    work = tmp_path_factory.mktemp("imx500-deploy")
    unit = work / "pibokeh.service"
    unit.write_text(UNIT.read_text().replace(
        "Environment=PYTHONUNBUFFERED=1\n",
        "Environment=PYTHONUNBUFFERED=1\nEnvironment=FAKE_PICAMERA2_MODEL=imx500\n"
        "Environment=FAKE_IMX500_CPU_MODEL=/srv/pibokeh-test/network_cpu.tflite\n"))
    config = work / "pibokeh.toml"
    config.write_text(f'source = "picamera2"\nsize = "320x180"\nfps = 5\nquiet = true\n'
                      f'serve = "127.0.0.1:{pi.service_port}"\n')
    return pi, unit, config


def packaged(pi: LoopbackPi) -> list[str]:
    log = pi.path("/var/log/imx500-package.log")
    return log.read_text().splitlines() if log.is_file() else []


def test_an_ai_camera_model_is_packaged_on_the_pi_and_run(ai_camera_pi, tmp_path):
    pi, unit, config = ai_camera_pi
    model = converted(tmp_path / "mnv2_imx500")
    before = len(packaged(pi))
    result = pi.deploy("--model", model, "--unit", unit, "--config", config, "--health-timeout", "90")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "packaging the AI Camera network: imx500-package -i packerOut.zip" in result.stdout
    assert len(packaged(pi)) == before + 1
    rpk = pi.path("/opt/pibokeh/models/current.rpk")
    assert rpk.resolve().name == f"{sha256(model / 'packerOut.zip')}.rpk"
    assert rpk.read_bytes() == (model / "packerOut.zip").read_bytes()  # what the stand-in packager makes
    assert pi.path("/opt/pibokeh/models/current.json").read_bytes() == (model / "network.json").read_bytes()
    dropin = pi.path("/etc/systemd/system/pibokeh.service.d/10-deploy.conf").read_text()
    assert "PIBOKEH_MODEL=/opt/pibokeh/models/current.rpk" in dropin
    assert http_status(pi.health_url) == 200
    with urllib.request.urlopen(pi.health_url.replace("/healthz", "/stats"), timeout=10) as reply:
        stats = json.loads(reply.read())
    assert stats["backend"] == "imx500" and stats["model"].endswith("current.rpk")

    again = pi.deploy("--model", model, "--unit", unit, "--config", config)
    assert again.returncode == 0 and "no change" in again.stdout, again.stdout + again.stderr
    assert len(packaged(pi)) == before + 1  # nothing packaged twice


def test_a_pi_without_the_packager_says_what_to_install(ai_camera_pi, tmp_path):
    pi, unit, config = ai_camera_pi
    running = pi.release()
    packager = pi.path("/usr/bin/imx500-package")
    packager.rename(packager.with_name("imx500-package.away"))
    try:
        result = pi.deploy("--model", converted(tmp_path / "other", "other"), "--unit", unit, "--config", config)
    finally:
        packager.with_name("imx500-package.away").rename(packager)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "imx500-package is missing on this Pi: apt-get install imx500-tools" in result.stderr
    assert pi.release() == running and http_status(pi.health_url) == 200  # the running release is untouched


def test_an_ai_camera_model_needs_the_camera_as_source(tmp_path):
    config = tmp_path / "pibokeh.toml"
    config.write_text('source = "video:/srv/clip.mp4"\n')
    result = subprocess.run([str(DEPLOY), "--release-only", str(tmp_path / "release"), "--model",
                             str(converted(tmp_path / "m")), "--config", str(config), "--unit", str(UNIT)],
                            capture_output=True, text=True, timeout=300, env=os.environ | {"PYTHON": sys.executable})
    assert result.returncode == 2
    assert 'an AI Camera model needs source = "picamera2" in the service config' in result.stderr
    not_converted = tmp_path / "empty"
    not_converted.mkdir()
    result = subprocess.run([str(DEPLOY), "--release-only", str(tmp_path / "release2"), "--model", str(not_converted),
                             "--config", str(config), "--unit", str(UNIT)],
                            capture_output=True, text=True, timeout=300, env=os.environ | {"PYTHON": sys.executable})
    assert result.returncode == 2 and "no packerOut.zip in it" in result.stderr
