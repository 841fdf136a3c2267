"""Shared test fixtures: where ../shared/data is, the tiny test models, the real `pibokeh` command run in
an environment of its own (no model, cache or data folder of the developer's), the same command run
in this process, and headless Chromium.

The test lanes (markers registered in pyproject.toml, README "Two commands") are set here where a
test's needs say them, so that test files stay plain:
- `tensorflow`: every test under tests/full (they run in the full environment);
- `browser`: every test that asks for the `chromium` fixture;
- `shared_data`: every test that calls `need()`, itself or in one of its fixtures. A test that reaches
  `need()` another way (a helper, a table of factories) carries the marker itself; `need()` fails a
  test that has not got it, so the marker cannot silently go missing.
`slow` (over ~10 s here) is written on the tests themselves.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import types
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests import helpers

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PIBOKEH_SHARED") or ROOT.parent / "shared" / "data")
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

_running: list[pytest.Item] = []  # the test being set up, run or torn down (need() checks its marker)


def need(path: Path) -> Path:
    """The shared file or folder, or skip the test saying what is missing. The test must be marked
    `shared_data` (done for it when it calls need() itself or in a fixture)."""
    test = _running[-1] if _running else None
    if test is not None and test.get_closest_marker("shared_data") is None:
        pytest.fail(f"{test.nodeid} needs {path}: mark it `shared_data` (pytest.mark.shared_data)", pytrace=False)
    if not path.exists():
        pytest.skip(f"needs {path} (../shared/data is not beside the repository)")
    return path


# ---- lanes ---------------------------------------------------------------------------------------

def _names_in(code: types.CodeType) -> set[str]:
    """The global names a function's code uses, its nested functions and lambdas included."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names_in(const)
    return names


def _calls_need(item: pytest.Item) -> bool:
    functions = [getattr(item, "function", None)]
    fixture_info = getattr(item, "_fixtureinfo", None)  # the fixtures the test uses, its own included
    for definitions in (fixture_info.name2fixturedefs.values() if fixture_info else ()):
        functions += [definition.func for definition in definitions]
    return any("need" in _names_in(f.__code__) for f in functions if hasattr(f, "__code__"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    full = ROOT / "tests" / "full"
    for item in items:
        if full in Path(item.path).parents:
            item.add_marker(pytest.mark.tensorflow)
        if "chromium" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)
        if _calls_need(item):
            item.add_marker(pytest.mark.shared_data)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    _running[:] = [item]


def pytest_runtest_logfinish() -> None:
    _running.clear()


# ---- the command ---------------------------------------------------------------------------------

@pytest.fixture
def pibokeh(tmp_path):
    """Run the installed `pibokeh` command; returns CompletedProcess with text output."""
    def run(*args: str, env: dict | None = None, check: bool = False, **kwargs) -> subprocess.CompletedProcess:
        proc = helpers.run(helpers.command() + list(args), env=helpers.clean_env(tmp_path, env), **kwargs)
        if check and proc.returncode != 0:
            raise AssertionError(f"pibokeh {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr}")
        return proc
    return run


HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1)


@contextlib.contextmanager
def in_process(main: Callable[[list[str]], int], name: str, home: Path,
               capfd: pytest.CaptureFixture) -> Iterator[Callable[..., subprocess.CompletedProcess]]:
    """A runner of a command's `main(argv)` in this process (argparse, then the command), returning a
    CompletedProcess like the `pibokeh` fixture's: for bad options and one-line errors, where a new
    process adds only its start-up time. The environment is the one a new process would get
    (helpers.clean_env, data folder and cache under `home`); afterwards it is put back with everything
    a command changed in it (the pixel limit --max-pixels gives OpenCV, for one), the pixel limit
    itself too, and the signal handlers must be back as they were."""
    from pibokeh.media import images

    saved_env, saved_limit = dict(os.environ), images._limit
    saved_handlers = {signum: signal.getsignal(signum) for signum in HANDLED}
    env = helpers.clean_env(home)
    os.environ.clear()
    os.environ.update(env)

    def run(*args, env: dict | None = None, check: bool = False) -> subprocess.CompletedProcess:
        os.environ.update(env or {})
        capfd.readouterr()
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse: --help, usage errors
            code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
            if isinstance(exc.code, str):
                print(exc.code, file=sys.stderr)
        out, err = capfd.readouterr()
        if check and code != 0:
            raise AssertionError(f"{name} {' '.join(map(str, args))} failed ({code}):\n{err}")
        return subprocess.CompletedProcess([name, *args], code, out, err)
    try:
        yield run
    finally:
        images.limit_pixels(saved_limit)
        os.environ.clear()
        os.environ.update(saved_env)
    assert {signum: signal.getsignal(signum) for signum in HANDLED} == saved_handlers, \
        f"{name} left its signal handlers installed"


@pytest.fixture
def pibokeh_main(tmp_path, capfd):
    """`pibokeh ARGS` through `pibokeh.cli.main` in this process (see `in_process`)."""
    from pibokeh.cli import main
    with in_process(main, "pibokeh", tmp_path, capfd) as run:
        yield run


# ---- shared inputs and tools ----------------------------------------------------------------------

@pytest.fixture(scope="session")
def clip(tmp_path_factory) -> Path:
    """A 45-frame 320x240 clip of the moving red block (see helpers.scene)."""
    return helpers.write_clip(tmp_path_factory.mktemp("clip") / "scene.mp4")


@pytest.fixture(scope="session")
def chromium() -> str:
    """Headless Chromium's executable (tests that use it are in the `browser` lane)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("needs Chromium (Debian package `chromium`, listed in scripts/apt-packages.txt)")
