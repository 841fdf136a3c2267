"""Fakes of picamera2's device helpers (`picamera2.devices`): the AI Camera's `IMX500` and the AI Kit's
`Hailo`, with the calls and return shapes of picamera2's own (picamera2/devices/imx500/imx500.py and
devices/hailo/hailo.py), computing on the CPU what the device would. Like picamera2's, `Hailo` is only
there when its runtime is (FAKE_HAILO_MISSING=1 leaves it out, as a Pi without hailo-all)."""
import os

from .imx500 import IMX500, NetworkIntrinsics

if not os.environ.get("FAKE_HAILO_MISSING"):
    from .hailo import Hailo, hailo_architecture
