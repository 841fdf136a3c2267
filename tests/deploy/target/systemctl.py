#!/usr/bin/python3
"""A minimal service manager for the test target, installed there as /usr/bin/systemctl.

The loopback target is a Debian root entered with chroot: it has no running systemd, so the
real `systemctl restart` cannot work there. This stands in for systemd only. It reads the unit
file (and its drop-ins) that the deploy really installed, and runs that unit's real ExecStart as
its User/Group with its Environment, so the deployed service and its /healthz are real.
Not emulated: Restart=, dependencies, cgroups, sandboxing, timers, the journal (a log file).
Also installed as /usr/bin/journalctl (`journalctl -u UNIT -n N`).
"""
from __future__ import annotations

import grp
import os
import pwd
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

UNIT_DIR = Path("/etc/systemd/system")
STATE = Path("/run/fake-systemd")


def unit_name(name: str) -> str:
    return name if "." in name else name + ".service"


def read_unit(name: str) -> dict[str, list[str]]:
    """[Service] keys of the unit and its drop-ins, in systemd's order (drop-ins last)."""
    files = [UNIT_DIR / name] + sorted((UNIT_DIR / f"{name}.d").glob("*.conf"))
    if not files[0].is_file():
        sys.exit(f"Unit {name} not found.")
    keys: dict[str, list[str]] = {}
    for path in files:
        section = ""
        for line in path.read_text().splitlines():
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                section = line
            elif section == "[Service]" and "=" in line:
                key, value = line.split("=", 1)
                keys.setdefault(key.strip(), []).append(value.strip())
    return keys


def pid_of(name: str) -> int | None:
    try:
        pid = int((STATE / f"{name}.pid").read_text())
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, ValueError, IndexError):
        return None
    return None if state in ("Z", "X") else pid


def stop(name: str) -> None:
    pid = pid_of(name)
    if pid is None:
        return
    os.killpg(pid, signal.SIGTERM)
    for _ in range(100):
        if pid_of(name) is None:
            return
        time.sleep(0.1)
    os.killpg(pid, signal.SIGKILL)


def start(name: str) -> None:
    if pid_of(name) is not None:
        return
    unit = read_unit(name)
    argv = shlex.split(unit["ExecStart"][-1].lstrip("-@+!:"))
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
    for assignments in unit.get("Environment", []):
        for item in shlex.split(assignments):
            key, _, value = item.partition("=")
            env[key] = value
    user = pwd.getpwnam(unit.get("User", ["root"])[-1])
    gid = grp.getgrnam(unit["Group"][-1]).gr_gid if "Group" in unit else user.pw_gid
    env |= {"HOME": user.pw_dir, "USER": user.pw_name}

    def drop_privileges() -> None:
        os.setgid(gid)
        os.initgroups(user.pw_name, gid)
        os.setuid(user.pw_uid)

    STATE.mkdir(parents=True, exist_ok=True)
    log = open(STATE / f"{name}.log", "ab")
    proc = subprocess.Popen(argv, env=env, cwd=unit.get("WorkingDirectory", ["/"])[-1],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            preexec_fn=drop_privileges, start_new_session=True)
    (STATE / f"{name}.pid").write_text(str(proc.pid))


def main(argv: list[str]) -> int:
    if Path(argv[0]).name == "journalctl":
        name = unit_name(argv[argv.index("-u") + 1])
        lines = int(argv[argv.index("-n") + 1]) if "-n" in argv else 10
        log = STATE / f"{name}.log"
        text = log.read_text(errors="replace").splitlines()[-lines:] if log.is_file() else []
        print("\n".join(text))
        return 0
    args = [a for a in argv[1:] if not a.startswith("-")]
    quiet = "--quiet" in argv or "-q" in argv
    if not args:
        return 1
    verb, names = args[0], [unit_name(n) for n in args[1:]]
    if verb in ("daemon-reload", "enable", "disable"):
        return 0
    for name in names:
        if verb == "start":
            start(name)
        elif verb == "stop":
            stop(name)
        elif verb == "restart":
            stop(name)
            start(name)
        elif verb == "is-active":
            active = pid_of(name) is not None
            if not quiet:
                print("active" if active else "inactive")
            if not active:
                return 3
        else:
            print(f"fake systemctl: {verb} is not supported", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
