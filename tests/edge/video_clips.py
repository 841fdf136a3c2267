"""Test clips made with PyAV (so they can carry sound and chosen timestamps), and what PyAV reads
back from an output: codec, pixel format, frame times, audio packets."""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from tests.helpers import scene

TONE_HZ = 440.0
SAMPLE_RATE = 44100


def av_clip(path: Path, frames: int = 45, size: tuple[int, int] = (320, 240), fps: int = 30,
            audio: bool = True, durations: list[int] | None = None, noise: bool = False,
            audio_codec: str = "aac", sample_rate: int = SAMPLE_RATE, rotation: int = 0) -> Path:
    """An H.264 video (container by the suffix) of `scene` frames at `fps` with (if `audio`) a 440 Hz
    tone as long as the video, encoded by `audio_codec`.

    `durations`: frame durations in 1/(fps*10) s ticks, cycled - a variable frame rate clip.
    `noise`: random pictures (they compress badly: a big file from few frames).
    `rotation`: a display matrix that turns the picture by this many degrees counter-clockwise when
    shown, as phones store portrait video (landscape frames plus -90: "rotate 90° clockwise")."""
    tick = Fraction(1, fps * 10)
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps, options={"preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
        video.time_base = video.codec_context.time_base = tick
        if rotation:
            video.set_display_rotation(rotation)  # the display matrix, as a phone writes it
        sound = out.add_stream(audio_codec, rate=sample_rate) if audio else None
        if sound is not None:
            sound.layout = "mono"
        pts = 0
        for t in range(frames):
            picture = rng.integers(0, 256, (size[1], size[0], 3), np.uint8) if noise else scene(size, t)[0]
            frame = av.VideoFrame.from_ndarray(picture, format="bgr24")
            frame.pts, frame.time_base = pts, tick
            for packet in video.encode(frame):
                out.mux(packet)
            pts += durations[t % len(durations)] if durations else 10
        for packet in video.encode():
            out.mux(packet)
        if sound is not None:
            samples = np.arange(int(float(pts * tick) * sample_rate))
            tone = (0.3 * np.sin(2 * np.pi * TONE_HZ * samples / sample_rate)).astype(np.float32)
            for start in range(0, len(tone), 1024):
                chunk = av.AudioFrame.from_ndarray(tone[start:start + 1024].reshape(1, -1), format="fltp",
                                                   layout="mono")
                chunk.sample_rate, chunk.pts = sample_rate, start
                for packet in sound.encode(chunk):
                    out.mux(packet)
            for packet in sound.encode():
                out.mux(packet)
    return path


@dataclass
class Probe:
    """What a video file holds, as PyAV reads it."""
    format: str
    codec: str
    pix_fmt: str
    size: tuple[int, int]
    times: list[float]                      # every decoded frame's timestamp, seconds
    duration: float                         # the video stream's duration, seconds
    audio: list[tuple[str, float]] = field(default_factory=list)  # (codec, duration s) per audio stream
    audio_packets: list[bytes] = field(default_factory=list)      # the first audio stream's packets


def probe(path: Path, decoder: str | None = None) -> Probe:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        times = []
        if decoder:  # e.g. libvpx-vp9: FFmpeg's own vp9 decoder ignores the alpha channel
            ctx = av.CodecContext.create(decoder, "r")
            for packet in container.demux(stream):
                for frame in ctx.decode(packet if packet.size else None):
                    times.append(float(frame.pts * stream.time_base))
        else:
            times = [frame.time for frame in container.decode(stream)]
        duration = float(stream.duration * stream.time_base) if stream.duration else container.duration / 1e6
        result = Probe(container.format.name, stream.codec_context.name, stream.codec_context.pix_fmt,
                       (stream.codec_context.width, stream.codec_context.height), times, duration)
    with av.open(str(path)) as container:
        for audio in container.streams.audio:
            seconds = float(audio.duration * audio.time_base) if audio.duration else container.duration / 1e6
            result.audio.append((audio.codec_context.name, seconds))  # WebM streams have no duration of their own
        if container.streams.audio:
            result.audio_packets = [bytes(p) for p in container.demux(container.streams.audio[0]) if p.size]
    return result


def alpha_frames(path: Path) -> list[np.ndarray]:
    """The BGRA frames of a VP9 WebM, decoded by libvpx (which reads the alpha side data)."""
    frames = []
    with av.open(str(path)) as container:
        ctx = av.CodecContext.create("libvpx-vp9", "r")
        for packet in container.demux(container.streams.video[0]):
            for frame in ctx.decode(packet if packet.size else None):
                assert frame.format.name == "yuva420p", frame.format.name
                frames.append(frame.to_ndarray(format="bgra"))
    return frames
