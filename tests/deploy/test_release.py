"""The release a deploy ships (scripts/deploy.sh --release-only): named by what runs, not by when it
was built, so that deploying the same thing twice is recognised as no change."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import OTHER_MODEL, REPO, SMALL_MODEL

from tests.conftest import need

DEPLOY = REPO / "scripts" / "deploy.sh"


def manifest(folder: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in (folder / "MANIFEST").read_text().splitlines())


def release(out: Path, model: Path, config: Path, unit: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(DEPLOY), "--release-only", str(out), "--model", str(model),
                           "--config", str(config), "--unit", str(unit)],
                          capture_output=True, text=True, timeout=300, env=os.environ | {"PYTHON": sys.executable})


@pytest.fixture
def service(tmp_path) -> tuple[Path, Path]:
    need(SMALL_MODEL)
    unit, config = tmp_path / "pibokeh.service", tmp_path / "pibokeh.toml"
    unit.write_text("[Service]\nExecStart=/opt/pibokeh/venv/bin/pibokeh camera --config /etc/pibokeh/pibokeh.toml\n")
    config.write_text('[server]\nserve = "0.0.0.0:9001"\n')
    return unit, config


@pytest.mark.slow
def test_same_inputs_give_the_same_release_even_from_a_new_wheel_build(tmp_path, service):
    unit, config = service
    first, second = release(tmp_path / "a", SMALL_MODEL, config, unit), release(tmp_path / "b", SMALL_MODEL, config, unit)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    a, b = manifest(tmp_path / "a"), manifest(tmp_path / "b")
    assert a["RELEASE"] == b["RELEASE"] and len(a["RELEASE"]) == 12
    assert (tmp_path / "a" / a["WHEEL"]).is_file() and (tmp_path / "a" / "model.tflite").read_bytes() == SMALL_MODEL.read_bytes()
    # a wildcard bind (nested table) is health-checked on loopback
    assert a["HEALTH_URL"] == "http://127.0.0.1:9001/healthz"


@pytest.mark.slow
def test_a_changed_model_or_config_is_a_new_release(tmp_path, service):
    unit, config = service
    base = release(tmp_path / "base", SMALL_MODEL, config, unit)
    other = release(tmp_path / "model", OTHER_MODEL, config, unit)
    changed = tmp_path / "changed.toml"
    changed.write_text(config.read_text() + "classes = 'person,dog'\n")
    reconfigured = release(tmp_path / "config", SMALL_MODEL, changed, unit)
    ids = {manifest(tmp_path / d)["RELEASE"] for d in ("base", "model", "config")}
    assert base.returncode == other.returncode == reconfigured.returncode == 0
    assert len(ids) == 3


def test_bad_inputs_fail_with_one_clear_line(tmp_path, service):
    unit, config = service
    not_a_model = tmp_path / "notes.tflite"
    not_a_model.write_text("not a model\n")
    for model, conf, expected in ((not_a_model, config, "not a TFLite model"),
                                  (tmp_path / "missing.tflite", config, "--release-only needs --model"),
                                  (SMALL_MODEL, tmp_path / "missing.toml", "service config not found")):
        result = release(tmp_path / "out", model, conf, unit)
        assert result.returncode == 2
        errors = [line for line in result.stderr.splitlines() if line.startswith("deploy:") and "building" not in line]
        assert len(errors) == 1 and expected in errors[0], result.stderr
        assert "Traceback" not in result.stderr
