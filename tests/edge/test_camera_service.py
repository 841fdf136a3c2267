"""The systemd unit and example config in scripts/systemd, and the short run of the load test."""
from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pibokeh.camera.config import read_config
from pibokeh.camera.options import LIVE

from tests.conftest import FLOAT257, VIDEO, need

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "scripts" / "systemd" / "pibokeh.service"
CONFIG = ROOT / "scripts" / "systemd" / "pibokeh.toml"
EXEC = "/opt/pibokeh/venv/bin/pibokeh"


def unit_sections() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string(UNIT.read_text())
    return parser


def test_unit_runs_the_camera_as_an_unprivileged_video_user_and_restarts():
    service = unit_sections()["Service"]
    assert service["ExecStart"] == f"{EXEC} camera --config /etc/pibokeh/pibokeh.toml"
    assert service["User"] == "pibokeh" and "video" in service["SupplementaryGroups"].split()
    assert service["Restart"] == "on-failure"
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"  # SIGHUP: the command's reload
    assert service["KillSignal"] == "SIGTERM"  # the command's clean finish
    assert unit_sections()["Install"]["WantedBy"] == "multi-user.target"


def test_systemd_analyze_verify_accepts_the_unit(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("needs systemd-analyze (Debian package `systemd`, listed in scripts/apt-packages.txt)")
    # verify checks that ExecStart exists; point it at this venv's command, change nothing else.
    installed = Path(sys.executable).with_name("pibokeh")
    if not installed.exists():
        pytest.skip("needs the pibokeh command installed in this venv")
    unit = tmp_path / "pibokeh.service"
    unit.write_text(UNIT.read_text().replace(EXEC, str(installed)))
    proc = subprocess.run([analyze, "verify", "--man=no", str(unit)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stderr.strip() == "", proc.stderr
    broken = tmp_path / "broken.service"  # the check itself can fail
    broken.write_text(unit.read_text().replace("Restart=on-failure", "Restart=sometimes"))
    proc = subprocess.run([analyze, "verify", "--man=no", str(broken)], capture_output=True, text=True, timeout=120)
    assert "restart specifier" in proc.stderr


def test_example_config_is_valid_and_leaves_the_model_to_the_deploy():
    settings = read_config(CONFIG)
    assert settings["source"] == "picamera2" and settings["serve"] == ("127.0.0.1", 8765)
    # the deploy scripts choose the model with PIBOKEH_MODEL in a drop-in; the config must not override it
    assert "model" not in settings
    assert {"infer_every", "smooth", "blur_kernel"} <= set(settings) and {"infer_every", "smooth"} <= LIVE


@pytest.mark.slow
def test_short_load_test_meets_the_targets():
    need(VIDEO), need(FLOAT257)
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "loadtest_camera.py"), "--seconds", "2"],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ratio = float(re.search(r"\(([\d.]+)% of no-client run\)", proc.stdout).group(1))
    growth = float(re.search(r"at the end \(([+-][\d.]+) MB", proc.stdout).group(1))
    assert ratio >= 80 and growth < 20 and "errors                    0" in proc.stdout
    assert proc.stdout.count("PASS") == 5 and "FAIL" not in proc.stdout
