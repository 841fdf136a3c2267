"""Video files through PyAV, read back by PyAV: H.264 that keeps the input's timing and sound, odd
sizes, transparent VP9, recordings that survive a cut, honest errors, and the encoder choice."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pibokeh.media import encoders
from pibokeh.errors import InputError, OutputError
from pibokeh.media.video import VideoFileSink, VideoFileSource

from tests.edge.video_clips import alpha_frames, av_clip, probe
from tests.helpers import scene


def copy_through(source_path: Path, target: Path, **sink_options) -> VideoFileSink:
    """Every frame of `source_path` into `target` with its timestamps, as `pibokeh blur` does."""
    with VideoFileSource(source_path) as source:
        with VideoFileSink(target, source.fps, source.size, time_base=source.time_base, **sink_options) as sink:
            for frame in source:
                sink.write(frame, pts=source.pts)
    return sink


def test_source_reads_size_rate_count_and_timestamps(tone_clip):
    with VideoFileSource(tone_clip) as source:
        assert source.size == (320, 240) and source.fps == 30 and source.frame_count == 45
        assert source.audio == ["aac"]
        times = []
        for _ in source:
            times.append(source.time)
        source.rewind()
        assert source.read() is not None and source.time == 0.0
    assert times == pytest.approx([t / 30 for t in range(45)])


def test_h264_with_the_inputs_sound_copied_packet_for_packet(tone_clip, tmp_path):
    sink = copy_through(tone_clip, tmp_path / "out.mp4", audio_from=tone_clip)
    assert sink.encoder.name == "libx264" and sink.notes == []
    before, after = probe(tone_clip), probe(tmp_path / "out.mp4")
    assert (after.codec, after.pix_fmt, after.size) == ("h264", "yuv420p", (320, 240))
    assert after.times == pytest.approx(before.times) and after.duration == pytest.approx(before.duration)
    assert after.audio == before.audio == [("aac", pytest.approx(1.5, abs=0.03))]
    assert after.audio_packets == before.audio_packets  # remuxed, not re-encoded
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]  # the temporary file was renamed


def test_variable_frame_rate_keeps_every_timestamp(tmp_path):
    vfr = av_clip(tmp_path / "vfr.mp4", frames=30, durations=[10, 20, 5], audio=False)
    copy_through(vfr, tmp_path / "out.mp4")
    before, after = probe(vfr), probe(tmp_path / "out.mp4")
    assert len(after.times) == 30 and after.times == pytest.approx(before.times)
    assert after.duration == pytest.approx(before.duration, abs=1 / 30)


def test_odd_sizes_are_padded_to_even_not_refused(tmp_path):
    sink = VideoFileSink(tmp_path / "odd.mp4", 25, (161, 99))
    for t in range(5):
        sink.write(scene((161, 99), t)[0])
    sink.close()
    result = probe(tmp_path / "odd.mp4")
    assert result.size == (162, 100) and len(result.times) == 5 and result.pix_fmt == "yuv420p"


def test_transparent_video_keeps_its_alpha(tmp_path):
    sink = VideoFileSink(tmp_path / "alpha.webm", 30, (160, 120), encoder=encoders.choose(alpha=True))
    for t in range(6):
        picture, mask = scene((160, 120), t)
        sink.write(np.dstack([picture, mask]))
    sink.close()
    assert probe(tmp_path / "alpha.webm").format == "matroska,webm"
    frames = alpha_frames(tmp_path / "alpha.webm")
    assert len(frames) == 6
    alpha, mask = frames[-1][..., 3], scene((160, 120), 5)[1]
    assert np.abs(alpha.astype(int) - mask).mean() < 8  # transparent where the mask is 0, opaque where 255


def test_a_recording_is_fragmented_under_its_final_name_with_a_keyframe_a_second(tmp_path):
    clock = iter(np.arange(0, 10, 1 / 10))  # 10 frames a second, whatever this machine's speed
    path = tmp_path / "rec.mp4"
    sink = VideoFileSink(path, 30, (160, 120), live=True, clock=lambda: float(next(clock)))
    for t in range(35):
        sink.write(scene((160, 120), t)[0])
        assert path.exists()  # there from the first frame, under its name
    data = path.read_bytes()
    assert data.count(b"moof") >= 2  # fragments already on disk while it grows
    sink.close()
    assert [p.name for p in tmp_path.iterdir()] == ["rec.mp4"]
    result = probe(path)
    # the wall clock's 10 fps, not the declared 30: the recording plays at the speed it was made
    assert len(result.times) == 35 and result.times[-1] == pytest.approx(3.4, abs=0.01)
    import av
    with av.open(str(path)) as container:
        keys = [float(p.pts * p.time_base) for p in container.demux(video=0) if p.is_keyframe]
    assert keys == pytest.approx([0.0, 1.0, 2.0, 3.0])


def test_a_killed_recording_plays_up_to_its_last_fragment(tmp_path):
    # A child process records and dies by SIGKILL mid-fragment: no close, no trailer.
    path = tmp_path / "cut.mp4"
    code = f"""
import os, signal, numpy as np
from pibokeh.media.video import VideoFileSink
ticks = iter(np.arange(0, 100, 1 / 30))
sink = VideoFileSink({str(path)!r}, 30, (160, 120), live=True, clock=lambda: float(next(ticks)))
for t in range(75):
    sink.write(np.full((120, 160, 3), (t * 3) % 255, np.uint8))
os.kill(os.getpid(), signal.SIGKILL)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    import av
    times = []
    with av.open(str(path)) as container:
        try:
            for frame in container.decode(video=0):
                times.append(frame.time)
        except av.FFmpegError:
            pass  # the torn last fragment
    assert len(times) >= 60 and times[-1] >= 1.9  # the two complete seconds (fragments) of 2.5 recorded


def test_no_frame_no_file_and_abort_leaves_nothing(tmp_path):
    VideoFileSink(tmp_path / "empty.mp4", 25, (64, 48)).close()
    VideoFileSink(tmp_path / "rec.mp4", 25, (64, 48), live=True).close()
    sink = VideoFileSink(tmp_path / "half.mp4", 25, (64, 48))
    sink.write(np.zeros((48, 64, 3), np.uint8))
    sink.abort()
    assert list(tmp_path.iterdir()) == []


def test_finished_video_gets_the_usual_permissions(tmp_path):
    sink = VideoFileSink(tmp_path / "clip.mp4", 10, (30, 20))
    sink.write(np.zeros((20, 30, 3), np.uint8))
    sink.close()
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE((tmp_path / "clip.mp4").stat().st_mode) == 0o666 & ~mask


def test_damaged_or_foreign_files_are_one_clear_input_error(tmp_path):
    (tmp_path / "bad.mp4").write_bytes(b"\0" * 100)
    (tmp_path / "tune.m4a").write_bytes(b"")
    with pytest.raises(InputError, match="not a readable video"):
        VideoFileSource(tmp_path / "bad.mp4")
    with pytest.raises(InputError, match="empty file"):
        VideoFileSource(tmp_path / "tune.m4a")
    sound_only = tmp_path / "sound.mp4"
    import av
    with av.open(str(sound_only), "w") as out:
        stream = out.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 8000
        for packet in [*stream.encode(frame), *stream.encode()]:
            out.mux(packet)
    with pytest.raises(InputError, match="no video stream"):
        VideoFileSource(sound_only)


def test_encoder_choice():
    auto = encoders.choose()
    assert auto.name == "libx264" and auto.options["preset"] == encoders.X264_PRESET and auto.browsers
    assert encoders.why_not("h264_v4l2m2m").startswith("does not open here")  # no Pi 4 encoder on a PC
    with pytest.raises(InputError, match="--codec h264_v4l2m2m: does not open here"):
        encoders.choose("h264_v4l2m2m")
    with pytest.raises(InputError, match="cannot carry a transparent background"):
        encoders.choose("libx264", alpha=True)
    with pytest.raises(InputError, match="unknown"):
        encoders.choose("libvpx-vp9", record=True)  # a recording is MP4
    assert encoders.choose(alpha=True).suffix == ".webm" and encoders.choose("mpeg4").browsers is False


def test_x264_settings_follow_the_frame_size_and_the_kind_of_output():
    x264 = encoders.encoder_for("libx264")
    assert x264.options_for((1280, 720)) == {"preset": encoders.X264_PRESET}  # files up to 720p: as they were
    assert x264.options_for((1920, 1080)) == {"preset": encoders.X264_PRESET, "bf": "0"}  # no B-frames above
    small, large = x264.options_for((1280, 720), live=True), x264.options_for((1920, 1080), live=True)
    assert small == {"preset": "superfast", "tune": "zerolatency", "threads": "2"}
    assert large == {"preset": "ultrafast", "tune": "zerolatency", "threads": "2"}
    assert encoders.encoder_for("h264_v4l2m2m").options_for((1920, 1080), live=True) == {}


def _frame_types(path) -> set[str]:
    import av
    with av.open(str(path)) as container:
        return {av.video.frame.PictureType(frame.pict_type).name for frame in container.decode(container.streams.video[0])}


@pytest.mark.parametrize("size, b_frames", [((640, 360), True), ((1920, 1080), False)])
def test_a_file_above_720p_is_written_without_b_frames(tmp_path, size, b_frames):
    """What the options say is what the file holds (x264 keeps three more frames for B-frames:
    ~60 MB at 1080p)."""
    with VideoFileSink(tmp_path / "out.mp4", 30, size) as sink:
        for t in range(24):
            sink.write(scene(size, 4 * t)[0])
    assert ("B" in _frame_types(tmp_path / "out.mp4")) is b_frames


def test_an_unwritable_folder_is_one_clear_error(tmp_path):
    with pytest.raises(OutputError, match="cannot write here"):
        VideoFileSink(tmp_path / "missing" / "x.mp4", 25, (64, 48))
    with pytest.raises(OutputError, match="cannot write here"):
        VideoFileSink(tmp_path / "missing" / "x.mp4", 25, (64, 48), live=True)
