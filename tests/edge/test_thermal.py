"""Heat and throttling from a fake sysfs root and a fake `vcgencmd`: the documented bits, absent
figures staying absent, and `pibokeh bench` saying when the Pi was throttled."""
from __future__ import annotations

import json
import os
import sys

import pytest
from pibokeh import thermal

from tests.conftest import TINY
from tests.fakes.fake_pi import fake_pi


@pytest.fixture
def pi(tmp_path, monkeypatch):
    """This test process sees a fake Pi: 71.5 °C, 1500 of 1800 MHz, vcgencmd answering 0x50005."""
    env = fake_pi(tmp_path / "pi", throttled="0x50005")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return tmp_path / "pi"


@pytest.mark.parametrize("text, bits", [("throttled=0x0\n", 0), ("throttled=0x50005\n", 0x50005),
                                        ("throttled=0x80008", 0x80008), ("error=1 error_msg=...", None), ("", None)])
def test_parse_throttled(text, bits):
    assert thermal.parse_throttled(text) == bits


def test_flags_as_raspberry_pi_documents_them():
    # 0x50005: bits 0 and 2 now (under-voltage, throttled), bits 16 and 18 since boot
    assert thermal.flags_of(0x50005) == ["under_voltage", "throttled"]
    assert thermal.flags_of(0x50005, since_boot=True) == ["under_voltage", "throttled"]
    assert thermal.flags_of(0x2) == ["frequency_capped"]
    assert thermal.flags_of(0x80000) == [] and thermal.flags_of(0x80000, since_boot=True) == ["soft_temperature_limit"]


def test_reading_from_the_fake_pi(pi):
    reading = thermal.read()
    assert reading.soc_celsius == pytest.approx(71.5)
    assert reading.zones == {"thermal_zone0": ("cpu-thermal", pytest.approx(71.5))}
    assert sorted(reading.cpus) == [0, 1, 2, 3]  # cpu/cpufreq is not a CPU
    assert reading.cpu_mhz == 1500 and reading.cpu_max_mhz == 1800
    assert reading.throttled_bits == 0x50005 and reading.slowed
    assert reading.as_dict() == {"soc_celsius": 71.5, "cpu_mhz": 1500, "cpu_max_mhz": 1800, "throttled": "0x50005",
                                 "throttled_now": ["under_voltage", "throttled"],
                                 "throttled_since_boot": ["under_voltage", "throttled"]}
    line = thermal.describe(reading)
    assert line.startswith("SoC 71.5 °C, CPU 1500/1800 MHz, throttling now: under-voltage, throttled;")


def test_a_machine_without_the_files_reports_nothing_not_zero(tmp_path, monkeypatch):
    monkeypatch.setenv("PIBOKEH_SYSFS_ROOT", str(tmp_path / "empty"))
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))  # no vcgencmd
    reading = thermal.read()
    assert reading.soc_celsius is None and reading.cpu_mhz is None and reading.throttled_bits is None
    assert reading.as_dict() == {} and thermal.describe(reading) is None and not reading.slowed


def test_unreadable_files_and_a_failing_vcgencmd_are_absent(tmp_path, monkeypatch):
    env = fake_pi(tmp_path / "pi")
    (tmp_path / "pi/sys/class/thermal/thermal_zone0/temp").write_text("garbage\n")
    (tmp_path / "pi/bin/vcgencmd").write_text("#!/bin/sh\necho 'VCHI initialization failed' >&2\nexit 255\n")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reading = thermal.read()
    assert reading.soc_celsius is None and reading.throttled_bits is None and reading.cpu_mhz == 1500


def test_monitor_reads_again_only_when_the_reading_is_old(pi):
    monitor = thermal.Monitor(max_age=60)
    first = monitor.read()
    (pi / "throttled").write_text("0x0")
    assert monitor.read() is first  # cached: /stats polled by many viewers starts no process each time
    assert thermal.Monitor(max_age=0).read().throttled_bits == 0


def test_bench_on_a_throttled_pi_says_so(pibokeh_main, tmp_path):
    env = fake_pi(tmp_path / "pi", throttled="0x50005")
    proc = pibokeh_main("bench", "--model", TINY, "--frames", "2", "--size", "160x120", "--threads", "1", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "heat: before SoC 71.5 °C, CPU 1500/1800 MHz, throttling now: under-voltage, throttled" in proc.stdout
    assert "WARNING: this Pi was throttled during the benchmark (under-voltage, throttled)" in proc.stdout
    result = json.loads(pibokeh_main("bench", "--model", TINY, "--frames", "1", "--size", "160x120", "--threads", "1",
                                "--json", env=env, check=True).stdout)
    assert result["heat"]["throttled"] is True and result["heat"]["after"]["soc_celsius"] == 71.5
    assert result["heat"]["throttled_flags"] == ["under_voltage", "throttled"]


def test_bench_on_a_cool_pi_and_off_a_pi(pibokeh_main, tmp_path):
    cool = fake_pi(tmp_path / "cool", celsius=48.0, throttled="0x0")
    proc = pibokeh_main("bench", "--model", TINY, "--frames", "1", "--size", "160x120", "--threads", "1", env=cool)
    assert proc.returncode == 0, proc.stderr
    assert "throttling now: none; since boot: none (0x0)" in proc.stdout and "WARNING" not in proc.stdout
    bare = {"PIBOKEH_SYSFS_ROOT": str(tmp_path / "nothing"), "PATH": os.path.dirname(sys.executable)}
    proc = pibokeh_main("bench", "--model", TINY, "--frames", "1", "--size", "160x120", "--threads", "1", "--json", env=bare)
    assert proc.returncode == 0, proc.stderr
    heat = json.loads(proc.stdout)["heat"]
    assert heat["before"] == {} and heat["after"] == {} and heat["throttled"] is None
