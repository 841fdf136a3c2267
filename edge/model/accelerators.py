"""Which accelerators this machine has, for `pibokeh info`: for each, what was found and what is missing.

Looked for without opening any device (nothing is uploaded or claimed):

    imx500   picamera2's IMX500 helper importable, a camera whose model is "imx500", the sensor's
             firmware (/lib/firmware/imx500_firmware.fpk) and imx500-package (imx500-all)
    hailo    picamera2's Hailo helper importable (it needs HailoRT's hailo_platform), a /dev/hailoN
    edgetpu  libedgetpu.so.1 loadable, and an Edge TPU on USB (vendor ids 1a6e / 18d1:9302) or PCIe (/dev/apex_N)
"""
from __future__ import annotations

import ctypes
import glob
import importlib
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .edgetpu import LIBRARY
from .kinds import ACCELERATORS

IMX500_FIRMWARE = Path("/lib/firmware/imx500_firmware.fpk")
CORAL_USB = {("1a6e", "089a"), ("18d1", "9302")}  # before and after its firmware is loaded


@dataclass(frozen=True)
class Accelerator:
    name: str
    found: bool           # usable as far as can be told without opening it
    detail: str           # what was found, or what is missing and how to install it
    needs: str            # what it needs (kinds.ACCELERATORS)


def _import(module: str, attribute: str) -> tuple[Any, str | None]:
    try:
        return getattr(importlib.import_module(module), attribute), None
    except ImportError as exc:
        return None, f"{module} does not import ({str(exc).splitlines()[0] if str(exc) else 'ImportError'})"
    except AttributeError:
        return None, f"{module} has no {attribute}"


def imx500() -> Accelerator:
    helper, problem = _import("picamera2.devices", "IMX500")
    if helper is None:
        return Accelerator("imx500", False, f"{problem}: sudo apt install imx500-all python3-picamera2",
                           ACCELERATORS["imx500"])
    picamera2, _ = _import("picamera2", "Picamera2")
    try:
        cameras = [c for c in picamera2.global_camera_info() if c.get("Model") == "imx500"]
    except Exception as exc:  # noqa: BLE001 - libcamera errors vary
        return Accelerator("imx500", False, f"cannot list the cameras ({exc})", ACCELERATORS["imx500"])
    missing = [what for what, ok in (("the sensor firmware (imx500-all)", IMX500_FIRMWARE.is_file()),
                                     ("imx500-package (imx500-tools)", shutil.which("imx500-package"))) if not ok]
    if not cameras:
        return Accelerator("imx500", False, "no AI Camera connected" + (f"; also missing: {', '.join(missing)}"
                                                                         if missing else ""), ACCELERATORS["imx500"])
    detail = f"AI Camera is camera {cameras[0].get('Num', 0)}"
    return Accelerator("imx500", True, detail + (f"; missing: {', '.join(missing)}" if missing else ""),
                       ACCELERATORS["imx500"])


def hailo() -> Accelerator:
    helper, problem = _import("picamera2.devices", "Hailo")
    devices = sorted(glob.glob("/dev/hailo*"))
    if helper is None:
        return Accelerator("hailo", False, f"{problem or 'no Hailo helper'}: sudo apt install hailo-all python3-picamera2"
                           + (f" (device {devices[0]} is there)" if devices else ""), ACCELERATORS["hailo"])
    if not devices:
        return Accelerator("hailo", False, "the Hailo runtime is installed but no /dev/hailo* device: is the AI Kit / "
                                           "AI HAT+ fitted (Pi 5, PCIe enabled)?", ACCELERATORS["hailo"])
    return Accelerator("hailo", True, f"device {devices[0]}", ACCELERATORS["hailo"])


def edgetpu() -> Accelerator:
    try:
        ctypes.CDLL(LIBRARY)
    except OSError:
        return Accelerator("edgetpu", False, f"{LIBRARY} is not installed: sudo apt install libedgetpu1-std "
                                             "(Coral's apt repository)", ACCELERATORS["edgetpu"])
    usb = []
    for folder in glob.glob("/sys/bus/usb/devices/*"):
        ids = tuple(_read(os.path.join(folder, name)) for name in ("idVendor", "idProduct"))
        if ids in CORAL_USB:
            usb.append(os.path.basename(folder))
    pcie = sorted(glob.glob("/dev/apex_*"))
    if not usb and not pcie:
        return Accelerator("edgetpu", False, f"{LIBRARY} is installed but no Edge TPU is plugged in (USB or PCIe)",
                           ACCELERATORS["edgetpu"])
    return Accelerator("edgetpu", True, f"Edge TPU on {'USB ' + usb[0] if usb else pcie[0]}", ACCELERATORS["edgetpu"])


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def survey() -> list[dict[str, Any]]:
    """Every accelerator pibokeh can use, as dicts (name, found, detail, needs)."""
    return [asdict(find()) for find in (imx500, hailo, edgetpu)]
