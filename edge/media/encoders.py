"""Which encoder writes a video: what opens on this machine, and what `--codec` asks for.

H.264 in MP4 is what browsers and phones play, so `auto` takes the Raspberry Pi 4's hardware
encoder (`h264_v4l2m2m`) when it opens and libx264 (bundled in PyAV's wheels) otherwise. Where PyAV
is missing (32-bit ARM has no wheel) OpenCV's MPEG-4 Part 2 writer is the fallback, with a warning:
such files do not play in browsers. Transparent video is VP9 with alpha in WebM (libvpx-vp9).
"""
from __future__ import annotations

import dataclasses
import functools
import sys
from dataclasses import dataclass, field
from fractions import Fraction

from ..errors import InputError

try:  # PyAV: optional so that a Pi without a wheel for it still runs (OpenCV fallback)
    import av
except ImportError:  # pragma: no cover - exercised by a test that hides av
    av = None
# Everything FFmpeg raises (PyAV's errors also subclass OSError, ValueError, EOFError, ... by kind).
AVError: type[Exception] = av.FFmpegError if av is not None else OSError

# What --codec takes. Names are FFmpeg's (`ffmpeg -c:v NAME`), plus `auto`.
CODECS = ("auto", "libx264", "h264_v4l2m2m", "mpeg4", "libvpx-vp9")
RECORD_CODECS = CODECS[:4]  # a recording is fragmented MP4: no WebM
H264 = ("h264_v4l2m2m", "libx264")  # the order `auto` tries them in
# Files: superfast (measured here, CPU ms a frame: 720p ultrafast 13-15, superfast 15-21, veryfast
# 23-30, medium 74-78; 1080p 25-27, 40-50, 63-77, 152-163): ultrafast saves little more CPU for ~1.7x
# the bitrate, veryfast costs ~1.5x the CPU for ~20-30 % smaller files. Above 720p without B-frames:
# x264 keeps three more frames for them, ~60 MB at 1080p (a quarter of what a 512 MB Pi has for the
# whole job), for files ~20 % smaller.
X264_PRESET = "superfast"
NO_B_FRAMES_ABOVE = 1280 * 720
# Recordings on a Pi without a hardware encoder (a Pi 5): the encoder runs beside the pipeline and
# must keep up with the camera without taking the cores the model needs. Measured here on the shared
# video (scripts/benchmarks/compositing_recording.py; a Pi 5 core is ~2-3x slower): at 720p superfast
# takes ~9 CPU ms a frame (~0.7 of a Pi 5 core at 30 fps) at 3.2 Mbit/s; at 1080p superfast takes
# ~21 (two Pi 5 cores at 30 fps), ultrafast ~13 (about one) for ~1.5x the bitrate. Two threads
# (slices of one frame, zerolatency) let a frame use two cores when they are free (1080p ultrafast
# here: 14 ms in one thread, 9 in two, when the machine was quieter), so a 1080p frame fits a 30 fps
# camera's 33 ms on a Pi 5; more threads only add slices on a Pi whose other cores run the model.
X264_RECORD = {"preset": "superfast", "threads": "2"}
X264_RECORD_LARGE = {"preset": "ultrafast", "threads": "2"}  # above 720p
OPENCV = "opencv-mp4v"  # not an FFmpeg name: OpenCV's own writer, the fallback without PyAV
NO_BROWSER = ("the file will not play in web browsers (MPEG-4 Part 2); install PyAV for H.264: "
              "pip install av")


@dataclass(frozen=True)
class Encoder:
    """How a video output is encoded: the encoder, its container and pixel format, its options."""
    name: str
    format: str = "mp4"          # the container (FFmpeg muxer name)
    suffix: str = ".mp4"
    pix_fmt: str = "yuv420p"
    options: dict[str, str] = field(default_factory=dict)
    live_options: dict[str, str] = field(default_factory=dict)  # added for recordings
    large_live_options: dict[str, str] = field(default_factory=dict)  # added for recordings above 720p
    browsers: bool = True        # whether web browsers play the result
    warning: str | None = None   # one line to show the user when this is used

    @property
    def alpha(self) -> bool:
        return self.pix_fmt == "yuva420p"

    def options_for(self, size: tuple[int, int], live: bool = False) -> dict[str, str]:
        """The encoder's options for frames of `size` (w, h), as a file or a recording (`live`)."""
        large = size[0] * size[1] > NO_B_FRAMES_ABOVE
        if live:
            return {**self.options, **self.live_options, **(self.large_live_options if large else {})}
        if self.name == "libx264" and large:
            return {**self.options, "bf": "0"}
        return dict(self.options)

    def describe(self, live: bool = False, size: tuple[int, int] = (640, 480)) -> str:
        kind = {"libx264": "H.264", "h264_v4l2m2m": "H.264, hardware", "mpeg4": "MPEG-4 Part 2",
                "libvpx-vp9": "VP9", OPENCV: "MPEG-4 Part 2 via OpenCV"}.get(self.name, self.name)
        options = self.options_for(size, live)
        preset = f", preset {options['preset']}" if "preset" in options else ""
        return f"{self.name} ({kind}{preset}, {'WebM' if self.format == 'webm' else 'MP4'})"


def encoder_for(name: str) -> Encoder:
    """The settings pibokeh uses with encoder `name` (no check that it opens)."""
    if name == "libx264":
        # gop is set from the frame rate when the stream opens; zerolatency for recordings: no
        # look-ahead, so every frame is in the file as soon as it is encoded (crash safety).
        return Encoder(name, options={"preset": X264_PRESET}, live_options={"tune": "zerolatency", **X264_RECORD},
                       large_live_options=X264_RECORD_LARGE)
    if name == "h264_v4l2m2m":
        return Encoder(name)
    if name == "libvpx-vp9":
        # realtime + cpu-used 8: ~6 ms a 320x240 frame here, where OpenCV's VP9 writer takes 80-460 ms.
        return Encoder(name, format="webm", suffix=".webm", pix_fmt="yuva420p",
                       options={"deadline": "realtime", "cpu-used": "8", "row-mt": "1", "crf": "32", "b": "0"})
    if name == "mpeg4":
        return Encoder(name, browsers=False)
    if name == OPENCV:
        return Encoder(name, browsers=False, warning=f"PyAV is not installed: {NO_BROWSER}")
    raise InputError(f"unknown video encoder {name!r}; choose from {', '.join(CODECS)}")


def pyav_version() -> str | None:
    return av.__version__ if av is not None else None


def even(size: tuple[int, int]) -> tuple[int, int]:
    """yuv420p holds 2x2 blocks of colour: the size rounded up to even sides."""
    return size[0] + size[0] % 2, size[1] + size[1] % 2


@functools.lru_cache(maxsize=None)
def why_not(name: str, size: tuple[int, int] = (640, 480)) -> str | None:
    """None when encoder `name` opens here at `size`, else the short reason it does not.

    Opening is the only honest test: FFmpeg lists h264_v4l2m2m wherever it was built with it, but
    it opens only on a Pi 4 with /dev/video11 (not on a Pi 5 or a PC)."""
    if av is None:
        return "PyAV is not installed"
    encoder = encoder_for(name)
    try:
        ctx = av.CodecContext.create(name, "w")
    except (ValueError, av.FFmpegError):
        return "not in this PyAV build"
    width, height = even(size)
    try:
        ctx.width, ctx.height, ctx.pix_fmt = width, height, encoder.pix_fmt
        ctx.time_base, ctx.framerate = Fraction(1, 30), Fraction(30)
        ctx.open()
    except (ValueError, av.FFmpegError) as exc:
        return f"does not open here ({getattr(exc, 'strerror', None) or exc})"
    finally:
        del ctx
    return None


def choose(codec: str | None = None, size: tuple[int, int] = (640, 480), alpha: bool = False,
           record: bool = False) -> Encoder:
    """The encoder for `--codec` (None or "auto": the best that opens here). Raises InputError."""
    codec = codec or "auto"
    allowed = RECORD_CODECS if record else CODECS
    if codec not in allowed:
        raise InputError(f"--codec {codec}: unknown; choose from {', '.join(allowed)}")
    if alpha:
        if codec not in ("auto", "libvpx-vp9"):
            raise InputError(f"--codec {codec} cannot carry a transparent background; transparent video is "
                             "VP9 in WebM (--codec libvpx-vp9, the default for it), or use --frames-as-png")
        reason = why_not("libvpx-vp9", size)
        if reason:
            raise InputError(f"transparent video needs libvpx-vp9 (PyAV): {reason}; use --frames-as-png")
        return encoder_for("libvpx-vp9")
    if codec == "auto":
        if av is None:
            return encoder_for(OPENCV)
        for name in H264:
            if why_not(name, size) is None:
                return encoder_for(name)
        return dataclasses.replace(encoder_for("mpeg4"), warning=f"no H.264 encoder opens here: {NO_BROWSER}")
    if codec == "mpeg4" and av is None:
        return encoder_for(OPENCV)
    reason = why_not(codec, size)
    if reason:
        raise InputError(f"--codec {codec}: {reason}; `pibokeh info` shows the encoder --codec auto uses")
    if codec == "libvpx-vp9":  # opaque VP9: no alpha plane to carry
        return dataclasses.replace(encoder_for(codec), pix_fmt="yuv420p")
    return encoder_for(codec)


def summary() -> dict[str, object]:
    """What `pibokeh info` says about video: the encoder `auto` picks and why the others are not used."""
    chosen = choose()
    others = {name: why_not(name) for name in H264 if name != chosen.name and av is not None}
    try:
        transparent = choose(alpha=True).describe()
    except InputError as exc:
        transparent = f"unavailable: {exc}"
    return {"video": chosen.describe(), "browsers": chosen.browsers, "pyav": pyav_version(),
            "not_used": {k: v for k, v in others.items() if v}, "transparent": transparent}


_warned: set[str] = set()


def warn_once(message: str | None) -> None:
    """A one-line warning on stderr, once per process (a batch of 100 videos says it once)."""
    if message and message not in _warned:
        _warned.add(message)
        print(f"pibokeh: warning: {message}", file=sys.stderr, flush=True)
