"""The file a video muxer writes through: a Python file, so every write error reaches the caller."""
from __future__ import annotations

from pathlib import Path


class MuxerFile:
    """The file PyAV writes through (a Python file, so write errors such as a full disk reach the
    caller: FFmpeg's own writer drops them for fragmented MP4). The first error is raised; once
    muted, for a file about to be deleted, calls do nothing, so a broken muxer closes quietly."""

    def __init__(self, path: Path, live: bool):
        # unbuffered for recordings: a finished fragment is on disk at once, not in Python's buffer;
        # and created, never opened: O_EXCL, so no file (another camera's recording) is ever truncated
        self._file = open(path, "xb", buffering=0) if live else open(path, "w+b")
        self._muted = False
        self.name = str(path)  # PyAV gives it to FFmpeg, whose +faststart reopens the file by name

    def mute(self) -> None:
        self._muted = True

    def _call(self, name: str, *args: object, quiet: object = None) -> object:
        if self._muted:
            return quiet
        try:
            return getattr(self._file, name)(*args)
        except (OSError, ValueError):
            self._muted = True  # said once: what follows is the muxer unwinding
            raise

    def write(self, data: bytes) -> object:
        return self._call("write", data, quiet=len(data))

    def read(self, size: int = -1) -> object:
        return self._call("read", size, quiet=b"")

    def seek(self, offset: int, whence: int = 0) -> object:
        return self._call("seek", offset, whence, quiet=0)

    def tell(self) -> object:
        return self._call("tell", quiet=0)

    def close(self) -> None:
        if self._muted:
            try:
                self._file.close()
            except OSError:  # buffered bytes that cannot be written: the file is being discarded
                pass
            return
        self._call("close")
