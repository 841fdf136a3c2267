"""Shared test fixtures: where ../shared/data is, and running the real `pibokeh` command."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PIBOKEH_SHARED", ROOT.parent / "shared" / "data"))
MODELS = SHARED / "models"
CORAL = MODELS / "deeplabv3_mnv2_pascal_quant.tflite"
CORAL_DM05 = MODELS / "deeplabv3_mnv2_dm05_pascal_quant.tflite"
FLOAT257 = MODELS / "deeplabv3_257_mv_gpu.tflite"
VOC = SHARED / "voc"
VIDEO = SHARED / "video" / "person_handwave_854x480.mp4"


def need(path: Path) -> Path:
    """The shared file or folder, or skip the test saying what is missing."""
    if not path.exists():
        pytest.skip(f"needs {path} (../shared/data is not beside the repository)")
    return path


@pytest.fixture
def pibokeh(tmp_path):
    """Run the installed `pibokeh` command; returns CompletedProcess with text output."""
    def run(*args: str, env: dict | None = None, check: bool = False) -> subprocess.CompletedProcess:
        # A clean slate: no default model or cache from the developer's own shell.
        base = {k: v for k, v in os.environ.items() if k != "PIBOKEH_MODEL"}
        full_env = {**base, "PIBOKEH_CACHE": str(tmp_path / "cache"), **(env or {})}
        script = Path(sys.executable).with_name("pibokeh")
        cmd = [str(script)] if script.exists() else [sys.executable, "-m", "edge.cli"]
        cmd += [str(a) for a in args]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=600)
        if check and proc.returncode != 0:
            raise AssertionError(f"{cmd} failed ({proc.returncode}):\n{proc.stderr}")
        return proc
    return run
