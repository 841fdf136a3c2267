#!/usr/bin/env python3
"""Assemble a pibokeh release folder for deploy-remote.sh; print its release id.

A release is the wheel, the model (+ card; an AI Camera model travels as its packerOut.zip, which the
Pi packages into network.rpk), the service config and the systemd unit, named by a
hash of their contents. The wheel is hashed by its RECORD (the sha256 of every file inside), not
by its bytes, because rebuilding the same source gives a zip with new timestamps: the id must
not change when nothing that runs changed, so that a second deploy knows there is nothing to do.

Standard library only (Python >= 3.11): it runs on the workstation (deploy.sh) and the Ansible controller.
"""
from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import tomllib
import zipfile
from pathlib import Path

DEFAULT_SERVE = "127.0.0.1:8765"


def sha256_file(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def wheel_content_sha(wheel: Path) -> str:
    """sha256 of the wheel's RECORD: changes exactly when a file inside the wheel changes."""
    with zipfile.ZipFile(wheel) as zf:
        records = [n for n in zf.namelist() if n.endswith(".dist-info/RECORD")]
        if len(records) != 1:
            raise ValueError(f"{wheel}: not a wheel (no single .dist-info/RECORD)")
        return hashlib.sha256(zf.read(records[0])).hexdigest()


def check_tflite(model: Path) -> None:
    """Refuse what is plainly not a TFLite model (a damaged one is the health check's job)."""
    with model.open("rb") as f:
        head = f.read(8)
    if head[4:8] != b"TFL3":
        raise ValueError(f"{model}: not a TFLite model (no TFL3 flatbuffer identifier)")


def imx500_packer(model: Path) -> Path | None:
    """The packerOut.zip of an AI Camera model (the folder `pibokeh-convert --target imx500` wrote, or the
    zip itself), None for anything else; ValueError for a zip that is not the converter's."""
    packer = model / "packerOut.zip" if model.is_dir() else model if model.suffix == ".zip" else None
    if packer is None:
        return None
    if not packer.is_file():
        raise ValueError(f"{model}: no packerOut.zip in it (make one with pibokeh-convert --target imx500)")
    with zipfile.ZipFile(packer) as zf:
        if "dnnParams.xml" not in zf.namelist():
            raise ValueError(f"{packer}: not an IMX500 converter output (no dnnParams.xml inside)")
    return packer


def check_sensor_source(config: Path) -> None:
    """An AI Camera network runs on the camera's sensor: the service must read that camera."""
    with config.open("rb") as f:
        source = find_key(tomllib.load(f), "source")
    if not (isinstance(source, str) and source.split(":")[0] == "picamera2"):
        raise ValueError(f"{config}: an AI Camera model needs source = \"picamera2\" in the service config, "
                         f"not {source!r}")


def find_key(table: dict, key: str):
    """The first value of `key` in a TOML document, at any depth (the service config is nested)."""
    if key in table and not isinstance(table[key], dict):
        return table[key]
    for value in table.values():
        if isinstance(value, dict):
            found = find_key(value, key)
            if found is not None:
                return found
    return None


def health_url(config: Path) -> str:
    """http://HOST:PORT/healthz from the config's `serve` address; a wildcard bind is checked on loopback."""
    with config.open("rb") as f:
        serve = find_key(tomllib.load(f), "serve")
    if not isinstance(serve, str) or ":" not in serve:
        serve = DEFAULT_SERVE
    host, port = serve.rsplit(":", 1)
    if host in ("", "0.0.0.0", "::", "[::]"):
        host = "127.0.0.1"
    return f"http://{host}:{port}/healthz"


LOOPBACK = ("127.", "localhost", "::1", "[::1]")


def check_auth_file(auth: Path) -> None:
    """Refuse what is plainly not a `pibokeh passwd` file (USER:scrypt$... lines)."""
    lines = [line for line in auth.read_text().splitlines() if line.strip() and not line.startswith("#")]
    if not lines or not all(":scrypt$" in line for line in lines):
        raise ValueError(f"{auth}: not a password file (write it with `pibokeh passwd {auth} USER`)")


def check_exposure(config: Path, auth: Path | None) -> None:
    """A config that serves on a non-loopback address needs credentials (or says no-auth): the service
    would refuse to start, so say it here rather than after a failed health check and a rollback."""
    with config.open("rb") as f:
        settings = tomllib.load(f)  # the service reads top-level keys only
    serve = settings.get("serve")
    if not isinstance(serve, str) or serve.rpartition(":")[0] in ("",) or serve.startswith(LOOPBACK):
        return
    if settings.get("no-auth") or settings.get("no_auth"):
        return
    if not (settings.get("auth") and auth is not None):
        raise ValueError(f"{config}: serve = {serve!r} shows the camera to the network: pass --auth FILE "
                         "(from `pibokeh passwd FILE USER`) and set auth = \"/etc/pibokeh/auth\" in the config")


def build(out: Path, wheel: Path, config: Path, unit: Path, model: Path | None,
          keep_model: str | None, url: str | None, auth: Path | None = None) -> str:
    """Fill `out` with the release files and MANIFEST; return the release id."""
    out.mkdir(parents=True, exist_ok=True)
    if auth is not None:
        check_auth_file(auth)
    check_exposure(config, auth)
    fields = {"WHEEL": wheel.name, "WHEEL_SHA": wheel_content_sha(wheel)}
    packer = imx500_packer(model) if model is not None else None
    if packer is not None:  # the Pi makes network.rpk of it with imx500-package (deploy-remote.sh)
        check_sensor_source(config)
        card = packer.parent / "network.json"
        name = packer.parent.name if model.is_dir() else packer.stem
        fields |= {"MODEL_NAME": f"{name}.rpk", "MODEL_SHA": sha256_file(packer),
                   "CARD_SHA": sha256_file(card) if card.is_file() else ""}
        shutil.copyfile(packer, out / "model.zip")
        if card.is_file():
            shutil.copyfile(card, out / "model.json")
    elif model is not None:
        check_tflite(model)
        card = model.with_suffix(".json")
        fields |= {"MODEL_NAME": model.name, "MODEL_SHA": sha256_file(model),
                   "CARD_SHA": sha256_file(card) if card.is_file() else ""}
        shutil.copyfile(model, out / "model.tflite")
        if card.is_file():
            shutil.copyfile(card, out / "model.json")
    else:  # keep the model the target already runs: "NAME:MODEL_SHA:CARD_SHA"
        name, model_sha, card_sha = keep_model.rsplit(":", 2)
        fields |= {"MODEL_NAME": name, "MODEL_SHA": model_sha, "CARD_SHA": card_sha}
    fields |= {"CONFIG_SHA": sha256_file(config), "UNIT_SHA": sha256_file(unit),
               "HEALTH_URL": url or health_url(config)}
    if auth is not None:  # the preview's password file, installed as /etc/pibokeh/auth
        fields["AUTH_SHA"] = sha256_file(auth)
        shutil.copyfile(auth, out / "auth")
    release = hashlib.sha256("".join(f"{k}={v}\n" for k, v in fields.items()).encode()).hexdigest()[:12]
    shutil.copyfile(wheel, out / wheel.name)
    shutil.copyfile(config, out / "pibokeh.toml")
    shutil.copyfile(unit, out / "pibokeh.service")
    manifest = f"RELEASE={release}\n" + "".join(f"{k}={v}\n" for k, v in fields.items())
    (out / "MANIFEST").write_text(manifest)
    return release


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="release folder to fill")
    p.add_argument("--wheel", type=Path, required=True)
    p.add_argument("--config", type=Path, required=True, help="service config (TOML)")
    p.add_argument("--unit", type=Path, required=True, help="systemd unit")
    model = p.add_mutually_exclusive_group(required=True)
    model.add_argument("--model", type=Path, help=".tflite model (its card <stem>.json goes along), or an AI Camera "
                                                  "model: the folder of pibokeh-convert --target imx500 (packerOut.zip "
                                                  "and network.json), made into network.rpk on the Pi")
    model.add_argument("--keep-model", metavar="NAME:SHA:CARD_SHA", help="the model already on the target")
    p.add_argument("--health-url", help="default: from the config's `serve` address")
    p.add_argument("--auth", type=Path, help="the preview's password file (pibokeh passwd), for /etc/pibokeh/auth")
    args = p.parse_args(argv)
    for path in (args.wheel, args.config, args.unit, args.model, args.auth):
        if path is not None and not (path.is_file() or (path is args.model and path.is_dir())):
            print(f"deploy: {path}: no such file", file=sys.stderr)
            return 2
    try:
        print(build(args.out, args.wheel, args.config, args.unit, args.model, args.keep_model, args.health_url,
                    args.auth))
    except (ValueError, OSError, tomllib.TOMLDecodeError, zipfile.BadZipFile) as exc:
        print(f"deploy: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
