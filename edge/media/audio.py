"""The input's sound in a video output: copied unchanged where the container holds it, re-encoded
where it does not (PCM from a MOV into MP4: AAC; anything but Opus and Vorbis into WebM: Opus).

A stream is copied when its codec is one players expect in that container (`PLAYED`: MP4's audio
object types, WebM's two codecs) and FFmpeg's muxer takes it (it writes a header for the stream into
memory). Codec names, not decoder names: the MP3 decoder is `mp3float`. PCM is re-encoded although
FFmpeg 7 writes it into MP4 (as ISO `ipcm`), because browsers and phones do not play that.
The audio is read by a second demuxer over the same input, so the frame source stays a plain stream
of pictures: before each video frame is encoded, every audio packet up to that frame's time goes to
the output, and the muxer interleaves them. Copied or re-encoded, audio keeps the input's
timestamps, so the output has its sync and duration.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Iterator

import av

# Codecs players take in each container, as they are: MP4's audio object types (ISO/IEC 14496 and its
# registered extensions), WebM's two.
PLAYED = {"mp4": {"aac", "mp3", "mp2", "mp1", "ac3", "eac3", "alac", "flac", "opus", "dts", "truehd"},
          "webm": {"opus", "vorbis"}}
# What a re-encoded stream becomes, per container: (encoder, sample rate or None to keep, bit rate per channel)
REENCODE = {"mp4": ("aac", None, 64_000), "webm": ("libopus", 48_000, 48_000)}
AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000)
LAYOUTS = {1: "mono", 2: "stereo"}  # more channels: their own layout if the encoder takes it, else stereo


def codec_name(stream: Any) -> str:
    """The codec's name ("mp3"), not its decoder's ("mp3float")."""
    codec = stream.codec_context.codec
    return codec.canonical_name if codec is not None else "unknown"


def fits(stream: Any, container: str) -> bool:
    """True when a `container` file holds `stream`'s packets as they are, in a form players play."""
    if codec_name(stream) not in PLAYED.get(container, ()):
        return False
    try:  # and FFmpeg's muxer agrees (its header for the stream, written into memory)
        with av.open(io.BytesIO(), "w", format=container) as probe:
            probe.add_stream_from_template(stream)
            probe.start_encoding()
    except (av.FFmpegError, ValueError, TypeError):
        return False
    return True


class _Transcoder:
    """One audio stream decoded and encoded again for a container that cannot hold it as it is."""

    def __init__(self, stream: Any, output: Any, container: str):
        name, rate, per_channel = REENCODE[container]
        ctx = stream.codec_context
        rate = rate or min(AAC_RATES, key=lambda r: abs(r - (ctx.sample_rate or 48000)))
        channels = len(ctx.layout.channels) if ctx.layout else 2
        self.stream = output.add_stream(name, rate=rate)
        try:
            self.stream.layout = ctx.layout if channels > 2 else LAYOUTS.get(channels, "stereo")
        except (ValueError, av.FFmpegError):
            self.stream.layout = "stereo"
        self.stream.bit_rate = per_channel * min(channels, 6)
        self.description = f"{name.removeprefix('lib')} {self.stream.bit_rate // 1000} kbit/s"

    def packets(self, packet: Any) -> Iterator[Any]:
        """The output packets for one input packet (None: the end, flush the encoder)."""
        for frame in packet.decode() if packet is not None else [None]:
            yield from self.stream.encode(frame)


class AudioCopy:
    """The audio streams of `source` (a file path) into `output` (an open PyAV container of kind
    `container`): copied when they fit, else re-encoded (`reencoded` lists "pcm_s16le -> aac 128 kbit/s"),
    left out only when they cannot even be decoded (`skipped`)."""

    def __init__(self, source: Path, output: Any, container: str):
        self.skipped: list[str] = []
        self.reencoded: list[str] = []
        self._input = av.open(str(source))
        self._copy: dict[int, Any] = {}
        self._transcode: dict[int, _Transcoder] = {}
        for stream in self._input.streams.audio:
            name = codec_name(stream)
            if fits(stream, container):
                self._copy[stream.index] = output.add_stream_from_template(stream)
                continue
            try:
                self._transcode[stream.index] = coder = _Transcoder(stream, output, container)
            except (av.FFmpegError, ValueError, TypeError, AttributeError):
                self.skipped.append(name)
                continue
            self.reencoded.append(f"{name} -> {coder.description}")
        self._output = output
        self._packets: Iterator[Any] = iter(())
        wanted = [s for s in self._input.streams.audio if s.index in self._copy or s.index in self._transcode]
        if wanted:
            self._packets = self._input.demux(wanted)
        else:
            self.close()

    def upto(self, seconds: float) -> None:
        """Mux every audio packet that starts before `seconds` (plus at most one after it)."""
        for packet in self._packets:
            if packet.dts is None or packet.size == 0:  # the demuxer's end-of-stream markers
                continue
            if packet.stream_index in self._copy:
                packet.stream = self._copy[packet.stream_index]
                self._output.mux(packet)
            else:
                self._reencode(self._transcode[packet.stream_index], packet)
            if packet.pts is not None and float(packet.pts * packet.time_base) >= seconds:
                return

    def _reencode(self, coder: _Transcoder, packet: Any) -> None:
        try:
            out = list(coder.packets(packet))
        except av.InvalidDataError:  # a damaged audio packet: a moment of silence, not a failed video
            return
        for encoded in out:
            self._output.mux(encoded)

    def rest(self) -> None:
        self.upto(float("inf"))
        for coder in self._transcode.values():
            for encoded in coder.packets(None):
                self._output.mux(encoded)
        self.close()

    def close(self) -> None:
        self._packets = iter(())
        self._input.close()
