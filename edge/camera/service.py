"""Running `pibokeh camera`: the source, the pipeline and its outputs, signals, reloads, the summary.

SIGHUP re-reads the config file and the model and applies what can change live (model, classes,
look, inference rate, smoothing, snapshot interval) without dropping the stream; the whole new
configuration is built and tried on a test frame first, and any error keeps the old one running.
SIGTERM and Ctrl-C finish cleanly within a few seconds in any state (a stalled stream is abandoned,
not waited for): the recording is finalised and playable.
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from .. import core
from ..errors import InputError, PibokehError
from ..frames import FrameSink
from ..model import Segmenter
from ..options import classes_from_args, open_models, style_from_args
from ..video import VideoFileSink
from .access import check_serve
from .auth import Authenticator
from .config import describe, resolve
from .metrics import metrics_exporter
from .options import LIVE
from .pipeline import LiveSettings, Pipeline
from .preview import PreviewHub, PreviewServer, healthy_while
from .snapshots import SnapshotSink
from .sources import DEFAULT_CAMERA_SIZE, URL_SCHEMES, open_source, open_with_retries
from .virtualcam import VirtualCameraSink

STOP_GRACE = 1.0  # seconds a capture stage stuck in a stalled source is waited for when stopping


def log(message: str) -> None:
    print(f"pibokeh: {message}", file=sys.stderr, flush=True)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Signals:
    """SIGTERM/SIGHUP/SIGUSR1 turned into flags the main loop polls (handlers must stay tiny)."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.reload = threading.Event()
        self.snapshot = threading.Event()
        self._old: dict[int, Any] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signals can only be handled in the main thread (e.g. when embedded)
        for signum, flag in ((signal.SIGTERM, self.stop), (signal.SIGHUP, self.reload),
                             (signal.SIGUSR1, self.snapshot)):
            self._old[signum] = signal.signal(signum, lambda *_, flag=flag: flag.set())

    def shield(self) -> None:
        """Ignore further Ctrl-C while finishing: a second one must not leave the recording unfinalised."""
        if threading.current_thread() is threading.main_thread():
            self._old.setdefault(signal.SIGINT, signal.signal(signal.SIGINT, signal.SIG_IGN))

    def restore(self) -> None:
        for signum, handler in self._old.items():
            signal.signal(signum, handler)


def settings_from(opts: argparse.Namespace) -> LiveSettings:
    style = style_from_args(opts)
    if isinstance(style.background, core.Transparent):
        raise InputError("a transparent background needs PNG images; a live stream cannot carry it")
    return LiveSettings(class_ids=classes_from_args(opts), style=style,
                    infer_every=opts.infer_every, smooth=opts.smooth, target_fps=opts.target_fps)


def run(args: argparse.Namespace, opts: argparse.Namespace, settings: LiveSettings, signals: Signals) -> int:
    say = (lambda message: None) if opts.quiet else log
    if opts.serve:  # where and to whom it serves is settled before the camera or the model is opened
        check_serve(opts.serve, bool(opts.auth), bool(opts.no_auth))
    auth = Authenticator.from_file(opts.auth) if opts.serve and opts.auth else None
    models = open_models(opts)
    # A camera that can deliver a second, small stream (picamera2's lores) gets asked for exactly the
    # input size of the model that fits the requested frame: no resize on the Pi before inference.
    width, height = opts.size or DEFAULT_CAMERA_SIZE
    hint = models.pick(height, width).input_size

    def reopen():
        if opts.source.startswith(URL_SCHEMES):
            say(f"{opts.source}: opening, waiting up to {opts.open_timeout:g} s for the stream to answer")
        return open_source(opts.source, opts.size, opts.fps, opts.loop, infer_size=(hint[1], hint[0]),
                           timeout=opts.open_timeout)

    if opts.record and opts.source.startswith("video:") and \
            Path(opts.source[6:]).resolve() == Path(opts.record).resolve():
        raise InputError(f"--record {opts.record} would overwrite the input video; choose another file")
    try:
        source = open_with_retries(reopen, opts.retries, signals.stop, log=log)
    except InputError:
        if signals.stop.is_set():  # asked to stop while opening (or waiting to retry): a normal end
            say("SIGTERM while opening the source: stopped")
            return 0
        raise
    say(f"source {source.name}: {source.size[0]}x{source.size[1]} at {source.fps:g} fps")
    segmenter = models.pick(source.size[1], source.size[0])
    say(f"model {segmenter.path.name} ({segmenter.family}) on {segmenter.backend}, {segmenter.threads} threads"
        + (f", chosen from {len(models)} by the frame's aspect" if len(models) > 1 else ""))
    outputs: list[FrameSink] = []
    snapshots = hub = server = recording = None
    try:
        if opts.record:  # fragmented MP4 under its final name, timed by the wall clock
            recording = VideoFileSink(opts.record, source.fps, source.size, codec=opts.codec, live=True)
            outputs.append(recording)
        if opts.virtual_camera:
            outputs.append(VirtualCameraSink(opts.virtual_camera, source.fps, source.size))
            say(f"virtual camera {outputs[-1].device}")
        if opts.snapshot_dir:
            snapshots = SnapshotSink(opts.snapshot_dir, opts.snapshot_every)
            outputs.append(snapshots)
        if opts.serve:
            hub = PreviewHub()
            outputs.append(hub)
    except BaseException:
        for output in outputs:
            output.abort()
        source.close()
        raise
    pipeline = Pipeline(source, segmenter, settings, outputs, reopen=reopen, max_frames=opts.max_frames,
                        duration=opts.duration, retries=opts.retries, log=log, recording=recording)
    state = {"opts": opts, "loaded": now_iso()}
    interrupted = False
    try:
        if hub is not None:
            server = PreviewServer(opts.serve, hub, pipeline.snapshot, lambda: describe(state["opts"], state["loaded"]),
                                   max_clients=opts.max_clients, auth=auth, allow_anyone=bool(opts.no_auth),
                                   allow_hosts=opts.allow_hosts or (),
                                   healthy=healthy_while(lambda: pipeline.stats.last_output, lambda: pipeline.running))
            server.metrics = metrics_exporter(pipeline, server)
            hub.on_encode = lambda seconds: pipeline.stats.record("encode", seconds)
            server.start()
            log(f"serving {server.url}")  # always shown: it is how a user (or a test) finds the page
        pipeline.start()
        if snapshots is not None and sys.stdin.isatty():
            threading.Thread(target=_snapshot_on_enter, args=(snapshots,), daemon=True).start()
        while not pipeline.wait(0.2):
            if signals.stop.is_set():
                say("SIGTERM: finishing")
                break
            if signals.reload.is_set():
                signals.reload.clear()
                _reload(args, state, pipeline, snapshots)
            if signals.snapshot.is_set():
                signals.snapshot.clear()
                if snapshots is not None:
                    snapshots.request()
    except KeyboardInterrupt:
        interrupted = True
        say("interrupted: finishing")
    finally:
        signals.shield()
        pipeline.join(capture_timeout=STOP_GRACE)
        if server is not None:
            server.stop()
        for output in outputs:
            output.close()
    stats = pipeline.snapshot()
    elapsed = max(stats["uptime_s"], 1e-6)
    summary = (f"{stats['frames_out']} frames in {elapsed:.1f} s ({stats['frames_out'] / elapsed:.1f} fps out), "
               f"{stats['dropped']} dropped, {stats['inferences']} inferences")
    if opts.record:
        summary += f"; recorded {opts.record}" if opts.record.exists() else "; nothing recorded"
    if snapshots is not None and snapshots.saved:
        summary += f"; {len(snapshots.saved)} snapshots in {opts.snapshot_dir}"
    if pipeline.error:
        log(f"error: {pipeline.error}")
        log(summary)
        return 1
    if stats["frames_in"] == 0 and not signals.stop.is_set() and not interrupted:
        log(f"error: {source.name}: delivered no frame at all")
        log(summary)
        return 1
    say(summary)
    return 0  # stopping a live command by Ctrl-C or SIGTERM is its normal end


def _snapshot_on_enter(snapshots: SnapshotSink) -> None:
    for _line in sys.stdin:
        snapshots.request()


def try_settings(segmenter: Segmenter, settings: LiveSettings, size: tuple[int, int]) -> None:
    """One test frame of the source's (width, height) through the model and the look: what a new
    configuration would do to the first live frame, done before it is swapped in."""
    frame = np.full((size[1], size[0], 3), 128, np.uint8)
    mask = core.frame_mask(segmenter.predict(frame), settings.class_ids, frame.shape[:2])
    core.compose(frame, mask, settings.style)


def _reload(args: argparse.Namespace, state: dict[str, Any], pipeline: Pipeline,
            snapshots: SnapshotSink | None) -> None:
    """Re-read the config file and the model, check the whole new configuration on a test frame,
    then apply what can change live; on any error keep running on the old settings."""
    old = state["opts"]
    try:
        new = resolve(args)
        settings = settings_from(new)
        width, height = pipeline.source.size
        segmenter = open_models(new).pick(height, width)
        try_settings(segmenter, settings, (width, height))
    except PibokehError as exc:
        pipeline.stats.reloads_failed += 1
        log(f"reload failed, still running with the previous settings: {_one_line(exc)}")
        return
    except Exception as exc:  # whatever the new settings break (OpenCV, memory, a bug) must not end the service
        pipeline.stats.reloads_failed += 1
        log(f"reload failed, still running with the previous settings: {type(exc).__name__}: {_one_line(exc)}")
        return
    fixed = sorted(k.replace("_", "-") for k in vars(new) if k not in LIVE and getattr(new, k) != getattr(old, k))
    if fixed:
        log(f"reload: {', '.join(fixed)} changed; that takes a restart")
    pipeline.update(settings, segmenter)
    if snapshots is not None:
        snapshots.every = new.snapshot_every
    state["opts"] = argparse.Namespace(**{k: (getattr(new, k) if k in LIVE else getattr(old, k)) for k in vars(old)})
    state["loaded"] = now_iso()
    log(f"reloaded: model {segmenter.path.name}, classes {','.join(map(str, settings.class_ids))}, "
        f"infer every {settings.infer_every}, smooth {settings.smooth:g}")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__
