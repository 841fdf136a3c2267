"""Heat and throttling: the SoC temperature, the CPU clock, and the Raspberry Pi's throttling flags.

A Pi running a model on all cores reaches its 80-85 °C limit and lowers its clock, and the frame
rate falls without a word; a weak power supply does the same (under-voltage). This module reads
what Linux and the Pi firmware say about it:

    temperature  /sys/class/thermal/thermal_zone*/temp            (millidegrees Celsius)
    clock        /sys/devices/system/cpu/cpu*/cpufreq/scaling_cur_freq, cpuinfo_max_freq  (kHz)
    throttling   `vcgencmd get_throttled` -> "throttled=0x50005"   (Raspberry Pi OS only)

What a machine does not have (no thermal zones in a VM, no cpufreq, no vcgencmd off a Pi) is None
in a `Reading`, never 0: a missing figure must not look like a cool, unthrottled Pi.
`PIBOKEH_SYSFS_ROOT` points the sysfs reads elsewhere (tests use a fake tree).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SYSFS_ROOT_ENV = "PIBOKEH_SYSFS_ROOT"

# The bits of `vcgencmd get_throttled`, as Raspberry Pi documents them (the same four flags, in
# bits 16-19, say "has occurred since boot").
FLAGS = {0: "under_voltage", 1: "frequency_capped", 2: "throttled", 3: "soft_temperature_limit"}
SINCE_BOOT_SHIFT = 16
FLAG_TEXT = {"under_voltage": "under-voltage", "frequency_capped": "arm frequency capped",
             "throttled": "throttled", "soft_temperature_limit": "soft temperature limit"}
# Zone types that are the SoC itself (Pi: cpu-thermal; others: soc_thermal, x86_pkg_temp, ...).
SOC_ZONE = re.compile(r"cpu|soc|pkg", re.I)


def sysfs_root() -> Path:
    return Path(os.environ.get(SYSFS_ROOT_ENV) or "/")


def _read_number(path: Path) -> float | None:
    try:
        return float(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def read_zones(root: Path | None = None) -> dict[str, tuple[str, float]]:
    """{zone name: (zone type, °C)} of every thermal zone that reads."""
    base = (root or sysfs_root()) / "sys/class/thermal"
    zones = {}
    for zone in sorted(base.glob("thermal_zone*"), key=lambda p: int(re.sub(r"\D", "", p.name) or 0)):
        millidegrees = _read_number(zone / "temp")
        if millidegrees is None:
            continue
        try:
            kind = (zone / "type").read_text().strip()
        except OSError:
            kind = ""
        zones[zone.name] = (kind, millidegrees / 1000.0)
    return zones


def soc_temperature(zones: dict[str, tuple[str, float]]) -> float | None:
    """The SoC's temperature: the first zone whose type names the CPU/SoC, else the first zone."""
    for kind, celsius in zones.values():
        if SOC_ZONE.search(kind):
            return celsius
    return next(iter(zones.values()))[1] if zones else None


def read_frequencies(root: Path | None = None) -> dict[int, tuple[float | None, float | None]]:
    """{cpu number: (current MHz, maximum MHz)} of every CPU that has cpufreq."""
    base = (root or sysfs_root()) / "sys/devices/system/cpu"
    cpus = {}
    for cpu in base.glob("cpu[0-9]*"):
        if not cpu.name[3:].isdigit() or not (cpu / "cpufreq").is_dir():
            continue
        current = _read_number(cpu / "cpufreq" / "scaling_cur_freq")
        maximum = _read_number(cpu / "cpufreq" / "cpuinfo_max_freq")
        if current is None and maximum is None:
            continue
        cpus[int(cpu.name[3:])] = (None if current is None else current / 1000.0,
                                   None if maximum is None else maximum / 1000.0)
    return dict(sorted(cpus.items()))


def parse_throttled(text: str) -> int | None:
    """The bit field of `vcgencmd get_throttled` output ("throttled=0x50005"), or None."""
    match = re.search(r"throttled=(0x[0-9a-fA-F]+|\d+)", text)
    return int(match.group(1), 0) if match else None


def read_throttled(command: str = "vcgencmd", timeout: float = 2.0) -> int | None:
    """The Pi's throttling bits, or None where there is no (working) vcgencmd."""
    path = shutil.which(command)
    if path is None:
        return None
    try:
        proc = subprocess.run([path, "get_throttled"], capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_throttled(proc.stdout) if proc.returncode == 0 else None


def flags_of(bits: int, since_boot: bool = False) -> list[str]:
    """The names of the flags set in `bits`: now (bits 0-3) or since boot (bits 16-19)."""
    shift = SINCE_BOOT_SHIFT if since_boot else 0
    return [name for bit, name in FLAGS.items() if bits >> (bit + shift) & 1]


@dataclass(frozen=True)
class Reading:
    """One look at the heat, the clock and the throttling flags; None where the machine cannot say."""
    soc_celsius: float | None = None
    zones: dict[str, tuple[str, float]] = field(default_factory=dict)
    cpus: dict[int, tuple[float | None, float | None]] = field(default_factory=dict)
    throttled_bits: int | None = None
    taken: float = 0.0  # time.monotonic() of the reading

    @property
    def cpu_mhz(self) -> float | None:
        values = [cur for cur, _ in self.cpus.values() if cur is not None]
        return max(values) if values else None

    @property
    def cpu_max_mhz(self) -> float | None:
        values = [top for _, top in self.cpus.values() if top is not None]
        return max(values) if values else None

    @property
    def throttled_now(self) -> list[str]:
        return [] if self.throttled_bits is None else flags_of(self.throttled_bits)

    @property
    def throttled_since_boot(self) -> list[str]:
        return [] if self.throttled_bits is None else flags_of(self.throttled_bits, since_boot=True)

    @property
    def slowed(self) -> bool:
        """True when the Pi is running below its speed right now (any flag set in bits 0-3)."""
        return bool(self.throttled_now)

    def as_dict(self) -> dict[str, Any]:
        """What /stats and `pibokeh bench --json` show: only the figures this machine has."""
        out: dict[str, Any] = {}
        if self.soc_celsius is not None:
            out["soc_celsius"] = round(self.soc_celsius, 1)
        if self.cpu_mhz is not None:
            out["cpu_mhz"] = round(self.cpu_mhz)
        if self.cpu_max_mhz is not None:
            out["cpu_max_mhz"] = round(self.cpu_max_mhz)
        if self.throttled_bits is not None:
            out["throttled"] = f"0x{self.throttled_bits:x}"
            out["throttled_now"] = self.throttled_now
            out["throttled_since_boot"] = self.throttled_since_boot
        return out


def read(root: Path | None = None, vcgencmd: str = "vcgencmd") -> Reading:
    """Everything this machine tells about its heat and clock, now."""
    root = root or sysfs_root()
    zones = read_zones(root)
    return Reading(soc_celsius=soc_temperature(zones), zones=zones, cpus=read_frequencies(root),
                   throttled_bits=read_throttled(vcgencmd), taken=time.monotonic())


def describe(reading: Reading) -> str | None:
    """One line for people ("SoC 71.3 °C, CPU 1500/1800 MHz, throttling now: ..."), or None when
    the machine says nothing."""
    parts = []
    if reading.soc_celsius is not None:
        parts.append(f"SoC {reading.soc_celsius:.1f} °C")
    if reading.cpu_mhz is not None or reading.cpu_max_mhz is not None:
        cur = "?" if reading.cpu_mhz is None else f"{reading.cpu_mhz:.0f}"
        top = "?" if reading.cpu_max_mhz is None else f"{reading.cpu_max_mhz:.0f}"
        parts.append(f"CPU {cur}/{top} MHz")
    if reading.throttled_bits is not None:
        now = ", ".join(FLAG_TEXT[f] for f in reading.throttled_now) or "none"
        ever = ", ".join(FLAG_TEXT[f] for f in reading.throttled_since_boot) or "none"
        parts.append(f"throttling now: {now}; since boot: {ever} (0x{reading.throttled_bits:x})")
    return ", ".join(parts) or None


class Monitor:
    """The latest `Reading`, taken again when older than `max_age` seconds (vcgencmd is a process
    start; a page polling /stats every second from many viewers must not start one each time)."""

    def __init__(self, max_age: float = 2.0, root: Path | None = None):
        self.max_age = max_age
        self.root = root
        self._reading: Reading | None = None
        self._lock = threading.Lock()

    def read(self) -> Reading:
        with self._lock:
            if self._reading is None or time.monotonic() - self._reading.taken >= self.max_age:
                self._reading = read(self.root)
            return self._reading
