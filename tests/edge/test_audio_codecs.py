"""Every sound a video brings comes out: codecs MP4 players take are copied packet for packet (MP3 and MP2
among them: their decoders are named mp3float and mp2float), the rest re-encoded (PCM, A-law, ADPCM from
MOV into MP4: AAC; anything but Opus and Vorbis into a transparent WebM: Opus), in sync, still the tone."""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from tests.conftest import TINY
from tests.edge.video_clips import TONE_HZ, av_clip


def audio_of(path: Path) -> tuple[str, list[bytes], np.ndarray, int, float, float]:
    """(codec, packets, samples of the first channel, sample rate, first time, end time) of the first audio stream."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        codec = stream.codec_context.codec.canonical_name
        packets = [p for p in container.demux(stream) if p.size]
        first = float(packets[0].pts * stream.time_base)
        end = float((packets[-1].pts + packets[-1].duration) * stream.time_base)
        data = [bytes(p) for p in packets]
        rate = stream.codec_context.sample_rate
    with av.open(str(path)) as container:
        samples = np.concatenate([f.to_ndarray()[0].astype(np.float64) for f in container.decode(audio=0)])
    return codec, data, samples, rate, first, end


def pitch(samples: np.ndarray, rate: int) -> float:
    """The strongest frequency of the middle second of a signal."""
    middle = samples[len(samples) // 4: len(samples) // 4 + rate // 2]
    spectrum = np.abs(np.fft.rfft(middle * np.hanning(len(middle))))
    return float(np.fft.rfftfreq(len(middle), 1 / rate)[spectrum.argmax()])


@pytest.mark.parametrize("codec, suffix, rate", [("mp3", ".mov", 44100), ("mp2", ".mkv", 44100),
                                                 ("ac3", ".mkv", 48000), ("flac", ".mkv", 44100),
                                                 ("libopus", ".mkv", 48000), ("aac", ".mov", 44100)])
def test_codecs_mp4_holds_are_copied_packet_for_packet(tmp_path, pibokeh, codec, suffix, rate):
    clip = av_clip(tmp_path / f"in{suffix}", frames=45, size=(160, 96), audio_codec=codec, sample_rate=rate)
    proc = pibokeh("blur", clip, "-o", tmp_path / "out", "--model", TINY, check=True)
    assert "audio" not in proc.stderr  # nothing left out, nothing re-encoded
    before, after = audio_of(clip), audio_of(tmp_path / "out" / "in.mp4")
    assert before[0] == codec.removeprefix("lib")
    # MP4 has one object type for MPEG-1 audio (0x6B): FFmpeg reads MP2 back from it as "mp3", and plays it
    assert after[0] == ("mp3" if codec == "mp2" else before[0])
    assert after[1] == before[1]  # the same packets, bit for bit
    assert pitch(after[2], after[3]) == pytest.approx(TONE_HZ, abs=5)
    assert after[4] == pytest.approx(before[4], abs=1e-3) and after[5] == pytest.approx(before[5], abs=1e-3)


@pytest.mark.parametrize("codec, rate", [("pcm_s16le", 44100), ("pcm_mulaw", 8000), ("adpcm_ima_qt", 44100)])
def test_what_mp4_players_do_not_take_is_re_encoded_to_aac_in_sync(tmp_path, pibokeh, codec, rate):
    clip = av_clip(tmp_path / "in.mov", frames=45, size=(160, 96), audio_codec=codec, sample_rate=rate)
    proc = pibokeh("blur", clip, "-o", tmp_path / "out", "--model", TINY, check=True)
    assert f"audio re-encoded ({codec} -> aac 64 kbit/s): MP4 players do not take it as it is" in proc.stderr
    before, after = audio_of(clip), audio_of(tmp_path / "out" / "in.mp4")
    assert before[0] == codec and after[0] == "aac" and after[3] == rate
    assert after[5] == pytest.approx(before[5], abs=0.03)  # ends with the input's sound: in sync
    assert pitch(after[2], after[3]) == pytest.approx(TONE_HZ, abs=5)  # and it is still the tone


@pytest.mark.parametrize("codec", ["aac", "mp3"])
def test_a_transparent_webm_gets_the_sound_as_opus(tmp_path, pibokeh, codec):
    clip = av_clip(tmp_path / "in.mp4", frames=45, size=(160, 96), audio_codec=codec)
    proc = pibokeh("blur", clip, "-o", tmp_path / "out", "--model", TINY, "--background", "transparent", check=True)
    assert f"audio re-encoded ({codec} -> opus 48 kbit/s): WebM players do not take it as it is" in proc.stderr
    before, after = audio_of(clip), audio_of(tmp_path / "out" / "in.webm")
    assert after[0] == "opus" and after[5] == pytest.approx(before[5], abs=0.03)
    assert pitch(after[2], after[3]) == pytest.approx(TONE_HZ, abs=5)
