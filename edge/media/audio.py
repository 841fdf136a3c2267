"""The input's sound, copied into a video output unchanged (packets remuxed, never re-encoded).

The audio is read by a second demuxer over the same input, so the frame source stays a plain
stream of pictures: before each video frame is encoded, every audio packet up to that frame's time
goes to the output, and the muxer interleaves them. Audio and video keep the input's timestamps,
so the output has the input's sync and duration.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import av

# What each container can hold without re-encoding (MP4: the common ones; WebM: only Opus and Vorbis).
FITS = {"mp4": {"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac", "mp2"}, "webm": {"opus", "vorbis"}}


class AudioCopy:
    """Copies the audio streams of `source` (a file path) into `output` (an open PyAV container).

    Streams the container cannot hold are left out and listed in `skipped` (for a one-line note)."""

    def __init__(self, source: Path, output: Any, container: str):
        self.skipped: list[str] = []
        self._input = av.open(str(source))
        self._map: dict[int, Any] = {}
        for stream in self._input.streams.audio:
            name = stream.codec_context.name
            if name in FITS.get(container, set()):
                self._map[stream.index] = output.add_stream_from_template(stream)
            else:
                self.skipped.append(name)
        self._output = output
        self._packets: Iterator[Any] = iter(())
        if self._map:
            self._packets = self._input.demux([s for s in self._input.streams.audio if s.index in self._map])
        else:
            self.close()

    def upto(self, seconds: float) -> None:
        """Mux every audio packet that starts before `seconds` (plus at most one after it)."""
        for packet in self._packets:
            if packet.dts is None or packet.size == 0:  # the demuxer's end-of-stream markers
                continue
            packet.stream = self._map[packet.stream_index]
            self._output.mux(packet)
            if packet.pts is not None and float(packet.pts * packet.time_base) >= seconds:
                return

    def rest(self) -> None:
        self.upto(float("inf"))
        self.close()

    def close(self) -> None:
        self._packets = iter(())
        self._input.close()
