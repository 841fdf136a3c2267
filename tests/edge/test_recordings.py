"""A recording never overwrites a file: a rerun, a restart, two cameras given one path, `{time}` names,
the name taken in the log, /stats and the summary, and a `.webm` name refused before anything opens."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from pibokeh.camera.recording import Recording, candidates, check_record_path
from pibokeh.errors import InputError

from tests.conftest import TINY
from tests.edge.camera_process import Camera, frames_of
from tests.helpers import error_line, sha

EARLIER = b"footage of what happened before the crash"


def record(clip: Path, target: str, *extra: str) -> Camera:
    return Camera("--source", f"video:{clip}", "--model", TINY, "--threads", "1", "--record", target,
                  "--max-frames", "8", *extra)


def test_a_rerun_and_a_restart_never_overwrite_an_earlier_recording(tmp_path, clip):
    earlier = tmp_path / "rec.mp4"
    earlier.write_bytes(EARLIER)
    before = sha(earlier)
    taken = []
    for _ in range(2):  # what `systemctl restart` (or Restart=on-failure) does: the same command again
        camera = record(clip, str(earlier))
        assert camera.finish() == 0, camera.stderr
        line = next(l for l in camera.lines if l.startswith("pibokeh: recording to "))
        taken.append(Path(line.removeprefix("pibokeh: recording to ")))
        assert f"recorded {taken[-1]}" in camera.lines[-1]  # the summary names the file really written
    assert sha(earlier) == before
    assert [p.name for p in taken] == ["rec-1.mp4", "rec-2.mp4"]
    for path in taken:
        assert len(frames_of(path)) == 8


def test_two_cameras_given_one_path_write_two_files(tmp_path, clip):
    target = tmp_path / "rec.mp4"
    # both start together and play the 45-frame clip three times (~4.5 s): long enough to ask /stats
    cameras = [Camera("--source", f"video:{clip}", "--loop", "--model", TINY, "--threads", "1", "--record", target,
                      "--max-frames", "135", "--serve", "127.0.0.1:0") for _ in range(2)]
    for camera in cameras:
        camera.wait_served()
    paths = sorted(Path(camera.stats()["recording"]["path"]).name for camera in cameras)  # the file taken
    assert paths == ["rec-1.mp4", "rec.mp4"]
    for camera in cameras:
        assert camera.finish() == 0, camera.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec-1.mp4", "rec.mp4"]
    for path in tmp_path.iterdir():
        assert len(frames_of(path)) == 135  # both whole: neither truncated the other's


def test_time_patterns_and_numbering(tmp_path):
    start = time.mktime((2026, 12, 6, 14, 25, 1, 0, 0, -1))
    names = candidates(tmp_path / "cam-{time}.mp4", start)
    assert [next(names).name for _ in range(3)] == ["cam-20261206-142501.mp4", "cam-20261206-142501-1.mp4",
                                                    "cam-20261206-142501-2.mp4"]
    dangling = tmp_path / "rec.mp4"
    dangling.symlink_to(tmp_path / "elsewhere.mp4")  # a link is never written through
    recording = Recording(dangling, 25, (64, 48), skips=False)
    recording.write(np.zeros((48, 64, 3), np.uint8))
    recording.close()
    assert recording.path.name == "rec-1.mp4" and not (tmp_path / "elsewhere.mp4").exists()
    assert recording.status(False)["path"] == str(recording.path)


@pytest.mark.parametrize("name", ["x.webm", "x.mkv", "recording"])
def test_a_name_that_is_not_mp4_is_refused_before_the_camera_opens(tmp_path, clip, name):
    with pytest.raises(InputError, match="ending in .mp4"):
        check_record_path(name)
    camera = record(clip, str(tmp_path / name))
    assert camera.finish() == 2
    assert "give it a name ending in .mp4" in error_line(camera.stderr)
    assert list(tmp_path.iterdir()) == []
    config = tmp_path / "cam.toml"
    config.write_text(f'record = "{name}"\n')
    camera = Camera("--source", f"video:{clip}", "--model", TINY, "--config", config)
    assert camera.finish() == 2 and "ending in .mp4" in error_line(camera.stderr)


def test_the_example_service_config_records_under_a_time_stamped_name():
    config = (Path(__file__).resolve().parents[2] / "scripts" / "systemd" / "pibokeh.toml").read_text()
    assert '# record = "/var/lib/pibokeh/recording-{time}.mp4"' in config
