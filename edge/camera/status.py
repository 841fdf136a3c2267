"""What `/stats` serves and `/metrics` exposes: one view of a running engine, its heat and its
recording, read in one place so the page, /stats and /metrics never disagree."""
from __future__ import annotations

import time
from typing import Any

from .. import thermal
from ..engine import Engine
from ..stats import Stats
from .recording import Recording


class LiveStatus:
    """The figures of a camera run: `snapshot()` is the /stats JSON; /metrics reads `stats` and `heat`."""

    def __init__(self, engine: Engine, heat: thermal.Monitor | None = None, recording: Recording | None = None):
        self.engine = engine
        self.heat = heat or thermal.Monitor()
        self.recording = recording

    @property
    def stats(self) -> Stats:
        return self.engine.stats

    def snapshot(self) -> dict[str, Any]:
        now = time.monotonic()
        engine, stats = self.engine, self.engine.stats
        settings, chain = engine.current()
        source = engine.source
        width, height = source.size
        model = chain.models.pick(height, width)
        return {
            "state": "running" if engine.running else ("failed" if engine.error else "finished"),
            "error": engine.error,
            "source": source.name,
            "size": list(source.size),
            "source_fps": round(source.fps, 2),
            "model": str(model.path),
            "family": model.family,
            "backend": model.backend,
            "threads": model.threads,
            "input_size": list(model.input_size),
            "fps_in": round(stats.rate_in.per_second(now), 2),
            "fps_out": round(stats.rate_out.per_second(now), 2),
            "frames_in": stats.frames_in,
            "frames_out": stats.frames_out,
            "dropped": engine.dropped,
            "inferences": stats.inferences,
            "inferences_skipped": stats.inferences_skipped,
            "skip_still": settings.skip_still or None,
            "infer_every": settings.infer_every,
            "target_fps": settings.target_fps or None,
            "adjustments": stats.adjustments,
            "ms": {k: round(v, 2) for k, v in stats.ms.items()},
            "reconnects": stats.reconnects,
            "reloads": stats.reloads,
            "reloads_failed": stats.reloads_failed,
            "recording": None if self.recording is None else self.recording.status(engine.running),
            "thermal": self.heat.read().as_dict(),
            "uptime_s": round(now - stats.started, 1),
            "last_output_age_s": round(now - stats.last_output, 2) if stats.last_output else None,
        }
