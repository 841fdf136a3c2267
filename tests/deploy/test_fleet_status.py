"""Watching the fleet: scripts/ansible/status.yml prints one table of every Pi (release, model,
health, fps, temperature, throttling), and scripts/ansible/scrape-config.yml turns the inventory into
a Prometheus config that a real Prometheus scrapes the deployed Pi with.

The fleet is the loopback Pi seen as several inventory hosts: its deployed service; a second camera
started on it with a fake hot, throttled SoC (a fake sysfs and vcgencmd inside the target); the same
Pi asked at an address where nothing listens; and a Pi that cannot be reached at all."""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from conftest import CACHE, CLIP, REPO, SMALL_MODEL, LoopbackPi, free_port, http_status

from tests.fakes.fake_pi import fake_pi
from tests.prometheus import Prometheus, binary

STATUS = REPO / "scripts" / "ansible" / "status.yml"
SCRAPE = REPO / "scripts" / "ansible" / "scrape-config.yml"


def playbook(ansible: Path, path: Path, *args: str | Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = os.environ | {"LC_ALL": "C.UTF-8", "ANSIBLE_NOCOLOR": "1", "ANSIBLE_RETRY_FILES_ENABLED": "0",
                        "ANSIBLE_HOME": str(CACHE / "ansible-home")}
    return subprocess.run([str(ansible), str(path), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def deployed(loopback_pi: LoopbackPi, service_files) -> LoopbackPi:
    """The loopback Pi running a healthy release of this checkout (deployed here unless it already is)."""
    pi, (unit, config) = loopback_pi, service_files
    metrics = pi.health_url.replace("/healthz", "/metrics")
    if http_status(pi.health_url) != 200 or http_status(metrics) != 200:
        result = pi.deploy("--model", SMALL_MODEL, "--unit", unit, "--config", config, "--health-timeout", "90")
        assert result.returncode == 0, result.stdout + result.stderr
    assert http_status(metrics) == 200
    return pi


@pytest.fixture(scope="module")
def hot_camera(deployed: LoopbackPi):
    """A second `pibokeh camera` on the Pi, on its own port, reading a fake 84 °C throttled SoC."""
    pi = deployed
    env = fake_pi(pi.path("/home/pi/fake-pi"), celsius=84.0, cur_mhz=600, max_mhz=1800, throttled="0x50005")
    # the fake's paths as the target sees them
    inside = {k: v.replace(str(pi.root), "") for k, v in env.items()}
    vcgencmd = pi.path("/home/pi/fake-pi/bin/vcgencmd")
    vcgencmd.write_text(vcgencmd.read_text().replace(str(pi.root), ""))
    port = free_port()
    start = pi.ssh(f"PIBOKEH_SYSFS_ROOT={inside['PIBOKEH_SYSFS_ROOT']} PATH={inside['PATH'].split(os.pathsep)[0]}:$PATH "
                   f"nohup /opt/pibokeh/venv/bin/pibokeh camera --source video:/srv/pibokeh-test/{CLIP.name} --loop "
                   f"--size 160x90 --fps 5 --threads 1 --model /opt/pibokeh/models/current.tflite "
                   f"--serve 127.0.0.1:{port} -q > hot.log 2>&1 < /dev/null & echo $!")
    assert start.returncode == 0, start.stderr
    pid = start.stdout.strip()
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        if http_status(url + "/healthz") == 200:
            break
        time.sleep(0.5)
    else:
        raise AssertionError(pi.path("/home/pi/hot.log").read_text())
    yield port
    pi.ssh(f"kill {pid}")


@pytest.fixture(scope="module")
def inventory(tmp_path_factory, deployed: LoopbackPi, hot_camera: int) -> Path:
    pi = deployed
    path = tmp_path_factory.mktemp("fleet") / "inventory.ini"
    ssh = f"ansible_host=127.0.0.1 ansible_port={pi.port}"
    path.write_text(
        "[pis]\n"
        f"loopback {ssh} pibokeh_metrics_port={pi.service_port}\n"
        f"loopback-hot {ssh} pibokeh_url=http://127.0.0.1:{hot_camera} pibokeh_metrics_port={hot_camera}\n"
        f"loopback-down {ssh} pibokeh_url=http://127.0.0.1:{free_port()} pibokeh_metrics_port={free_port()}\n"
        f"elsewhere ansible_host=127.0.0.1 ansible_port={free_port()} pibokeh_metrics_port={free_port()}\n"
        "[pis:vars]\n"
        f"ansible_user=pi\nansible_ssh_private_key_file={pi.key}\nansible_python_interpreter=/usr/bin/python3\n"
        f"ansible_ssh_common_args='-o UserKnownHostsFile={pi.known_hosts} -o StrictHostKeyChecking=yes'\n")
    return path


def table(output: str) -> dict[str, dict[str, str]]:
    """The printed table's rows by host: {host: {column: cell}} (cells split on runs of 2+ spaces)."""
    lines = [json.loads(line.strip().rstrip(",")) for line in output.splitlines()
             if line.strip().startswith('"') and "  " in line.strip()]
    header, *rows = [[cell for cell in line.split("  ") if cell.strip()] for line in lines]
    header = [h.strip() for h in header]
    assert header == ["HOST", "RELEASE", "MODEL", "HEALTH", "FPS", "INFER", "TEMP", "THROTTLING"], lines
    return {row[0].strip(): dict(zip(header, (cell.strip() for cell in row))) for row in rows}


@pytest.mark.slow
def test_status_playbook_prints_one_table_of_the_fleet(ansible_playbook, inventory, deployed, tmp_path):
    pi = deployed
    answers = tmp_path / "fleet.json"
    result = playbook(ansible_playbook, STATUS, "-i", inventory, "-e", f"pibokeh_status_json={answers}")
    assert result.returncode == 0, result.stdout + result.stderr  # a down or unreachable Pi is reported, not fatal
    rows = table(result.stdout)
    assert set(rows) == {"loopback", "loopback-hot", "loopback-down", "elsewhere"}, result.stdout
    release = pi.release()
    assert rows["loopback"]["HEALTH"] == "ok" and rows["loopback"]["RELEASE"] == release
    assert rows["loopback"]["MODEL"] == SMALL_MODEL.name and float(rows["loopback"]["FPS"]) > 0
    assert rows["loopback"]["INFER"] == "every 2"  # the service config's infer-every
    assert rows["loopback"]["TEMP"] == "-" and rows["loopback"]["THROTTLING"] == "-"  # no sensors: none shown
    hot = rows["loopback-hot"]
    assert hot["HEALTH"] == "ok" and hot["TEMP"] == "84.0 C"
    assert hot["THROTTLING"] == "under_voltage,throttled (0x50005)"
    assert rows["loopback-down"]["HEALTH"] == "down" and rows["loopback-down"]["RELEASE"] == release
    assert rows["elsewhere"]["HEALTH"] == "unreachable"
    saved = {row["host"]: row for row in json.loads(answers.read_text())}
    assert saved["loopback-hot"]["thermal"]["throttled_now"] == ["under_voltage", "throttled"]
    assert saved["loopback"]["state"] == "running" and saved["loopback"]["thermal"] == {}
    # strict: the same answers fail the run, naming the Pis that are not healthy
    strict = playbook(ansible_playbook, STATUS, "-i", inventory, "-e", "pibokeh_status_strict=true",
                      "--limit", "loopback,loopback-down")
    assert strict.returncode != 0 and "not healthy: loopback-down" in strict.stdout, strict.stdout
    assert playbook(ansible_playbook, STATUS, "-i", inventory, "-e", "pibokeh_status_strict=true",
                    "--limit", "loopback").returncode == 0


@pytest.mark.slow
def test_scrape_config_from_the_inventory_is_scraped_by_prometheus(ansible_playbook, inventory, tmp_path):
    config = tmp_path / "prometheus.yml"
    result = playbook(ansible_playbook, SCRAPE, "-i", inventory, "-e", f"pibokeh_scrape_out={config}",
                      "-e", "pibokeh_scrape_interval=1s")
    assert result.returncode == 0, result.stdout + result.stderr
    text = config.read_text()
    assert "job_name: pibokeh" in text and "pi: loopback-hot" in text
    check = subprocess.run([binary("promtool"), "check", "config", str(config)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    prometheus = Prometheus(tmp_path, config)
    try:
        up = prometheus.wait_for("up", lambda r: len(r) == 4 and {x["metric"]["pi"] for x in r if x["value"][1] == "1"}
                                 == {"loopback", "loopback-hot"}, timeout=60)
        assert {x["metric"]["pi"] for x in up if x["value"][1] == "0"} == {"loopback-down", "elsewhere"}
        frames = prometheus.wait_for('pibokeh_frames_out_total{pi="loopback"}', lambda r: float(r[0]["value"][1]) > 0)
        assert frames[0]["metric"]["job"] == "pibokeh"
        hot = prometheus.wait_for('pibokeh_throttled{pi="loopback-hot",flag="throttled"}', lambda r: True)
        assert hot[0]["value"][1] == "1"
        assert prometheus.query('pibokeh_soc_temperature_celsius{pi="loopback"}') == []  # absent, not 0
        info = prometheus.query('pibokeh_model_info{pi="loopback"}')[0]["metric"]
        assert info["path"] == "/opt/pibokeh/models/current.tflite" and info["backend"]
    finally:
        prometheus.stop()


def test_status_playbook_passes_syntax_check(ansible_playbook, tmp_path):
    inventory = tmp_path / "empty.ini"
    inventory.write_text("[pis]\n")
    for path in (STATUS, SCRAPE):
        result = playbook(ansible_playbook, path, "-i", inventory, "--syntax-check")
        assert result.returncode == 0, result.stdout + result.stderr


def test_scrape_config_needs_pis_in_the_inventory(ansible_playbook, tmp_path):
    inventory = tmp_path / "none.ini"
    inventory.write_text("[others]\nsomething ansible_host=10.0.0.1\n")
    result = playbook(ansible_playbook, SCRAPE, "-i", inventory, "-e", f"pibokeh_scrape_out={tmp_path / 'p.yml'}")
    assert result.returncode != 0 and "no hosts in 'pis'" in result.stdout
    assert not (tmp_path / "p.yml").exists()
