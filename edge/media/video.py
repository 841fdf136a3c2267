"""Video files: frames decoded from a file (with their timestamps), and frames encoded into one.

Both go through PyAV (FFmpeg), so outputs are H.264 in MP4 that browsers and phones play, keep the
input's timing and sound, and every write error is seen. Without PyAV (32-bit ARM) OpenCV does
both, with a warning (see `video_opencv`).

Two ways to write (`VideoFileSink`):
- a file (batch): encoded into a hidden temporary file beside the output, renamed into place only
  after the muxer closed without error, so an existing output is never replaced by a broken one;
- a recording (`live=True`): a new file (never an existing one: `OutputExists`), fragmented MP4
  under its final name from the first frame, a keyframe
  and a fragment every second, so a recording cut by power loss or SIGKILL plays up to its last
  second; timestamps from the wall clock, so it plays at the speed it was recorded.
"""
from __future__ import annotations

import itertools
import os
import time
from fractions import Fraction
from pathlib import Path
from typing import Callable

import cv2
import numpy as np


from .encoders import OPENCV, AVError, Encoder, av, choose, even, warn_once
from ..errors import InputError, OutputError
from ..files import cannot_write, release, remove_stale, temp_beside
from .frames import FrameSink, FrameSource
from .images import check_video_frames, to_bgr8
from .muxer_file import MuxerFile
from .orientation import UPRIGHT, from_display_matrix, upright
from .video_opencv import OpenCVWriter, captured_frames, open_capture

# Fragmented MP4: an empty moov up front, then a self-contained fragment at every keyframe.
FRAGMENTED = {"movflags": "frag_keyframe+empty_moov+default_base_moof", "flush_packets": "1"}
KEYFRAME_EVERY = 1.0  # seconds: the seek granularity, and what a cut recording loses at most


def _fps(rate: object) -> float:
    fps = float(rate) if rate else 0.0
    return fps if 0.5 <= fps <= 240 else 25.0  # some containers report nonsense rates (0, 1000, 90000)


class UnreadableVideo(InputError):
    """A file that is not a video this machine can read (trying again will not change that)."""


class VideoFileSource(FrameSource):
    """Frames of a video file, upright. After each `read`, `pts` is the frame's timestamp in
    `time_base` (strictly increasing, also for variable frame rates) and `time` the same in seconds.

    A stored rotation (the display matrix phones write for portrait video) is applied to every frame:
    `size` is the upright size, `turn` what was done. Frames larger than the memory budget
    (`--max-pixels`) are refused before any is decoded past the first."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.is_file():
            raise UnreadableVideo(f"{self.path}: no such file")
        if self.path.stat().st_size == 0:
            raise UnreadableVideo(f"{self.path}: empty file")
        self.skipped = 0  # packets that did not decode (damaged files): skipped, not fatal
        self.turn = UPRIGHT
        self._open()

    def _open(self) -> None:
        self.pts: int | None = None
        self.time = 0.0
        self.frames_read = 0
        if av is None:
            self._cap, fps, self.size, self.frame_count = open_capture(self.path)
            self.fps, self.time_base = _fps(fps), None
            try:
                check_video_frames(self.path, self.size)
            except InputError as exc:
                self._cap.release()
                raise UnreadableVideo(str(exc)) from None
            self._frames = ((frame, None) for frame in captured_frames(self._cap))
            return
        try:
            self._container = av.open(str(self.path))
        except (AVError, OSError, UnicodeDecodeError) as exc:
            raise UnreadableVideo(f"{self.path}: not a readable video ({_short(exc)})") from None
        if not self._container.streams.video:
            sound = bool(self._container.streams.audio)
            self._container.close()
            raise UnreadableVideo(f"{self.path}: not a readable video (no video stream{': sound only' * sound})")
        stream = self._container.streams.video[0]
        # Two frame threads: the next frame decodes while this one is being processed (a 1080p read
        # waits ~5 ms instead of ~10 here), for ~7 MB more than one thread at 1080p; AUTO's cores + 1
        # threads hold a set of frames each (+15 MB here, more on a 4-core Pi) for no more speed.
        stream.thread_type = "FRAME"
        stream.codec_context.thread_count = 2
        self.time_base = stream.time_base or Fraction(1, 90000)
        self.fps = _fps(stream.average_rate or stream.guessed_rate or stream.base_rate)
        self.size = (stream.codec_context.width, stream.codec_context.height)
        if self.size[0] <= 0 or self.size[1] <= 0:
            self.close()
            raise UnreadableVideo(f"{self.path}: not a readable video (no picture size)")
        try:
            check_video_frames(self.path, self.size)
        except InputError as exc:
            self.close()
            raise UnreadableVideo(str(exc)) from None
        seconds = float(stream.duration * self.time_base) if stream.duration else (
            self._container.duration or 0) / 1e6
        self.frame_count = stream.frames or int(round(seconds * self.fps))
        self.audio = [s.codec_context.name for s in self._container.streams.audio]
        self._frames = self._decode(stream)
        self._upright_from_first_frame()

    def _upright_from_first_frame(self) -> None:
        """Read the first frame now: its display matrix (the stream's, which the decoder puts on every
        frame) says how frames turn upright, and so the size outputs get."""
        try:
            first = next(self._frames, None)
        except (OSError, ValueError, AVError) as exc:
            self.close()
            raise InputError(f"{self.path}: cannot read frame 1 ({_short(exc)})") from None
        if first is None:
            return
        matrix = first[0].side_data.get("DISPLAYMATRIX")
        self.turn = from_display_matrix(np.frombuffer(bytes(matrix), "=i4")) if matrix is not None else UPRIGHT
        self.size = self.turn.size(*self.size)
        self._frames = itertools.chain([first], self._frames)

    def _decode(self, stream):
        for packet in self._container.demux(stream):
            try:
                frames = packet.decode()
            except av.InvalidDataError:
                self.skipped += 1
                continue
            for frame in frames:
                yield frame, frame.pts

    def read(self) -> np.ndarray | None:
        try:
            item = next(self._frames, None)
        except (OSError, ValueError, AVError) as exc:
            raise InputError(f"{self.path}: cannot read frame {self.frames_read + 1} ({_short(exc)})") from None
        if item is None:
            return None
        frame, pts = item
        self.frames_read += 1
        if av is None:
            self.time = (self.frames_read - 1) / self.fps
            return to_bgr8(frame)
        step = max(1, round(1 / (self.fps * self.time_base)))
        if pts is None:  # no timestamp (raw streams): the previous one plus a frame
            pts = 0 if self.pts is None else self.pts + step
        elif self.pts is not None and pts <= self.pts:
            pts = self.pts + 1
        self.pts, self.time = pts, float(pts * self.time_base)
        return upright(frame.to_ndarray(format="bgr24"), self.turn)

    def rewind(self) -> None:
        self.close()
        self._open()

    def close(self) -> None:
        if av is None:
            self._cap.release()
        elif getattr(self, "_container", None) is not None:
            self._container.close()
            self._container = None


def _short(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


class OutputExists(OutputError):
    """A recording's file already exists (recordings never overwrite: the caller picks another name)."""


class VideoFileSink(FrameSink):
    """A video file of frames of `size` (others are resized to it). See the module's docstring.

    `encoder` (else `codec`, an `encoders.CODECS` name, default auto) says how; `time_base` is the
    unit of the `pts` given to `write` (default 1/fps, one per frame); `audio_from` a file whose
    sound is copied in. Odd sizes are padded by one pixel (yuv420p needs even sides). A sink that
    got no frame leaves no file. Every failure is an OutputError naming the file and the reason.
    `clock` gives a recording's timestamps in seconds (default: the monotonic wall clock)."""

    def __init__(self, path: str | os.PathLike, fps: float, size: tuple[int, int], *,
                 codec: str | None = None, encoder: Encoder | None = None, live: bool = False,
                 time_base: Fraction | None = None, audio_from: Path | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.path = Path(path)
        self.size = (int(size[0]), int(size[1]))
        self.fps = fps if 0 < fps <= 1000 else 25.0
        self.live = live
        self._clock = clock  # a recording's timestamps (seconds); the benchmark passes a steady one
        self.encoder = encoder or choose(codec, self.size, record=live)
        warn_once(self.encoder.warning)
        self.frames = 0
        self.notes: list[str] = []  # what the user should know (audio left out), one line each
        rate = Fraction(self.fps).limit_denominator(1001)
        self.time_base = Fraction(1, 1000) if live else Fraction(time_base or 1 / rate)
        self._last_pts: int | None = None
        self._key_at: float | None = None
        self._started: float | None = None
        self._container = self._file = self._audio = self._cv = None
        self._created = not live  # a recording's file is made by it (never an earlier one): only then deleted
        if not live:  # what a killed run left beside this output (its lock died with it)
            remove_stale(self.path, ".part" + self.encoder.suffix)
        self._target = self.path if live else temp_beside(self.path, ".part" + self.encoder.suffix)
        try:
            if self.encoder.name == OPENCV:
                self._cv = OpenCVWriter(self._target, self.fps, self.size)
                self._created = True
            else:
                self._open(rate, audio_from)
        except OutputError:
            self._discard()
            raise
        except (OSError, ValueError, AVError) as exc:
            self._discard()
            raise self._error(exc, "cannot start") from None

    def _open(self, rate: Fraction, audio_from: Path | None) -> None:
        try:  # a Python file: PyAV passes its write errors (disk full) on; its own writer does not
            self._file = MuxerFile(self._target, self.live)
            self._created = True
        except FileExistsError:
            raise OutputExists(f"{self.path}: exists; a recording never overwrites a file") from None
        except OSError as exc:
            raise cannot_write(self.path, exc) from None
        enc = self.encoder
        options = dict(FRAGMENTED) if self.live else ({"movflags": "+faststart"} if enc.format == "mp4" else {})
        self._container = av.open(self._file, "w", format=enc.format, options=options)
        stream = self._container.add_stream(enc.name, rate=rate,
                                            options=enc.options_for(self.size, self.live))
        stream.width, stream.height = even(self.size)
        stream.pix_fmt = enc.pix_fmt
        stream.time_base = stream.codec_context.time_base = self.time_base
        stream.codec_context.gop_size = max(1, round(self.fps * KEYFRAME_EVERY))
        if enc.name in ("mpeg4", "h264_v4l2m2m"):  # no quality-based mode: bits for a clean picture
            stream.codec_context.bit_rate = int(0.1 * stream.width * stream.height * self.fps)
        self._stream = stream
        if audio_from is not None:
            from .audio import AudioCopy  # only batch outputs copy sound
            self._audio = AudioCopy(audio_from, self._container, enc.format)
            kind = {"webm": "WebM"}.get(enc.format, enc.format.upper())
            if self._audio.reencoded:
                self.notes.append(f"audio re-encoded ({', '.join(self._audio.reencoded)}): {kind} players do not "
                                  "take it as it is")
            if self._audio.skipped:
                self.notes.append(f"audio ({', '.join(self._audio.skipped)}) left out: it cannot be decoded here")
        self._container.start_encoding()

    def write(self, frame: np.ndarray, pts: int | None = None) -> None:
        """Encode `frame`; `pts` in `time_base` (a recording without one is stamped by its clock now)."""
        if (frame.shape[1], frame.shape[0]) != self.size:
            frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
        if self._cv is not None:
            self._cv.write(to_bgr8(frame))
            self.frames += 1
            return
        if self.live and pts is None:
            now = self._clock()
            self._started = self._started if self._started is not None else now
            pts = round((now - self._started) / self.time_base)
        elif pts is None:
            pts = self.frames
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1  # timestamps must grow; two frames in one tick get one apart
        picture = _pictured(frame, self.encoder.alpha)
        vframe = av.VideoFrame.from_ndarray(picture, format="bgra" if picture.shape[2] == 4 else "bgr24")
        vframe.pts, vframe.time_base = pts, self.time_base
        seconds = float(pts * self.time_base)
        if self._key_at is None or seconds - self._key_at >= KEYFRAME_EVERY - 1e-6:
            vframe.pict_type = av.video.frame.PictureType.I  # a keyframe (and a fragment) every second
            self._key_at = seconds
        try:
            if self._audio is not None:
                self._audio.upto(seconds)
            for packet in self._stream.encode(vframe):
                self._container.mux(packet)
        except (OSError, ValueError, AVError) as exc:
            raise self._error(exc) from None
        self.frames += 1
        self._last_pts = pts

    @property
    def bytes_written(self) -> int | None:
        """Bytes in the file so far (the temporary one until it is renamed), None once gone."""
        for path in (self._target, self.path):
            try:
                return path.stat().st_size
            except OSError:
                continue
        return None

    def close(self) -> None:
        """Finish the file: flush the encoder, close the muxer, rename into place. OutputError on failure."""
        if self._container is None and self._cv is None:
            return
        if self.frames == 0:
            return self._discard()
        try:
            if self._cv is not None:
                self._cv.close()
                self._cv = None
            else:
                for packet in self._stream.encode(None):
                    self._container.mux(packet)
                if self._audio is not None:
                    self._audio.rest()
                self._container.close()
                self._container = None
                self._file.close()  # the last buffered bytes: a full disk can show only here
                self._file = None
            if not self.live:
                os.replace(self._target, self.path)
                release(self._target)
        except OutputError:
            self._discard()
            raise
        except (OSError, ValueError, AVError) as exc:
            self._discard()
            raise self._error(exc) from None

    def abort(self) -> None:
        """Discard a batch output; a recording keeps what it has (finished as well as it can be)."""
        if self.live and self.frames:
            try:
                self.close()
            except OutputError:
                pass
            return
        self._discard()

    def _discard(self) -> None:
        if self._file is not None and not (self.live and self.frames):
            self._file.mute()  # the file goes: closing the muxer need not write (nor fail) again
        for thing in (self._audio, self._container, self._file, self._cv):
            try:
                if thing is not None:
                    thing.close()
            except (OSError, ValueError, AVError, OutputError):  # a broken muxer or a full file fails again
                pass
        self._audio = self._container = self._file = self._cv = None
        if self._created and (not self.live or self.frames == 0):
            self._target.unlink(missing_ok=True)
        release(self._target)

    def _error(self, exc: BaseException, doing: str = "cannot write") -> OutputError:
        if isinstance(exc, OSError) and exc.errno is not None:
            return OutputError(f"{self.path}: {doing} ({exc.strerror or exc})")
        return OutputError(f"{self.path}: {doing}: encoder {self.encoder.name} failed ({_short(exc)})")


def _pictured(frame: np.ndarray, alpha: bool) -> np.ndarray:
    """A frame as the encoder takes it: 8-bit BGR (BGRA for alpha), sides padded to even."""
    if frame.dtype != np.uint8 or frame.ndim == 2 or frame.shape[2] == 1 or (frame.shape[2] == 4 and not alpha):
        frame = to_bgr8(frame)
    if alpha and frame.shape[2] == 3:
        frame = cv2.cvtColor(frame, cv2.COLOR_BGR2BGRA)
    height, width = frame.shape[:2]
    if width % 2 or height % 2:  # repeat the last column/row: nothing of the picture is lost
        frame = cv2.copyMakeBorder(frame, 0, height % 2, 0, width % 2, cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(frame)
