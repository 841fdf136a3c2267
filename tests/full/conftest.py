"""Fixtures for the full (TensorFlow) environment: the converter command and the edge venv."""
from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests import helpers
from tests.conftest import in_process
from tests.full import tiny_graph

ROOT = Path(__file__).resolve().parents[2]
HOME = Path(tempfile.mkdtemp(prefix="pibokeh-full-tests-"))  # data folder and cache of these tests


def run_tool(name: str, *args, cwd: Path = ROOT, env: dict | None = None, timeout: int = 1800,
             python: str | None = None) -> subprocess.CompletedProcess:
    """Run a console script of an environment (default: this one) in a clean environment."""
    return helpers.run(helpers.command(name, python) + list(args), env=helpers.clean_env(HOME, env),
                       timeout=timeout, cwd=cwd)


@pytest.fixture
def convert():
    def run(*args, **kwargs) -> subprocess.CompletedProcess:
        return run_tool("pibokeh-convert", *args, **kwargs)
    return run


@pytest.fixture
def convert_main(tmp_path, capfd):
    """`pibokeh-convert ARGS` through `pibokeh.convert.cli.main` in this process (tests.conftest.in_process):
    for bad input that ends before a conversion, where a new process would only import TensorFlow again."""
    from pibokeh.convert.cli import main
    with in_process(main, "pibokeh-convert", tmp_path, capfd) as run:
        yield run


@pytest.fixture(scope="session")
def edge_python() -> str:
    """The edge-only venv's python (scripts/test.sh exports PIBOKEH_EDGE_PYTHON)."""
    python = os.environ.get("PIBOKEH_EDGE_PYTHON")
    if not python or not Path(python).exists():
        pytest.skip("PIBOKEH_EDGE_PYTHON is not set: run through scripts/test.sh to check models "
                    "in the edge-only environment")
    return python


@pytest.fixture(scope="session")
def tiny_pb(tmp_path_factory) -> Path:
    return tiny_graph.build(tmp_path_factory.mktemp("graph") / "tiny_deeplab.pb")


@pytest.fixture(scope="session")
def photos(tmp_path_factory) -> Path:
    """Synthetic calibration/evaluation photos: red squares on varied backgrounds, with ground truth."""
    return helpers.red_square_photos(tmp_path_factory.mktemp("photos"), truth=True)
