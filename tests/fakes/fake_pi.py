"""A Raspberry Pi's heat and throttling, faked for tests: a sysfs tree (thermal zones, cpufreq) for
PIBOKEH_SYSFS_ROOT, and a `vcgencmd` on PATH that answers `get_throttled` in the documented format."""
from __future__ import annotations

import os
from pathlib import Path


def fake_pi(root: Path, celsius: float = 71.5, cur_mhz: int = 1500, max_mhz: int = 1800, cpus: int = 4,
            throttled: str | None = "0x0") -> dict[str, str]:
    """Write the fake tree under `root`; return the environment that makes pibokeh read it.
    `throttled=None`: no vcgencmd (a machine that is not a Pi)."""
    zone = root / "sys/class/thermal/thermal_zone0"
    zone.mkdir(parents=True, exist_ok=True)
    (zone / "type").write_text("cpu-thermal\n")
    (zone / "temp").write_text(f"{round(celsius * 1000)}\n")
    for n in range(cpus):
        freq = root / f"sys/devices/system/cpu/cpu{n}/cpufreq"
        freq.mkdir(parents=True, exist_ok=True)
        (freq / "scaling_cur_freq").write_text(f"{cur_mhz * 1000}\n")
        (freq / "cpuinfo_max_freq").write_text(f"{max_mhz * 1000}\n")
    (root / "sys/devices/system/cpu/cpufreq").mkdir(parents=True, exist_ok=True)  # not a CPU
    env = {"PIBOKEH_SYSFS_ROOT": str(root)}
    if throttled is not None:
        bin_dir = root / "bin"
        bin_dir.mkdir(exist_ok=True)
        (root / "throttled").write_text(throttled)
        script = bin_dir / "vcgencmd"
        # reads its answer from a file, so a test can change the state while pibokeh runs
        script.write_text(f'#!/bin/sh\n[ "$1" = get_throttled ] || exit 1\necho "throttled=$(cat {root}/throttled)"\n')
        script.chmod(0o755)
        env["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    return env


def fake_memory(root: Path, megabytes: int) -> dict[str, str]:
    """A machine of `megabytes` of memory (/proc/meminfo under `root`); the environment that makes
    pibokeh read it (the default --max-pixels follows the memory)."""
    (root / "proc").mkdir(parents=True, exist_ok=True)
    (root / "proc/meminfo").write_text(f"MemTotal:       {megabytes * 1024} kB\nMemFree:        1000 kB\n")
    return {"PIBOKEH_SYSFS_ROOT": str(root)}
