"""Shared test fixtures: where ../shared/data is, the tiny test models, and the real `pibokeh` command
run in an environment of its own (no model, cache or data folder of the developer's)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests import helpers

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PIBOKEH_SHARED", ROOT.parent / "shared" / "data"))
MODELS = SHARED / "models"
CORAL = MODELS / "deeplabv3_mnv2_pascal_quant.tflite"
CORAL_DM05 = MODELS / "deeplabv3_mnv2_dm05_pascal_quant.tflite"
FLOAT257 = MODELS / "deeplabv3_257_mv_gpu.tflite"
VOC = SHARED / "voc"
VIDEO = SHARED / "video" / "person_handwave_854x480.mp4"

# Tiny DeepLab-shaped models (red things are "person"), made by tests/models/make_tiny_models.py.
TINY = ROOT / "tests" / "models" / "tiny_float.tflite"          # float32 input, scores, with a card
TINY_LABELS = ROOT / "tests" / "models" / "tiny_labels.tflite"  # uint8 input, labels, no card (Coral-like)
TINY_WIDE = ROOT / "tests" / "models" / "tiny_wide.tflite"      # float32 input 129x73 (16:9), with a card
TINY_LOGITS = ROOT / "tests" / "models" / "tiny_logits.tflite"  # tiny_wide with the logits head [1,37,65,21]


def need(path: Path) -> Path:
    """The shared file or folder, or skip the test saying what is missing."""
    if not path.exists():
        pytest.skip(f"needs {path} (../shared/data is not beside the repository)")
    return path


@pytest.fixture
def pibokeh(tmp_path):
    """Run the installed `pibokeh` command; returns CompletedProcess with text output."""
    def run(*args: str, env: dict | None = None, check: bool = False, **kwargs) -> subprocess.CompletedProcess:
        proc = helpers.run(helpers.command() + list(args), env=helpers.clean_env(tmp_path, env), **kwargs)
        if check and proc.returncode != 0:
            raise AssertionError(f"pibokeh {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr}")
        return proc
    return run


@pytest.fixture(scope="session")
def clip(tmp_path_factory) -> Path:
    """A 45-frame 320x240 clip of the moving red block (see helpers.scene)."""
    return helpers.write_clip(tmp_path_factory.mktemp("clip") / "scene.mp4")
