"""Moving backgrounds: a video, an animated GIF or an animated WebP played behind a video, a camera
stream and a photo (its first frame), one background frame per output frame, looped; and the same
one-line errors as a bad still background. Background clips made here: frame i one solid colour."""
from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import pibokeh
from pibokeh.media.moving import MovingPicture, is_moving

from tests.conftest import TINY
from tests.edge.camera_process import Camera, frames_of
from tests.helpers import one_line_error, scene, write_clip

# Seven colours far apart (BGR), so a frame's background says which one it is despite lossy codecs.
COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (255, 0, 255), (0, 255, 255), (128, 128, 128)]
SIZE = (96, 64)


def colour_frames() -> list[np.ndarray]:
    return [np.full((SIZE[1], SIZE[0], 3), colour, np.uint8) for colour in COLOURS]


def write_video(path: Path) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, SIZE)
    for frame in colour_frames():
        writer.write(frame)
    writer.release()
    return path


def write_gif(path: Path) -> Path:
    container = av.open(str(path), "w")
    stream = container.add_stream("gif", rate=10)
    stream.width, stream.height, stream.pix_fmt = SIZE[0], SIZE[1], "rgb8"
    for frame in colour_frames():
        container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")))
    container.mux(stream.encode())
    container.close()
    return path


def write_webp(path: Path) -> Path:
    animation = cv2.Animation()
    animation.frames, animation.durations = colour_frames(), [100] * len(COLOURS)
    assert cv2.imwriteanimation(str(path), animation)
    return path


WRITERS = {"mp4": write_video, "gif": write_gif, "webp": write_webp}


def which(pixels: np.ndarray) -> int:
    """The index of the colour nearest the mean of `pixels` (N x 3)."""
    mean = pixels.reshape(-1, 3).mean(axis=0)
    distances = [np.abs(mean - np.array(colour)).sum() for colour in COLOURS]
    assert min(distances) < 60, f"{mean} is none of the colours"
    return int(np.argmin(distances))


@pytest.mark.parametrize("kind", WRITERS)
def test_a_player_gives_every_frame_in_order_and_loops(tmp_path, kind):
    path = WRITERS[kind](tmp_path / f"colours.{kind}")
    assert is_moving(path)
    player = MovingPicture(path)
    shown = [which(player.next()) for _ in range(2 * len(COLOURS) + 3)]
    player.close()
    assert shown == [i % len(COLOURS) for i in range(2 * len(COLOURS) + 3)]


def test_a_still_webp_and_other_pictures_are_not_moving(tmp_path):
    cv2.imwrite(str(tmp_path / "still.webp"), colour_frames()[0])
    cv2.imwrite(str(tmp_path / "still.png"), colour_frames()[0])
    assert not is_moving(tmp_path / "still.webp") and not is_moving(tmp_path / "still.png")
    assert isinstance(pibokeh.as_background(str(tmp_path / "still.webp")), pibokeh.Replace)


@pytest.mark.parametrize("kind", WRITERS)
def test_a_video_gets_one_background_frame_per_frame_looped(tmp_path, kind):
    background = WRITERS[kind](tmp_path / f"colours.{kind}")
    clip = write_clip(tmp_path / "scene.mp4", frames=17)
    out = tmp_path / "out.mp4"
    result = pibokeh.process_video(clip, out, TINY, background=str(background))
    frames = frames_of(out)
    assert result.frames == 17 and len(frames) == 17
    for n, frame in enumerate(frames):
        _, person = scene((320, 240), n)
        away = cv2.dilate(person, np.ones((25, 25), np.uint8)) == 0  # clear of the block and its edge
        assert which(frame[away]) == n % len(COLOURS), f"frame {n}"


def test_a_photo_gets_the_first_frame(tmp_path):
    background = write_gif(tmp_path / "colours.gif")
    image, person = scene((320, 240), 0)
    out = pibokeh.blur(image, TINY, background=str(background))
    assert which(out[cv2.dilate(person, np.ones((25, 25), np.uint8)) == 0]) == 0
    assert pibokeh.as_background(background) == pibokeh.Movie(str(background))  # plain, comparable data


def test_a_camera_stream_plays_it_behind_the_person(tmp_path, clip):
    background = write_video(tmp_path / "colours.mp4")
    out = tmp_path / "rec.mp4"
    camera = Camera("--source", f"video:{clip}", "--model", TINY, "--background", background, "--record", out,
                    "--max-frames", 20, "--skip-still", 0, "-q")
    assert camera.finish() == 0, camera.stderr
    frames = frames_of(out)
    assert len(frames) == 20
    shown = [which(frame[:20, :]) for frame in frames]  # the top rows: background only (helpers.scene)
    steps = {(b - a) % len(COLOURS) for a, b in zip(shown, shown[1:])}
    assert shown[0] == 0 and steps <= {0, 1} and len(set(shown)) >= 4  # in order, moving on (a live source may drop)


@pytest.mark.parametrize("content, reason", [(b"garbage", "not a readable video"), (b"", "empty file")])
@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_a_bad_moving_background_is_one_line_like_a_bad_still_one(tmp_path, pibokeh, content, reason, suffix):
    bad = tmp_path / f"bad{suffix}"
    bad.write_bytes(content)
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), scene((160, 120), 0)[0])
    line = one_line_error(pibokeh("blur", photo, "-o", tmp_path / "out", "--model", TINY, "--background", bad), 2)
    assert str(bad) in line and reason in line
    assert not (tmp_path / "out" / "photo.png").exists()
    still = tmp_path / "bad.png"
    still.write_bytes(b"garbage")
    line = one_line_error(pibokeh("blur", photo, "-o", tmp_path / "out", "--model", TINY, "--background", still), 2)
    assert str(still) in line and "not a readable image" in line
