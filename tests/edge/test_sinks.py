"""Outputs are atomic and look like any other new file once finished."""
import os
import stat

import numpy as np
import pytest
from pibokeh.errors import OutputError
from pibokeh.files import atomic_path
from pibokeh.media.images import write_image
from pibokeh.media.video import VideoFileSink


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_finished_outputs_get_the_usual_permissions_not_the_temp_files_private_ones(tmp_path):
    image = np.full((20, 30, 3), 90, np.uint8)
    write_image(tmp_path / "photo.jpg", image)
    sink = VideoFileSink(tmp_path / "clip.mp4", 10, (30, 20))
    for _ in range(3):
        sink.write(image)
    sink.close()
    for name in ("photo.jpg", "clip.mp4"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "photo.jpg"]  # no temp file left


def test_a_failed_write_keeps_the_earlier_file_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "out.png"
    target.write_bytes(b"earlier")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("interrupted")
    assert target.read_bytes() == b"earlier" and list(tmp_path.iterdir()) == [target]


def test_an_unwritable_folder_is_one_clear_error(tmp_path):
    with pytest.raises(OutputError, match="cannot write here"):
        write_image(tmp_path / "missing" / "x.png", np.zeros((4, 4), np.uint8))
