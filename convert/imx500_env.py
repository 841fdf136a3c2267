"""Where `pibokeh-convert --target imx500` runs: in the AI Camera toolchain's own environment.

Sony's toolchain pins TensorFlow 2.15, Keras 2 and NumPy < 2 (and needs Java 17), which clash with
the full environment's TensorFlow, so `scripts/setup.sh imx500` gives it its own (`.venv-imx500`:
the pibokeh wheel, `imx500-converter[tf]`, `model-compression-toolkit`). The converter command
works from either environment: where the toolchain is importable it converts in-process; elsewhere
it runs the same command line with the toolchain environment's Python, found through
`$PIBOKEH_IMX500_PYTHON`, else a `.venv-imx500` beside this environment or in the current folder.
What can be refused before that (the sensor's size limit, the output) is refused here, at once.
Nothing here imports TensorFlow.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Sequence

from pibokeh.errors import InputError, ModelError, OutputError
from pibokeh.files import ensure_folder

from . import shapes

ENV_PYTHON = "PIBOKEH_IMX500_PYTHON"
DELEGATED = "PIBOKEH_IMX500_DELEGATED"  # set in the child, so that it never hands over again
VENV = ".venv-imx500"
PACKAGES = ("model_compression_toolkit", "uni.tensorflow")  # MCT and imx500-converter[tf]'s front end
SETUP_HINT = "scripts/setup.sh imx500 (Sony's imx500-converter[tf] and model-compression-toolkit)"

SENSOR_MAX = (480, 640)  # (h, w): the largest input tensor the IMX500's ISP makes
DEFAULT_SIZE = (241, 321)  # 321x241 (4:3): fits the chip at both depths, converts quickly; docs/CONVERTER.md
DEFAULT_STRIDE = 16  # the fast recipe's; stride 8 fits the memory as well but is ~3x the work per frame


def check(size: shapes.Size, stride: int, out: Path) -> None:
    """What the sensor and the folder output refuse, in one line each, before any work."""
    height, width = size
    if height > SENSOR_MAX[0] or width > SENSOR_MAX[1]:
        raise InputError(f"--size {shapes.text(size)}: the AI Camera's input is at most 640x480 "
                         f"(e.g. {shapes.text(DEFAULT_SIZE)} or 449x257; see docs/CONVERTER.md)")
    shapes.check(size, stride)
    if out.suffix in (".tflite", ".rpk", ".json", ".zip"):
        raise OutputError(f"-o {out}: the imx500 target writes a folder (packerOut.zip, its card, reports): "
                          f"give a name without {out.suffix}")
    if out.exists() and not out.is_dir():
        raise OutputError(f"-o {out}: exists and is not a folder")
    ensure_folder(out.parent)


def toolchain_here() -> bool:
    """Whether this Python has Sony's toolchain (MCT and imx500-converter) installed."""
    try:
        return all(importlib.util.find_spec(name) is not None for name in PACKAGES)
    except ModuleNotFoundError:  # a parent package ("uni") missing
        return False


def toolchain_python() -> Path | None:
    """The toolchain environment's Python: $PIBOKEH_IMX500_PYTHON, else .venv-imx500/bin/python
    beside this environment (venvs made by scripts/setup.sh sit side by side) or in the current folder."""
    given = os.environ.get(ENV_PYTHON)
    if given:
        return Path(given)
    for root in (Path(sys.prefix).parent, Path.cwd()):
        python = root / VENV / "bin" / "python"
        if python.is_file():
            return python
    return None


def hand_over(argv: Sequence[str]) -> int:
    """Run `pibokeh-convert ARGV` with the toolchain environment's Python (its output goes straight
    to this process's), and return its exit code; a one-line ModelError when there is none."""
    if os.environ.get(DELEGATED):
        raise ModelError(f"--target imx500: this environment ({sys.prefix}) was chosen for the AI Camera toolchain "
                         f"but does not have it: {SETUP_HINT}")
    python = toolchain_python()
    if python is None:
        raise ModelError(f"--target imx500 needs the AI Camera toolchain, which is not installed here: {SETUP_HINT}, "
                         f"or set {ENV_PYTHON} to the Python of an environment that has it")
    if not python.is_file():
        raise ModelError(f"{ENV_PYTHON}={python}: no such Python")
    env = {**os.environ, DELEGATED: "1"}
    # sys.stderr, not file descriptor 2: the command runs with fd 2 on /dev/null (pibokeh.quiet keeps
    # TensorFlow's native chatter off the screen), and the child must say what it does
    sys.stderr.flush()
    try:
        return subprocess.run([str(python), "-m", "pibokeh.convert.cli", *argv], env=env, stderr=sys.stderr).returncode
    except KeyboardInterrupt:
        return 130
