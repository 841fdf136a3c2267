"""Opening an accelerator's network through picamera2's device helpers (`picamera2.devices`: the AI
Camera's `IMX500`, the AI Kit's `Hailo`): the file checked, the helper found and created, and every way
that fails said in one line with what to install."""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from ..errors import ModelError


def open_helper(path: Path, suffix: str, what: str, module: str, helper: str, install: str, device: str) -> Any:
    """`module.helper(path)`: e.g. picamera2.devices.IMX500("network.rpk"). `what` says which files the
    backend runs, `install` what to install when the helper is missing, `device` what the device is."""
    if not path.is_file():
        raise ModelError(f"{path}: no such network file")
    if path.suffix != suffix:
        raise ModelError(f"{path}: {what}")
    try:
        make = getattr(importlib.import_module(module), helper)
    except (ImportError, AttributeError):  # picamera2.devices leaves Hailo out without HailoRT's hailo_platform
        raise ModelError(f"{path.name}: the {device} needs picamera2's {helper} helper: {install}") from None
    try:
        return make(str(path))
    except Exception as exc:  # noqa: BLE001 - the helpers raise RuntimeError, OSError, HailoRT's own errors
        raise ModelError(f"{path.name}: cannot use the {device} ({first_line(exc)}); is it connected, and "
                         f"{install.split(' (')[0].replace('sudo apt install ', '')} installed?") from None


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
