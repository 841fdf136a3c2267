"""What the compositing benchmarks measure with: the previous version of the runtime (from git, for
"before"), the shared video scaled to a frame size, the recommended models in both heads, and a CPU
clock for the chain.

The previous version is `git archive REV edge/` unpacked into a temporary folder as the package
`pibokeh_before` (its imports are all relative), so it runs in the same process as today's `pibokeh`,
on the same frames, interleaved frame by frame: no copy of old code is kept in the repository.
"""
from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import types
from pathlib import Path
from typing import Any

from pibokeh.bench import scaled_video
from pibokeh.errors import InputError
from pibokeh.media.video import VideoFileSource

from .inputs import REFERENCE_GRAPH as GRAPH
from .inputs import CALIB, ROOT, VIDEO, VOC, need  # noqa: F401 - VOC: the compositing topics read it here

TINY = ROOT / "tests" / "models" / "tiny_wide.tflite"
# The commit the compositing work started from (issue 20): "before" everywhere on the page.
BEFORE = "fa2eaf0"
# The recommended models (scripts/demo.sh): depth 1.0, int8, output stride 16, one per aspect.
RECOMMENDED = {"16:9": "513x289", "4:3": "513x385"}
WORKDIR = Path(tempfile.gettempdir()) / "pibokeh-bench-compositing"


def log(message: str) -> None:
    print(f"compositing: {message}", file=sys.stderr, flush=True)


def previous_version(rev: str = BEFORE, folder: Path = WORKDIR) -> types.ModuleType:
    """The runtime as it was at `rev`, imported as the package `pibokeh_before`."""
    target = folder / f"before-{rev}"
    package = target / "pibokeh_before"
    if not package.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", rev, "edge"], cwd=ROOT, capture_output=True)
        if archive.returncode != 0:
            raise InputError(f"git archive {rev}: {archive.stderr.decode(errors='replace').strip()}")
        with tempfile.TemporaryFile() as tar:
            tar.write(archive.stdout)
            tar.seek(0)
            with tarfile.open(fileobj=tar) as tf:
                tf.extractall(target)
        shutil.move(str(target / "edge"), str(package))
    if "pibokeh_before" in sys.modules:
        return sys.modules["pibokeh_before"]
    # a package of its own name, loaded from its folder (no sys.path edit): its relative imports follow
    spec = importlib.util.spec_from_file_location("pibokeh_before", package / "__init__.py",
                                                  submodule_search_locations=[str(package)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["pibokeh_before"] = module
    spec.loader.exec_module(module)
    return module


def cpu_clock(*chain_modules: types.ModuleType) -> None:
    """Make these chain modules time their stages in CPU seconds of the calling thread: on a shared
    machine a stage's wall time counts the time other processes had the core, its CPU time does not."""
    clock = types.SimpleNamespace(perf_counter=time.thread_time)
    for module in chain_modules:
        module.time = clock


def clip(size: tuple[int, int], frames: int = 0, folder: Path = WORKDIR) -> Path:
    """The shared video scaled to cover (w, h) `size` (all of it, or its first `frames`), made once."""
    path = folder / f"clip_{size[0]}x{size[1]}{'_' + str(frames) if frames else ''}.mp4"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        scaled_video(need(VIDEO), path, size, frames)
    return path


def frames_of(video: Path, count: int, step: int = 1) -> list[Any]:
    """Every `step`-th decoded frame of `video`, at most `count` of them."""
    out = []
    with VideoFileSource(video) as source:
        for i, frame in enumerate(source):
            if i % step == 0:
                out.append(frame)
            if len(out) >= count:
                break
    return out


def recommended_models(folder: Path = WORKDIR, heads: tuple[str, ...] = ("scores", "logits")) -> dict[str, list[Path]]:
    """{head: [16:9 model, 4:3 model]}: the recommended pair converted with each head, made with
    pibokeh-convert when missing (the full environment, ~2 minutes a model here)."""
    models: dict[str, list[Path]] = {}
    for head in heads:
        models[head] = []
        for size in RECOMMENDED.values():
            path = folder / f"mnv2_os16_{size}_int8_{head}.tflite"
            if not path.is_file():
                convert = shutil.which("pibokeh-convert") or str(Path(sys.executable).with_name("pibokeh-convert"))
                if not Path(convert).is_file():
                    raise InputError(f"{path}: missing, and pibokeh-convert is not installed here (the full environment "
                                     "converts it)")
                log(f"converting {path.name}")
                proc = subprocess.run([convert, str(need(GRAPH)), "-o", str(path), "--quant", "int8", "--output-stride",
                                       "16", "--size", size, "--calib", str(need(CALIB)), "--output", head,
                                       "--quiet"], capture_output=True, text=True)
                if proc.returncode != 0:
                    raise InputError(f"converting {path.name}: {(proc.stderr.strip().splitlines() or ['failed'])[-1]}")
            models[head].append(path)
    return models
