"""Frames in and out: image files, video files (PyAV, with an OpenCV fallback), encoders, sound,
PNG sequences, the batch commands' inputs, and the `FrameSource`/`FrameSink` interfaces.

Nothing here knows about models or cameras: this package never imports `pibokeh.model` or
`pibokeh.camera`.
"""
from .frames import FrameSink, FrameSource
from .images import encode_image, read_image, to_bgr8, write_image
from .video import VideoFileSink, VideoFileSource

__all__ = ["FrameSink", "FrameSource", "VideoFileSink", "VideoFileSource", "encode_image", "read_image",
           "to_bgr8", "write_image"]
