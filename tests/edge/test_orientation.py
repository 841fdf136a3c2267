"""Pictures stored sideways come out the way viewers show them: videos with a display matrix (every
quarter turn, mirrored too, as phones write portrait video) through `blur`, `mask`, `--frames-as-png`
and `camera --source video:`; PNG and WebP photos with an EXIF orientation (every one of the eight).
Expected pictures are made with NumPy's own rot90/flip, never with the code under test."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from pibokeh.media.images import read_image

from tests.conftest import TINY
from tests.edge.camera_process import Camera
from tests.edge.video_clips import av_clip
from tests.helpers import iou, red_square, scene

SIZE = (160, 96)  # stored landscape frames (width, height), as a phone's sensor gives them


def shown(picture: np.ndarray, degrees: int, mirror: bool = False) -> np.ndarray:
    """`picture` as a player shows it: turned `degrees` counter-clockwise, then mirrored left-right."""
    turned = np.rot90(picture, k=(degrees // 90) % 4)
    return turned[:, ::-1] if mirror else turned


def frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        result = []
        for frame in container.decode(video=0):
            assert frame.rotation == 0  # written upright: no display matrix left for a player to apply
            result.append(frame.to_ndarray(format="bgr24"))
        return result


def red(picture: np.ndarray) -> np.ndarray:
    return (picture[..., 2] > 150) & (picture[..., 0] < 100)


# ---- videos ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("degrees, mirror", [(-90, False), (90, False), (180, False), (90, True)])
def test_a_rotated_video_is_segmented_and_written_upright(tmp_path, pibokeh, degrees, mirror):
    clip = tmp_path / "phone.mp4"
    av_clip(clip, frames=12, size=SIZE, audio=False, rotation=degrees)
    if mirror:  # a display matrix with a mirror: rewrite the clip's matrix with PyAV's flip
        mirrored = tmp_path / "mirrored.mp4"
        with av.open(str(clip)) as src, av.open(str(mirrored), "w") as out:
            video = out.add_stream("libx264", rate=30)
            video.width, video.height, video.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
            video.set_display_rotation(degrees, hflip=True)
            for frame in src.decode(video=0):
                picture = av.VideoFrame.from_ndarray(frame.to_ndarray(format="bgr24"), format="bgr24")
                picture.pts = frame.pts
                for packet in video.encode(picture):
                    out.mux(packet)
            for packet in video.encode():
                out.mux(packet)
        clip = mirrored
    pibokeh("mask", clip, "-o", tmp_path / "masks", "--model", TINY, check=True)
    pibokeh("blur", clip, "-o", tmp_path / "blurred", "--model", TINY, check=True)
    pibokeh("mask", clip, "-o", tmp_path / "png", "--model", TINY, "--frames-as-png", check=True)
    masks, blurred = frames(tmp_path / "masks" / clip.name), frames(tmp_path / "blurred" / clip.name)
    pngs = sorted((tmp_path / "png" / clip.stem).iterdir())
    assert len(masks) == len(blurred) == len(pngs) == 12
    for t in (0, 6, 11):
        expected = shown(scene(SIZE, t)[1], degrees, mirror) > 0  # the block where a player shows it
        assert masks[t].shape[:2] == expected.shape
        assert iou(masks[t][..., 0] > 127, expected) > 0.8, t
        assert iou(red(blurred[t]), expected) > 0.8, t
        assert iou(cv2.imread(str(pngs[t]), cv2.IMREAD_GRAYSCALE) > 127, expected) > 0.8, t


def test_camera_plays_and_records_a_portrait_phone_video_upright(tmp_path):
    clip = tmp_path / "portrait.mp4"
    av_clip(clip, frames=20, size=SIZE, audio=False, rotation=-90)  # what a phone writes for portrait
    camera = Camera("--source", f"video:{clip}", "--model", TINY, "--record", tmp_path / "rec.mp4", "--threads", "1")
    assert camera.finish() == 0, camera.stderr
    assert f"{SIZE[1]}x{SIZE[0]}" in camera.stderr  # the source is reported upright: 96x160
    recorded = frames(tmp_path / "rec.mp4")
    assert recorded and recorded[0].shape[:2] == (SIZE[0], SIZE[1])
    expected = shown(scene(SIZE, 0)[1], -90) > 0
    assert iou(red(recorded[0]), expected) > 0.8


# ---- photos: PNG eXIf and WebP EXIF ----------------------------------------------------------------

def exif(orientation: int, big_endian: bool = True) -> bytes:
    """A minimal EXIF block (a TIFF structure) holding one Orientation tag."""
    order = ">" if big_endian else "<"
    return ((b"MM\x00*" if big_endian else b"II*\x00") + struct.pack(order + "I", 8) + struct.pack(order + "H", 1)
            + struct.pack(order + "HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(order + "I", 0))


def png_with_exif(picture: np.ndarray, orientation: int, big_endian: bool = True) -> bytes:
    png = cv2.imencode(".png", picture)[1].tobytes()
    body = exif(orientation, big_endian)
    chunk = struct.pack(">I", len(body)) + b"eXIf" + body + struct.pack(">I", zlib.crc32(b"eXIf" + body))
    return png[:33] + chunk + png[33:]  # after the signature and IHDR, before the image data


def webp_with_exif(picture: np.ndarray, orientation: int) -> bytes:
    """An extended WebP (VP8X) with an EXIF chunk, around the simple WebP OpenCV writes."""
    simple = cv2.imencode(".webp", picture, [cv2.IMWRITE_WEBP_QUALITY, 101])[1].tobytes()  # 101: lossless
    image_chunk = simple[12:]
    height, width = picture.shape[:2]
    alpha = 0x10 if picture.ndim == 3 and picture.shape[2] == 4 else 0
    vp8x = b"VP8X" + struct.pack("<I", 10) + bytes([0x08 | alpha, 0, 0, 0]) \
        + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    body = exif(orientation, big_endian=False)
    exif_chunk = b"EXIF" + struct.pack("<I", len(body)) + body + b"\x00" * (len(body) % 2)
    payload = b"WEBP" + vp8x + image_chunk + exif_chunk
    return b"RIFF" + struct.pack("<I", len(payload)) + payload


# EXIF orientation -> (degrees turned counter-clockwise, then mirrored left-right), from the EXIF
# specification: 6 "the 0th row is the visual right-hand side" = turn 90 degrees clockwise; 5 is the
# transpose (a clockwise turn, mirrored), 7 the transverse (a counter-clockwise turn, mirrored).
EXIF_SHOWN = {1: (0, False), 2: (0, True), 3: (180, False), 4: (180, True), 5: (-90, True), 6: (-90, False),
              7: (90, True), 8: (90, False)}


@pytest.mark.parametrize("orientation", range(1, 9))
def test_png_and_webp_photos_come_out_as_viewers_show_them(tmp_path, orientation):
    picture = np.zeros((40, 64, 3), np.uint8)
    picture[:10, :20] = (0, 0, 255)  # red in the stored top-left corner
    picture[30:, 50:] = (255, 0, 0)  # blue in the stored bottom-right corner
    degrees, mirror = EXIF_SHOWN[orientation]
    expected = shown(picture, degrees, mirror)
    for name, data in (("photo.png", png_with_exif(picture, orientation)),
                       ("little.png", png_with_exif(picture, orientation, big_endian=False)),
                       ("photo.webp", webp_with_exif(picture, orientation))):
        path = tmp_path / name
        path.write_bytes(data)
        assert np.array_equal(read_image(path), expected), name


def test_an_rgba_png_keeps_its_alpha_when_turned(tmp_path):
    picture = np.zeros((30, 50, 4), np.uint8)
    picture[..., 3] = 255
    picture[:5, :5] = (0, 0, 255, 40)
    (tmp_path / "rgba.png").write_bytes(png_with_exif(picture, 6))
    image = read_image(tmp_path / "rgba.png")
    assert image.shape == (50, 30, 4) and np.array_equal(image, shown(picture, -90))


def test_blur_of_a_sideways_png_is_upright_and_its_mask_fits(tmp_path, pibokeh):
    stored, mask = red_square((90, 120))
    (tmp_path / "side.png").write_bytes(png_with_exif(stored, 8))  # shown turned 90 degrees counter-clockwise
    pibokeh("mask", tmp_path / "side.png", "-o", tmp_path / "out", "--model", TINY, check=True)
    out = cv2.imread(str(tmp_path / "out" / "side.png"), cv2.IMREAD_GRAYSCALE)
    assert out.shape == (120, 90) and iou(out > 127, shown(mask, 90) > 0) > 0.8


def test_a_tiff_and_a_jpeg_with_an_orientation_are_upright_too(tmp_path):
    picture = np.array([[10, 20, 30], [40, 50, 60]], np.uint8)
    entries = [(256, 3, 3), (257, 3, 2), (258, 3, 8), (259, 3, 1), (262, 3, 1), (273, 4, 0), (274, 3, 6),
               (277, 3, 1), (278, 3, 2), (279, 4, 6)]  # a 3x2 grey TIFF, orientation 6, data after the IFD
    data_at = 8 + 2 + 12 * len(entries) + 4
    tiff = b"II*\x00" + struct.pack("<IH", 8, len(entries))
    for tag, kind, value in entries:
        value = data_at if tag == 273 else value
        tiff += struct.pack("<HHI", tag, kind, 1) + (struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value))
    (tmp_path / "turned.tif").write_bytes(tiff + struct.pack("<I", 0) + picture.tobytes())
    assert np.array_equal(read_image(tmp_path / "turned.tif"), shown(picture, -90))
    jpeg = cv2.imencode(".jpg", np.kron(picture, np.ones((16, 16), np.uint8)))[1].tobytes()
    app1 = b"Exif\x00\x00" + exif(6)
    turned = jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:]
    (tmp_path / "turned.jpg").write_bytes(turned)
    image = read_image(tmp_path / "turned.jpg")
    assert image.shape[:2] == (48, 32) and abs(int(image[0, -1]) - 10) <= 3 and abs(int(image[0, 0]) - 40) <= 3
