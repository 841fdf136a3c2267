"""Sony's IMX500 converter (`imxconv-tf`): the quantized Keras model -> `packerOut.zip`, and what its
reports say (does it fit the sensor's 8 MB, what are the input and output tensors).

`imxconv-tf` comes with `imx500-converter[tf]` in the toolchain environment (`scripts/setup.sh
imx500`) and runs Java (its `sdspconv` back end): both are checked first, each with a one-line error.
Its licence forbids redistribution, so nothing of it is in this repository or the wheel: it is found
beside the Python that runs this module, else on PATH. No TensorFlow is imported here.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from pibokeh.errors import ModelError

TOOL = "imxconv-tf"
JAVA_HINT = "sudo apt install openjdk-17-jre-headless"
CHIP_MB = 8.0  # the IMX500's memory for the network's weights and activations (the memory report's total)


def find_tool() -> Path | None:
    """imxconv-tf of this Python's environment, else the one on PATH."""
    beside = Path(sys.executable).parent / TOOL
    if beside.is_file():
        return beside
    found = shutil.which(TOOL)
    return Path(found) if found else None


def check_java() -> str:
    """The Java runtime's version line; ModelError saying what to install when there is none."""
    java = shutil.which("java")
    if java is None:
        raise ModelError(f"{TOOL} needs a Java 17 runtime, and there is no `java` here: {JAVA_HINT}")
    proc = subprocess.run([java, "-version"], capture_output=True, text=True)
    lines = (proc.stderr or proc.stdout).strip().splitlines()
    return lines[0] if lines else "java (version unknown)"


def convert(keras_model: Path, out: Path, memory_report_only: bool = False) -> dict[str, Any]:
    """Run imxconv-tf on a quantized .keras model into folder `out` (packerOut.zip, dnnParams.xml,
    <name>_MemoryReport.json); returns `report(out)`. `--no-input-persistency`: the sensor does not
    keep the input tensor for the host (pibokeh never reads it), which frees ~0.5 MB of the chip for
    activations, as Raspberry Pi's documentation recommends."""
    tool = find_tool()
    if tool is None:
        raise ModelError(f"{TOOL} is not installed here: scripts/setup.sh imx500 (Sony's imx500-converter[tf])")
    check_java()
    cmd = [str(tool), "-i", str(keras_model), "-o", str(out), "--overwrite-output", "--no-input-persistency",
           "--logger-format", "text", "--logger-level", "warn"]
    if memory_report_only:
        cmd.append("--memory-report")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        too_big = _does_not_fit(out)
        if too_big:
            raise ModelError(too_big)
        lines = [line for line in (proc.stderr + proc.stdout).strip().splitlines() if line.strip()]
        raise ModelError(f"{TOOL} failed ({lines[-1][:300] if lines else f'exit {proc.returncode}'})")
    return report(out, require_packer=not memory_report_only)


def _does_not_fit(out: Path) -> str | None:
    """The one line for a network too big for the sensor, when imxconv-tf's report says so."""
    try:
        found = report(out, require_packer=False)
    except (ModelError, OSError, ValueError, KeyError):
        return None
    if found["fits"]:
        return None
    return (f"the network needs {found['memory_usage_mb']} MB of the sensor's {found['chip_mb']:g} MB: a smaller "
            "--size, or depth 0.5 (docs/CONVERTER.md lists the sizes that fit)")


def report(out: Path, require_packer: bool = True) -> dict[str, Any]:
    """What imxconv-tf wrote into `out`: the memory report (does it fit, how much of the chip it
    uses), the input and output tensors of dnnParams.xml, and the packerOut.zip's size."""
    reports = sorted(out.glob("*MemoryReport*.json"))
    if not reports:
        raise ModelError(f"{TOOL} wrote no memory report into {out}")
    memory = json.loads(reports[0].read_text())["Memory Report"]
    packer = out / "packerOut.zip"
    if require_packer and not packer.is_file():
        raise ModelError(f"{TOOL} wrote no packerOut.zip into {out}")
    result: dict[str, Any] = {
        "fits": bool(memory.get("Fit In Chip")),
        "memory_usage_mb": megabytes(memory.get("Memory Usage")),
        "runtime_memory_mb": megabytes(memory.get("Runtime Memory Physical Size")),
        "model_memory_mb": megabytes(memory.get("Model Memory Physical Size")),
        "chip_mb": megabytes(memory.get("Total Memory Available On Chip")) or CHIP_MB,
        "utilization": memory.get("Memory Utilization"),
        "input_persistent": memory.get("Input Persistent"),
        "memory_report": memory,
        "packer": {"file": packer.name, "size_bytes": packer.stat().st_size} if packer.is_file() else None,
    }
    params = out / "dnnParams.xml"
    if params.is_file():
        result.update(tensors(params))
    return result


def megabytes(text: Any) -> float | None:
    """'7.03MB' / '890.91KB' / '1.00KB' -> MB."""
    if not isinstance(text, str):
        return None
    for unit, scale in (("MB", 1.0), ("KB", 1 / 1024), ("GB", 1024.0), ("B", 1 / 1024 / 1024)):
        if text.endswith(unit):
            try:
                return round(float(text[: -len(unit)]) * scale, 3)
            except ValueError:
                return None
    return None


def tensors(params: Path) -> dict[str, Any]:
    """The input and output tensors of dnnParams.xml: name, dimensions (as ordered), bits, format
    and the input's quantization (real value = (q - shift) * scale)."""
    root = ET.parse(params).getroot()

    def describe(node: ET.Element) -> dict[str, Any]:
        dims = sorted(node.iter("dimension"), key=lambda d: int(d.get("ordinal", 0)))
        return {"name": node.get("name"), "dimensions": [int(d.get("size", 0)) for d in dims],
                "bits": int(node.get("bitsPerElement", 0)), "format": node.get("format"),
                "scale": float(node.get("scale", 1.0)), "shift": int(node.get("shift", 0))}
    return {"input_tensors": [describe(n) for n in root.iter("inputTensor")],
            "output_tensors": [describe(n) for n in root.iter("outputTensor")]}
