"""Fixtures that many tests/edge files use: the tiny model opened with one thread, a clip with sound,
and no `pibokeh camera` left running (or its data folder left behind) after a test."""
from __future__ import annotations

from pathlib import Path

import pytest
from pibokeh.model import Backend, open_model

from tests.conftest import TINY
from tests.edge import camera_process
from tests.edge.video_clips import av_clip


@pytest.fixture(scope="module")
def segmenter() -> Backend:
    """The tiny float model (red things are "person"), one interpreter thread."""
    return open_model(TINY, threads=1)


@pytest.fixture(scope="session")
def tone_clip(tmp_path_factory) -> Path:
    """45 frames (1.5 s) of the moving red block at 30 fps, with a 440 Hz AAC tone."""
    return av_clip(tmp_path_factory.mktemp("tone") / "tone.mp4")


@pytest.fixture(autouse=True)
def no_leftover_cameras():
    """A failed test must not leave its `pibokeh camera` running."""
    yield
    camera_process.stop_all()
