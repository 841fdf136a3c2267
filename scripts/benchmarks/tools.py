"""The project's own commands as the benchmarks run them, each in a process of its own:
`pibokeh-convert` (running the TF converter and tflite_runtime in one process can abort) and
`pibokeh ... --json` in the edge environment ($PIBOKEH_EDGE_PYTHON: the TensorFlow-free venv
`scripts/setup.sh edge` makes; else this Python)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from .inputs import ROOT


def logger(name: str) -> Callable[[str], None]:
    """A function printing `name: message` lines on stderr (progress, never data)."""
    def log(message: str) -> None:
        print(f"{name}: {message}", file=sys.stderr, flush=True)
    return log


def edge_python() -> str:
    """The Python of the edge environment, where the runtime's own figures are measured."""
    return os.environ.get("PIBOKEH_EDGE_PYTHON") or sys.executable


def last_line(proc: subprocess.CompletedProcess) -> str:
    """What a failed process said last, for a one-line reason."""
    return (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]


def converter() -> list[str] | None:
    """The pibokeh-convert command, when the converter is installed and starts."""
    exe = shutil.which("pibokeh-convert") or str(Path(sys.executable).with_name("pibokeh-convert"))
    if not Path(exe).is_file():
        return None
    # an installed entry point whose package is not there fails at import: not a converter
    probe = subprocess.run([exe, "--help"], capture_output=True, text=True)
    return [exe] if probe.returncode == 0 else None


def run_json(cmd: Sequence[Any], log: Callable[[str], None] = lambda message: None) -> dict[str, Any]:
    """Run a command that prints one JSON object (from the repository root) and return it; a
    RuntimeError with its last line of stderr when it fails. Exit status 1 counts as done: the
    commands use it for "done, with some failures" (listed in the JSON)."""
    cmd = [str(c) for c in cmd]
    log(" ".join([Path(cmd[0]).name] + cmd[1:]))
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode not in (0, 1) or not proc.stdout.strip():
        raise RuntimeError(f"{' '.join(cmd[1:3])} failed: {last_line(proc)}")
    return json.loads(proc.stdout)
