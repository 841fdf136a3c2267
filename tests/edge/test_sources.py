"""Reading inputs: formats, EXIF orientation, folders, and what counts as unreadable."""
from __future__ import annotations

import struct

import cv2
import numpy as np
import pytest
from pibokeh.errors import InputError
from pibokeh.media.images import read_image, to_bgr8
from pibokeh.media.inputs import expand_inputs
from pibokeh.media.video import VideoFileSource


def jpeg_with_orientation(image: np.ndarray, orientation: int) -> bytes:
    """A JPEG with a minimal EXIF APP1 segment holding only the Orientation tag."""
    jpeg = cv2.imencode(".jpg", image)[1].tobytes()
    ifd = struct.pack("<H", 1) + struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack("<I", 0)
    payload = b"Exif\x00\x00" + b"II*\x00" + struct.pack("<I", 8) + ifd
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def test_phone_jpegs_are_read_upright(tmp_path):
    image = np.zeros((40, 80, 3), np.uint8)
    image[:, :40] = 255  # white left half
    path = tmp_path / "phone.jpg"
    path.write_bytes(jpeg_with_orientation(image, 6))  # 6 = rotate 90 degrees clockwise to view
    upright = read_image(path)
    assert upright.shape == (80, 40, 3)
    assert upright[:40].mean() > 200 and upright[40:].mean() < 50  # the left half is now on top


def test_formats_are_kept_and_converted_for_the_model(tmp_path):
    rgba = np.zeros((10, 12, 4), np.uint8)
    rgba[..., 2], rgba[..., 3] = 255, 100
    cv2.imwrite(str(tmp_path / "a.png"), rgba)
    cv2.imwrite(str(tmp_path / "d.png"), np.full((10, 12), 40000, np.uint16))
    a, d = read_image(tmp_path / "a.png"), read_image(tmp_path / "d.png")
    assert a.shape == (10, 12, 4) and d.dtype == np.uint16 and d.ndim == 2
    assert to_bgr8(a).shape == (10, 12, 3) and np.all(to_bgr8(a)[..., 2] == 255)
    assert to_bgr8(d).dtype == np.uint8 and np.all(to_bgr8(d) == 40000 >> 8)


@pytest.mark.parametrize("content,message", [(b"", "empty file"), (b"GIF89a" + b"\0" * 20, "not a readable image")])
def test_unreadable_images(tmp_path, content, message):
    path = tmp_path / "x.jpg"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        read_image(path)
    with pytest.raises(InputError, match="cannot read"):
        read_image(tmp_path / "missing.jpg")


def test_folders_are_expanded_recursively_to_images_only(tmp_path):
    (tmp_path / "in" / "deep").mkdir(parents=True)
    for name in ("in/a.jpg", "in/deep/a.jpg", "in/b.PNG", "in/clip.mp4", "in/notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "in" / "out").mkdir()
    (tmp_path / "in" / "out" / "old.jpg").write_bytes(b"x")
    pairs, problems = expand_inputs([tmp_path / "in", tmp_path / "in" / "a.jpg", tmp_path / "nope"],
                                    exclude=tmp_path / "in" / "out")
    assert sorted(str(name) for _, name in pairs) == ["a.jpg", "b.PNG", "deep/a.jpg"]
    assert [(p.name, why) for p, why in problems] == [("nope", "no such file or folder")]


def test_video_source_reads_size_rate_and_frames(tmp_path):
    path = tmp_path / "v.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 15, (64, 48))
    for i in range(7):
        writer.write(np.full((48, 64, 3), i * 30, np.uint8))
    writer.release()
    with VideoFileSource(path) as source:
        assert source.size == (64, 48) and abs(source.fps - 15) < 0.1 and source.frame_count == 7
        frames = list(source)
    assert len(frames) == 7 and frames[3].shape == (48, 64, 3)
    (tmp_path / "bad.mp4").write_bytes(b"\0" * 100)
    with pytest.raises(InputError, match="not a readable video"):
        VideoFileSource(tmp_path / "bad.mp4")
