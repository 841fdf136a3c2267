"""Running `pibokeh camera`: the source, the engine and its outputs, signals, reloads, the summary.

    run = check who may watch -> open the models -> open the source -> open the outputs
          -> serve -> run the engine until it ends or a signal says so -> finish -> summary

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
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .. import thermal
from ..chain import Chain
from ..engine import Engine, Settings
from ..errors import InputError, PibokehError
from ..media.frames import FrameSink
from ..model import ModelSet
from ..options import open_models, recipe_from_args
from ..stats import Stats
from ..styles import Transparent
from .access import check_serve
from .auth import Authenticator
from .config import describe, resolve
from .controls import Controls
from .governor import Governor
from .metrics import metrics_exporter
from .options import LIVE
from .preview import PreviewHub, PreviewServer, healthy_while
from .recording import Recording, check_record_path
from .reopen import Reconnecting, open_with_retries
from .snapshots import SnapshotSink
from .sources import DEFAULT_CAMERA_SIZE, URL_SCHEMES, LiveSource, open_source
from .status import LiveStatus
from .virtualcam import VirtualCameraSink

STOP_GRACE = 1.0  # seconds a read stage stuck in a stalled source is waited for when stopping


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


def settings_from(opts: argparse.Namespace) -> Settings:
    recipe = recipe_from_args(opts, smooth=opts.smooth)
    if isinstance(recipe.style.background, Transparent):
        raise InputError("a transparent background needs PNG images; a live stream cannot carry it")
    return Settings(recipe, infer_every=opts.infer_every, target_fps=opts.target_fps, skip_still=opts.skip_still)


@dataclass
class Outputs:
    """Where the frames go: the recording, the virtual camera, snapshots, the preview's hub."""
    all: list[FrameSink] = field(default_factory=list)
    recording: Recording | None = None
    snapshots: SnapshotSink | None = None
    hub: PreviewHub | None = None

    def close(self) -> list[str]:
        """Close every output; the one-line reasons of those that failed."""
        problems = []
        for output in self.all:
            try:
                output.close()
            except PibokehError as exc:
                problems.append(str(exc))
        return problems


def run(args: argparse.Namespace, opts: argparse.Namespace, settings: Settings, signals: Signals) -> int:
    say = (lambda message: None) if opts.quiet else log
    check_early(opts)
    auth = Authenticator.from_file(opts.auth) if opts.serve and opts.auth else None
    models = open_models(opts)
    stats = Stats()
    source = open_camera(opts, models, signals, say, stats)
    if source is None:
        say("SIGTERM while opening the source: stopped")
        return 0
    model = models.pick(source.size[1], source.size[0])
    say(f"model {model.path.name} ({model.family}) on {model.backend}, "
        + (f"{model.threads} threads" if model.threads else "no CPU inference")
        + (f", chosen from {len(models)} by the frame's aspect" if len(models) > 1 else ""))
    outputs = open_outputs(opts, source, stats, say)
    engine = Engine(source, models, outputs.all, settings, stats=stats, max_frames=opts.max_frames,
                    duration=opts.duration)
    status = LiveStatus(engine, thermal.Monitor(), outputs.recording)
    governor = Governor(engine, status.heat, log)
    state = {"opts": opts, "loaded": now_iso(), "auth": auth,
             "lock": threading.Lock()}  # the lock: one reload or control change at a time
    server = None
    interrupted = False
    problems: list[str] = []
    try:
        server = serve(opts, auth, outputs, status, state)
        engine.start()
        governor.start()
        if outputs.snapshots is not None and sys.stdin.isatty():
            threading.Thread(target=_snapshot_on_enter, args=(outputs.snapshots,), daemon=True).start()
        interrupted = watch_signals(args, state, engine, outputs, signals, say)
    finally:
        signals.shield()
        governor.stop()
        engine.join(read_timeout=STOP_GRACE)
        if server is not None:
            server.stop()
        problems = outputs.close()
    return summary(opts, engine, status, outputs, problems, stopped=signals.stop.is_set() or interrupted, say=say)


def check_early(opts: argparse.Namespace) -> None:
    """What can be refused before the camera or the model is opened: where and to whom it serves,
    and a recording that would overwrite the input video."""
    if opts.serve:
        check_serve(opts.serve, bool(opts.auth), bool(opts.no_auth))
    if opts.record:
        check_record_path(opts.record)
    if opts.record and opts.source.startswith("video:") and \
            Path(opts.source[6:]).resolve() == Path(opts.record).resolve():
        raise InputError(f"--record {opts.record} would overwrite the input video; choose another file")


def open_camera(opts: argparse.Namespace, models: ModelSet, signals: Signals, say: Callable[[str], None],
                stats: Stats) -> Reconnecting | None:
    """The source, opened with retries and reopened whenever it is lost; None if asked to stop first."""
    # A camera that can deliver a second, small stream (picamera2's lores) gets asked for exactly the
    # input size of the model that fits the requested frame: no resize on the Pi before inference.
    width, height = opts.size or DEFAULT_CAMERA_SIZE
    model = models.pick(height, width)
    hint = model.input_size

    def reopen() -> LiveSource:
        if opts.source.startswith(URL_SCHEMES):
            say(f"{opts.source}: opening, waiting up to {opts.open_timeout:g} s for the stream to answer")
        return open_source(opts.source, opts.size, opts.fps, opts.loop, infer_size=(hint[1], hint[0]),
                           timeout=opts.open_timeout, sensor_model=model if model.on_sensor else None)

    try:
        source = open_with_retries(reopen, opts.retries, signals.stop, log=log)
    except InputError:
        if signals.stop.is_set():  # asked to stop while opening (or waiting to retry): a normal end
            return None
        raise
    say(f"source {source.name}: {source.size[0]}x{source.size[1]} at {source.fps:g} fps")
    return Reconnecting(source, reopen, retries=opts.retries, log=log, stats=stats)


def open_outputs(opts: argparse.Namespace, source: LiveSource, stats: Stats, say: Callable[[str], None]) -> Outputs:
    """The outputs the options ask for; on any failure the ones already open are discarded."""
    outputs = Outputs()
    try:
        if opts.record:  # fragmented MP4 under its final name, timed by the wall clock, encoded in its own thread
            outputs.recording = Recording(opts.record, source.fps, source.size, codec=opts.codec,
                                          skips=source.skips_frames, record=stats.record)
            outputs.all.append(outputs.recording)
            say(f"recording to {outputs.recording.path}")  # the name taken: never an existing file
        if opts.virtual_camera:
            outputs.all.append(VirtualCameraSink(opts.virtual_camera, source.fps, source.size))
            say(f"virtual camera {outputs.all[-1].device}")
        if opts.snapshot_dir:
            outputs.snapshots = SnapshotSink(opts.snapshot_dir, opts.snapshot_every)
            outputs.all.append(outputs.snapshots)
        if opts.serve:
            outputs.hub = PreviewHub(on_encode=lambda seconds: stats.record("encode", seconds))
            outputs.all.append(outputs.hub)
    except BaseException:
        for output in outputs.all:
            output.abort()
        source.close()
        raise
    return outputs


def serve(opts: argparse.Namespace, auth: Authenticator | None, outputs: Outputs, status: LiveStatus,
          state: dict[str, Any]) -> PreviewServer | None:
    """The preview server, started, when --serve asks for one."""
    if outputs.hub is None:
        return None
    engine = status.engine
    server = PreviewServer(opts.serve, outputs.hub, status.snapshot, lambda: describe(state["opts"], state["loaded"]),
                           max_clients=opts.max_clients, auth=auth, allow_anyone=bool(opts.no_auth),
                           allow_hosts=opts.allow_hosts or (),
                           healthy=healthy_while(lambda: engine.stats.last_output, lambda: engine.running))
    server.metrics = metrics_exporter(status, server)
    server.routes = Controls(state, lambda new: change(state, engine, new), opts.backgrounds_dir, log,
                             enabled=not opts.no_controls).routes()
    server.start()
    log(f"serving {server.url}")  # always shown: it is how a user (or a test) finds the page
    return server


def watch_signals(args: argparse.Namespace, state: dict[str, Any], engine: Engine, outputs: Outputs,
                  signals: Signals, say: Callable[[str], None]) -> bool:
    """Until the engine ends: act on SIGTERM, SIGHUP and SIGUSR1. True when Ctrl-C ended it."""
    try:
        while not engine.wait(0.2):
            if signals.stop.is_set():
                say("SIGTERM: finishing")
                return False
            if signals.reload.is_set():
                signals.reload.clear()
                with state["lock"]:
                    reload(args, state, engine, outputs.snapshots)
            if signals.snapshot.is_set():
                signals.snapshot.clear()
                if outputs.snapshots is not None:
                    outputs.snapshots.request()
    except KeyboardInterrupt:
        say("interrupted: finishing")
        return True
    return False


def summary(opts: argparse.Namespace, engine: Engine, status: LiveStatus, outputs: Outputs, problems: list[str],
            stopped: bool, say: Callable[[str], None]) -> int:
    """The last line(s), and the exit code: 1 when the engine or an output failed, or the source gave nothing."""
    stats = status.snapshot()
    elapsed = max(stats["uptime_s"], 1e-6)
    line = (f"{stats['frames_out']} frames in {elapsed:.1f} s ({stats['frames_out'] / elapsed:.1f} fps out), "
            f"{stats['dropped']} dropped, {stats['inferences']} inferences")
    if outputs.recording is not None:
        recording = outputs.recording
        skipped = f", {recording.dropped} skipped while the encoder was busy" if recording.dropped else ""
        line += (f"; recorded {recording.path} ({recording.frames} frames{skipped})" if recording.path.exists()
                 else "; nothing recorded")
    if outputs.snapshots is not None and outputs.snapshots.saved:
        line += f"; {len(outputs.snapshots.saved)} snapshots in {opts.snapshot_dir}"
    errors = ([engine.error] if engine.error else []) + problems
    if errors:
        for error in errors:
            log(f"error: {error}")
        log(line)
        return 1
    if stats["frames_in"] == 0 and not stopped:
        log(f"error: {engine.source.name}: delivered no frame at all")
        log(line)
        return 1
    say(line)
    return 0  # stopping a live command by Ctrl-C or SIGTERM is its normal end


def _snapshot_on_enter(snapshots: SnapshotSink) -> None:
    for _line in sys.stdin:
        snapshots.request()


def try_settings(models: ModelSet, settings: Settings, size: tuple[int, int]) -> None:
    """One test frame of the source's (width, height) through the chain: what a new configuration
    would do to the first live frame, done before it is swapped in (a camera frame without metadata
    for a model on the sensor: its output for a frame the network skipped)."""
    chain, frame = Chain(models, settings.recipe), np.full((size[1], size[0], 3), 128, np.uint8)
    chain.compose(frame, chain.mask_of(frame, metadata={}))


def change(state: dict[str, Any], engine: Engine, new: argparse.Namespace) -> None:
    """A change of the look from the page's controls, applied like a reload (same models): checked on
    a test frame first; raises, leaving the old settings running, if it cannot work."""
    with state["lock"]:
        try:
            settings = settings_from(new)
            try_settings(engine.models, settings, engine.source.size)
        except Exception:
            engine.stats.reloads_failed += 1
            raise
        engine.update(settings)
        state["opts"], state["loaded"] = new, now_iso()


def reload(args: argparse.Namespace, state: dict[str, Any], engine: Engine, snapshots: SnapshotSink | None) -> None:
    """Re-read the config file and the model, check the whole new configuration on a test frame,
    then apply what can change live; on any error keep running on the old settings. The password
    file is re-read first, whatever becomes of the rest: a revoked login must not outlive a bad config."""
    reload_auth(state.get("auth"))
    old = state["opts"]
    try:
        new = resolve(args)
        settings = settings_from(new)
        # a network on the AI Camera's sensor was loaded before the camera opened: it stays until a restart
        models = engine.models if any(m.on_sensor for m in engine.models) else open_models(new)
        try_settings(models, settings, engine.source.size)
    except PibokehError as exc:
        engine.stats.reloads_failed += 1
        log(f"reload failed, still running with the previous settings: {_one_line(exc)}")
        return
    except Exception as exc:  # whatever the new settings break (OpenCV, memory, a bug) must not end the service
        engine.stats.reloads_failed += 1
        log(f"reload failed, still running with the previous settings: {type(exc).__name__}: {_one_line(exc)}")
        return
    fixed = sorted(k.replace("_", "-") for k in vars(new) if k not in LIVE and getattr(new, k) != getattr(old, k))
    if fixed:
        log(f"reload: {', '.join(fixed)} changed; that takes a restart")
    engine.update(settings, models)
    if snapshots is not None:
        snapshots.every = new.snapshot_every
    state["opts"] = argparse.Namespace(**{k: (getattr(new, k) if k in LIVE else getattr(old, k)) for k in vars(old)})
    state["loaded"] = now_iso()
    width, height = engine.source.size
    recipe = settings.recipe
    log(f"reloaded: model {models.pick(height, width).path.name}, classes {','.join(map(str, recipe.class_ids))}, "
        f"infer every {settings.infer_every}, smooth {recipe.smooth:g}")


def reload_auth(auth: Authenticator | None) -> None:
    """Re-read the password file and log who was added, removed or given a new password."""
    if auth is None:
        return
    try:
        log(f"auth: {auth.reload()}")
    except PibokehError as exc:
        log(f"auth: reload failed, the previous logins stay: {_one_line(exc)}")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__
