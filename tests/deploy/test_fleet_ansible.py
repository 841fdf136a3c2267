"""The Ansible playbook: syntax check, then a real run against the loopback Pi (with --limit past
an unreachable second Pi of the inventory), then an idempotent second run."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from conftest import CACHE, REPO, SMALL_MODEL, LoopbackPi, free_port, http_status

PLAYBOOK = REPO / "scripts" / "ansible" / "deploy.yml"
pytestmark = pytest.mark.slow  # the loopback Pi, and a playbook run against it


def playbook(ansible: Path, *args: str | Path, timeout: float = 900) -> subprocess.CompletedProcess:
    env = os.environ | {"LC_ALL": "C.UTF-8", "ANSIBLE_NOCOLOR": "1", "ANSIBLE_RETRY_FILES_ENABLED": "0",
                        "ANSIBLE_HOME": str(CACHE / "ansible-home")}
    return subprocess.run([str(ansible), str(PLAYBOOK), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env, stdin=subprocess.DEVNULL)


def recap(output: str, host: str) -> dict[str, int]:
    line = re.search(rf"^{host}\s*:(.*)$", output, re.M)
    assert line, output
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line.group(1))}


@pytest.fixture(scope="module")
def inventory(tmp_path_factory, loopback_pi: LoopbackPi) -> Path:
    pi = loopback_pi
    path = tmp_path_factory.mktemp("ansible") / "inventory.ini"
    path.write_text(
        "[pis]\n"
        f"loopback ansible_host=127.0.0.1 ansible_port={pi.port}\n"
        f"elsewhere ansible_host=127.0.0.1 ansible_port={free_port()}\n"  # nothing listens: --limit skips it
        "[pis:vars]\n"
        f"ansible_user=pi\nansible_ssh_private_key_file={pi.key}\nansible_python_interpreter=/usr/bin/python3\n"
        f"ansible_ssh_common_args='-o UserKnownHostsFile={pi.known_hosts} -o StrictHostKeyChecking=yes'\n")
    return path


def test_playbook_passes_syntax_check(ansible_playbook, inventory):
    result = playbook(ansible_playbook, "-i", inventory, "--syntax-check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_playbook_deploys_to_the_loopback_pi_and_is_idempotent(ansible_playbook, inventory, loopback_pi,
                                                              service_files, tmp_path):
    pi, (unit, config) = loopback_pi, service_files
    fleet_config = tmp_path / "fleet.toml"  # a config change makes this a new release on the Pi
    fleet_config.write_text(config.read_text() + "# deployed by the fleet playbook\n")
    before = pi.release()
    args = ("-i", inventory, "--limit", "loopback", "-e", f"pibokeh_model={SMALL_MODEL}",
            "-e", f"pibokeh_config={fleet_config}", "-e", f"pibokeh_unit={unit}", "-e", "pibokeh_health_timeout=90")

    first = playbook(ansible_playbook, *args)
    assert first.returncode == 0, first.stdout + first.stderr
    counts = recap(first.stdout, "loopback")
    assert counts["failed"] == 0 and counts["unreachable"] == 0 and counts["changed"] >= 2
    assert "elsewhere" not in first.stdout
    assert pi.release() not in (None, before)
    assert pi.path("/etc/pibokeh/pibokeh.toml").read_text() == fleet_config.read_text()
    assert http_status(pi.health_url) == 200

    pid = pi.service_pid()
    second = playbook(ansible_playbook, *args)
    assert second.returncode == 0, second.stdout + second.stderr
    counts = recap(second.stdout, "loopback")
    assert counts["changed"] == 0 and counts["failed"] == 0
    assert pi.service_pid() == pid
