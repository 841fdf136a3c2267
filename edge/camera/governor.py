"""`--target-fps`: a thread that looks at the output rate and the heat once a second and moves the
engine's `infer_every` to hold the target (the rule is `adaptive.next_infer_every`)."""
from __future__ import annotations

import collections
import threading
import time
from typing import Callable

from .. import thermal
from ..engine import Engine
from .adaptive import Measured, next_infer_every

WATCH_INTERVAL = 1.0  # seconds between looks at the frame rate and the heat


class Governor:
    """Adjusts `engine`'s infer_every while its settings have a target frame rate."""

    def __init__(self, engine: Engine, heat: thermal.Monitor, log: Callable[[str], None] = lambda message: None):
        self.engine = engine
        self.heat = heat
        self.log = log
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="pibokeh-governor", daemon=True)

    def start(self) -> "Governor":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _watch(self) -> None:
        engine, stats = self.engine, self.engine.stats
        # (time, frames out) once a tick: the output rate is averaged over up to 5 s since the last
        # change (steadier than the 2-s rate of /stats, which would make it chase noise)
        samples: collections.deque[tuple[float, int]] = collections.deque(maxlen=6)
        while not self._stop.wait(WATCH_INTERVAL) and engine.running:
            now = time.monotonic()
            ms = stats.ms
            samples.append((now, stats.frames_out))
            settings, _ = engine.current()
            if settings.target_fps <= 0:
                continue  # the heat is read when /stats or /metrics ask (vcgencmd is a process start)
            reading = self.heat.read()
            changed = engine.changed
            settled = [sample for sample in samples if sample[0] >= changed + 0.5]
            span = settled[-1][0] - settled[0][0] if settled else 0.0
            fps_out = (settled[-1][1] - settled[0][1]) / span if span > 0 else stats.rate_out.per_second(now)
            measured = Measured(source_fps=engine.source.fps or stats.rate_in.per_second(now), fps_out=fps_out,
                                inference_s=(ms.get("preprocess", 0.0) + ms["inference"] + ms["mask"]) / 1000.0,
                                frame_s=(ms["background"] + ms["blend"] + ms["output"]) / 1000.0,
                                throttled=reading.slowed, since_change_s=now - changed)
            chosen = next_infer_every(settings.infer_every, settings.target_fps, measured)
            if chosen == settings.infer_every or not engine.adjust(settings, chosen):
                continue  # no change, or a reload came in between: its settings win
            stats.adjustments += 1
            self.log(f"target {settings.target_fps:g} fps: infer every {chosen} (was {settings.infer_every}; "
                     f"{measured.fps_out:.1f} fps out, inference {1000 * measured.inference_s:.0f} ms"
                     f"{', throttled' if measured.throttled else ''})")
