"""The converter as a user installed it (`pip install .`, run from anywhere): bare output names go to
the user data folder, where the runtime finds them; every converter module imports on its own; the
committed tiny test models still come out of their script."""
from __future__ import annotations

import json
import pkgutil
import subprocess

import numpy as np
import pibokeh.convert
import pytest

from tests.conftest import TINY, TINY_LABELS, TINY_LOGITS, TINY_WIDE
from tests.full.conftest import HOME, run_tool
from tests import helpers
from tests.helpers import one_line_error, scene


def test_missing_graph_is_one_line_from_anywhere(tmp_path, convert):
    proc = convert(tmp_path / "missing.pb", "-o", "x.tflite", cwd=tmp_path)
    assert "no such file" in one_line_error(proc)


def test_a_bare_output_name_lands_in_the_data_folder_and_becomes_the_default(tiny_pb, tmp_path, convert,
                                                                             edge_python):
    proc = convert(tiny_pb, "-o", "mine.tflite", "--quant", "float32", "--size", "65", "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    model = HOME / "home" / "models" / "mine.tflite"
    assert model.is_file() and model.with_suffix(".json").is_file() and not (tmp_path / "mine.tflite").exists()
    listing = run_tool("pibokeh", "models", python=edge_python, cwd=tmp_path).stdout
    assert "mine.tflite" in listing and "<- default" in listing
    info = json.loads(run_tool("pibokeh", "info", "--json", python=edge_python, cwd=tmp_path).stdout)
    assert info["model"] == str(model)
    # a path, even a relative one, is taken as given
    proc = convert(tiny_pb, "-o", "./here.tflite", "--quant", "float32", "--size", "65", "-q", cwd=tmp_path)
    assert proc.returncode == 0 and (tmp_path / "here.tflite").is_file(), proc.stderr


def test_without_tensorflow_the_converter_says_so(tiny_pb, tmp_path, edge_python):
    proc = run_tool("pibokeh-convert", tiny_pb, "-o", tmp_path / "x.tflite", python=edge_python)
    assert "needs TensorFlow" in one_line_error(proc)
    assert run_tool("pibokeh-convert", "--help", python=edge_python).returncode == 0


CONVERTER = [m.name for m in pkgutil.iter_modules(pibokeh.convert.__path__, "pibokeh.convert.")]


@pytest.fixture(scope="module")
def imported_alone(tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    """Every converter module imported in an interpreter of its own (most of each is TensorFlow's)."""
    return helpers.imported_alone(CONVERTER, tmp_path_factory.mktemp("imports"))


@pytest.mark.parametrize("name", CONVERTER)
def test_every_converter_module_imports_on_its_own(name, imported_alone):
    proc = imported_alone[name]
    assert proc.returncode == 0, proc.stderr


def test_the_committed_tiny_models_come_out_of_their_script(tmp_path):
    from tests.models import make_tiny_models
    made = make_tiny_models.main(tmp_path)
    from pibokeh.model import open_model
    for committed in (TINY, TINY_LABELS, TINY_WIDE, TINY_LOGITS):
        fresh = tmp_path / committed.name
        assert fresh in made
        old, new = open_model(committed, threads=1), open_model(fresh, threads=1)
        assert old.describe()["input"] == new.describe()["input"]
        for t in range(3):
            image = scene((320, 240), 4 * t)[0]
            agreement = np.mean(old.segment(image) == new.segment(image))
            assert agreement > 0.99, (committed.name, agreement)
    for card in (TINY.with_suffix(".json"), TINY_WIDE.with_suffix(".json"), TINY_LOGITS.with_suffix(".json")):
        assert json.loads((tmp_path / card.name).read_text()) == json.loads(card.read_text())
