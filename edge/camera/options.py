"""The options of `pibokeh camera`, shared by its command line and its TOML config file."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..media.encoders import RECORD_CODECS
from ..still import SKIP_STILL
from ..options import (
    add_model_options,
    add_quiet,
    add_style_options,
    float_in,
    frame_size,
    int_in,
    non_negative_float,
    non_negative_int,
)

# Options a reload (SIGHUP) applies to the running pipeline; the others need a restart.
LIVE = frozenset({"model", "backend", "threads", "classes", "blur_kernel", "exact", "feather", "background",
                  "infer_every", "smooth", "snapshot_every", "target_fps", "look", "blades", "bloom", "falloff",
                  "min_blob", "skip_still"})
# Options holding paths: relative ones in a config file are relative to the file's folder.
PATHS = ("model", "record", "snapshot_dir", "auth", "backgrounds_dir")
NOT_IN_CONFIG = frozenset({"config", "func", "command", "camera_defaults"})


def smoothing(text: str) -> float:
    value = non_negative_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"expected a share in [0, 1) of the previous mask to keep, got {text!r}")
    return value


def address(text: str) -> tuple[str, int]:
    """HOST:PORT, [IPv6]:PORT, :PORT or PORT (host 127.0.0.1: the preview is private unless asked otherwise)."""
    host, _, port = text.strip().rpartition(":")
    if host.startswith("[") != host.endswith("]"):
        port = ""  # "[::1:8765" or "::1]:8765"
    host = host[1:-1] if host.startswith("[") else host
    if not port.isdecimal() or len(port) > 5 or int(port) > 65535 or len(host) > 253 \
            or not all(c.isalnum() or c in ".-:%_" for c in host):
        raise argparse.ArgumentTypeError(f"expected HOST:PORT like 127.0.0.1:8765 or [::1]:8765, got {text!r}")
    return (host or "127.0.0.1"), int(port)


def host_name(text: str) -> str:
    """A host name or address the preview answers to besides its own (--allow-host)."""
    name = text.strip().lower().strip("[]")
    if not name or len(name) > 253 or not all(c.isalnum() or c in ".-:_" for c in name):
        raise argparse.ArgumentTypeError(f"expected a host name like camera.local, got {text!r}")
    return name


def add_camera_options(p: argparse.ArgumentParser) -> None:
    src = p.add_argument_group("source")
    src.add_argument("--source", default="picamera2", metavar="S",
                     help="picamera2[:N] (default), opencv:N, opencv:/dev/videoN, video:PATH, or an "
                          "rtsp:// / http:// URL")
    src.add_argument("--size", type=frame_size, metavar="WxH", help="frame size (default: the source's; "
                     "picamera2: 1280x720)")
    src.add_argument("--fps", type=float_in(0, 240, "a frame rate"), metavar="F",
                     help="frame rate, up to 240 (default: the source's)")
    src.add_argument("--loop", action="store_true", help="video: start again at the end")
    src.add_argument("--retries", type=int_in(0, 1000, "a number of retries"), default=3, metavar="N",
                     help="reconnect attempts when the source is missing, busy or lost, with doubling waits "
                          "from 0.5 s up to 30 s (default: 3)")
    src.add_argument("--open-timeout", type=float_in(0, 600, "a time in seconds"), default=10.0, metavar="S",
                     help="network streams: give up opening (and reading a frame) after S seconds, "
                          "up to 600 (default: 10)")
    add_model_options(p)
    add_style_options(p)
    live = p.add_argument_group("live pipeline")
    live.add_argument("--infer-every", type=int_in(1, 1000, "a frame interval"), default=1, metavar="N",
                      help="run the model on every Nth frame and reuse its mask in between, 1 to 1000 (default: 1)")
    live.add_argument("--target-fps", type=float_in(0, 240, "a frame rate", zero=True), default=0.0, metavar="F",
                      help="adaptive load: raise --infer-every while the output falls short of F fps or the "
                           "SoC is throttled, lower it again when there is room (default: 0, off; "
                           "--infer-every is then where it starts)")
    live.add_argument("--skip-still", type=float_in(10, 100, "a PSNR in dB", zero=True), default=SKIP_STILL,
                      metavar="DB", help="reuse the last mask while the scene is still: a frame within DB of PSNR "
                                         "of the one the model last saw (on small grey copies) skips the model, "
                                         f"10 to 100 (default: {SKIP_STILL:g}; 0: off; higher: fewer skips)")
    live.add_argument("--smooth", type=smoothing, default=0.0, metavar="ALPHA",
                      help="temporal mask smoothing: share of the previous mask kept, 0-0.95 (default: 0, off)")
    out = p.add_argument_group("outputs")
    out.add_argument("--serve", type=address, metavar="HOST:PORT",
                     help="serve the live page, /stream.mjpg, /snapshot.jpg, /stats, /metrics (Prometheus), /healthz, /config "
                          "(host defaults to 127.0.0.1; port 0 picks a free one)")
    out.add_argument("--max-clients", type=int_in(1, 100, "a number of viewers"), default=10, metavar="N",
                     help="most simultaneous stream viewers, up to 100; more get 503 (default: 10)")
    out.add_argument("--auth", type=Path, metavar="FILE",
                     help="preview: require HTTP Basic credentials from FILE (written by `pibokeh passwd FILE USER`); "
                          "needed to serve on an address other than loopback")
    out.add_argument("--no-auth", action="store_true",
                     help="preview: serve on a non-loopback address without credentials (anyone who can reach it "
                          "sees the camera)")
    out.add_argument("--allow-host", dest="allow_hosts", type=host_name, action="append", metavar="NAME",
                     help="preview: also answer requests for this host name (repeatable; config: allow-hosts = [...]); "
                          "the bind address, localhost and this machine's names always work")
    out.add_argument("--backgrounds-dir", type=Path, metavar="DIR",
                     help="preview: the background pictures and clips the page's controls offer (files in DIR, "
                          "chosen by name; nothing is uploaded)")
    out.add_argument("--no-controls", action="store_true",
                     help="preview: no live controls (the page shows the stream and the figures only)")
    out.add_argument("--record", type=Path, metavar="OUT.mp4",
                     help="record the output: H.264 in fragmented MP4, under its final name while it grows, a "
                          "fragment a second (a recording cut by power loss plays up to its last second). Never "
                          "overwrites: {time} in the name becomes the start time (20261206-142501), and a name "
                          "that exists gets -1, -2, ... before .mp4; the name taken is logged and in /stats")
    out.add_argument("--codec", choices=RECORD_CODECS, metavar="C",
                     help="encoder of --record: auto (default: the Pi 4's hardware H.264 encoder if it opens, "
                          "else libx264), libx264, h264_v4l2m2m or mpeg4")
    out.add_argument("--virtual-camera", nargs="?", const="auto", metavar="/dev/videoN",
                     help="send the output to a v4l2loopback device (the first one, or the one given), so video-"
                          "call apps see it as a camera; needs `sudo modprobe v4l2loopback exclusive_caps=1` "
                          "and pyvirtualcam (pip install 'pibokeh[virtualcam]')")
    out.add_argument("--snapshot-dir", type=Path, metavar="DIR",
                     help="save JPEG snapshots here: on Enter (when run in a terminal), on SIGUSR1, "
                          "and every --snapshot-every seconds")
    out.add_argument("--snapshot-every", type=float_in(0.1, 7 * 86400, "an interval in seconds", zero=True),
                     default=0.0, metavar="S",
                     help="snapshot interval in seconds, 0.1 up to a week (default: 0, only on request)")
    stop = p.add_argument_group("stopping")
    stop.add_argument("--max-frames", type=non_negative_int, default=0, metavar="N",
                      help="stop after N output frames (default: 0, no limit)")
    stop.add_argument("--duration", type=non_negative_float, default=0.0, metavar="S",
                      help="stop after S seconds (default: 0, no limit)")
    p.add_argument("--config", type=Path, metavar="FILE.toml",
                   help="read any of these options from a TOML file; SIGHUP re-reads it")
    add_quiet(p, "only errors on stderr")
