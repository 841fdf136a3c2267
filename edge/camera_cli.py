"""`pibokeh camera`: a live source through the model into a preview server, a recording and snapshots.

Every option can also come from a TOML file (`--config`): keys are the long option names
(`blur-kernel = 151` or `blur_kernel = 151`). The command line wins over the file, the file over
the defaults. SIGHUP re-reads the file and the model and applies what can change live (model,
classes, look, inference rate, smoothing, snapshot interval) without dropping the stream.
SIGTERM and Ctrl-C finish cleanly: the recording is finalised and playable.
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import core
from .cameras import open_source, open_with_retries
from .cli import (USER_ERRORS, Parser, add_model_options, add_style_options, classes_from_args,
                  open_segmenter, positive_int, style_from_args)
from .pipeline import Pipeline, Settings, SnapshotSink
from .preview import PreviewHub, PreviewServer, healthy_while
from .sinks import FrameSink, VideoFileSink
from .sources import InputError

# Options a reload (SIGHUP) applies to the running pipeline; the others need a restart.
LIVE = frozenset({"model", "backend", "threads", "classes", "blur_kernel", "exact", "feather", "background",
                  "infer_every", "smooth", "snapshot_every"})
# Options holding paths: relative ones in a config file are relative to the file's folder.
PATHS = ("model", "record", "snapshot_dir")
NOT_IN_CONFIG = frozenset({"config", "func", "command", "camera_defaults"})


def log(message: str) -> None:
    print(f"pibokeh: {message}", file=sys.stderr, flush=True)


# ---- option types ---------------------------------------------------------------------------------

def frame_size(text: str) -> tuple[int, int]:
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() and int(p) >= 16 for p in parts):
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT like 1280x720, got {text!r}")
    width, height = (int(p) for p in parts)
    if width % 2 or height % 2:
        raise argparse.ArgumentTypeError(f"width and height must be even (video encoders need it), got {text!r}")
    return width, height


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    return 0.0 if text.strip() in ("0", "0.0") else positive_float(text)


def smoothing(text: str) -> float:
    value = non_negative_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"expected a share in [0, 1) of the previous mask to keep, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    return 0 if text.strip() == "0" else positive_int(text)


def address(text: str) -> tuple[str, int]:
    """HOST:PORT, :PORT or PORT (host 127.0.0.1: the preview is private unless asked otherwise)."""
    host, _, port = text.rpartition(":")
    if not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT like 127.0.0.1:8765, got {text!r}")
    return (host.strip("[]") or "127.0.0.1"), int(port)


# ---- the parser -----------------------------------------------------------------------------------

def add_camera_options(p: argparse.ArgumentParser) -> None:
    src = p.add_argument_group("source")
    src.add_argument("--source", default="picamera2", metavar="S",
                     help="picamera2[:N] (default), opencv:N, opencv:/dev/videoN, video:PATH, or an "
                          "rtsp:// / http:// URL")
    src.add_argument("--size", type=frame_size, metavar="WxH", help="frame size (default: the source's; "
                     "picamera2: 1280x720)")
    src.add_argument("--fps", type=positive_float, metavar="F", help="frame rate (default: the source's)")
    src.add_argument("--loop", action="store_true", help="video: start again at the end")
    src.add_argument("--retries", type=non_negative_int, default=3, metavar="N",
                     help="reconnect attempts when the source is missing, busy or lost, with doubling waits "
                          "from 0.5 s (default: 3)")
    add_model_options(p)
    add_style_options(p)
    live = p.add_argument_group("live pipeline")
    live.add_argument("--infer-every", type=positive_int, default=1, metavar="N",
                      help="run the model on every Nth frame and reuse its mask in between (default: 1)")
    live.add_argument("--smooth", type=smoothing, default=0.0, metavar="ALPHA",
                      help="temporal mask smoothing: share of the previous mask kept, 0-0.95 (default: 0, off)")
    out = p.add_argument_group("outputs")
    out.add_argument("--serve", type=address, metavar="HOST:PORT",
                     help="serve the live page, /stream.mjpg, /snapshot.jpg, /stats, /healthz, /config "
                          "(host defaults to 127.0.0.1; port 0 picks a free one)")
    out.add_argument("--max-clients", type=positive_int, default=10, metavar="N",
                     help="most simultaneous stream viewers; more get 503 (default: 10)")
    out.add_argument("--record", type=Path, metavar="OUT.mp4", help="record the output (finalised on exit)")
    out.add_argument("--snapshot-dir", type=Path, metavar="DIR",
                     help="save JPEG snapshots here: on Enter (when run in a terminal), on SIGUSR1, "
                          "and every --snapshot-every seconds")
    out.add_argument("--snapshot-every", type=non_negative_float, default=0.0, metavar="S",
                     help="snapshot interval in seconds (default: 0, only on request)")
    stop = p.add_argument_group("stopping")
    stop.add_argument("--max-frames", type=non_negative_int, default=0, metavar="N",
                      help="stop after N output frames (default: 0, no limit)")
    stop.add_argument("--duration", type=non_negative_float, default=0.0, metavar="S",
                      help="stop after S seconds (default: 0, no limit)")
    p.add_argument("--config", type=Path, metavar="FILE.toml",
                   help="read any of these options from a TOML file; SIGHUP re-reads it")
    p.add_argument("--quiet", "-q", action="store_true", help="only errors on stderr")


class ConfigParser(Parser):
    """The camera options, parsed from a config file's entries: errors raise instead of exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise InputError(message)


def add_camera_parser(sub: Any) -> None:
    """Register `pibokeh camera` on the `pibokeh` subcommands."""
    helptext = "run a camera or stream live: blur, preview in a browser, record, snapshot"
    p = sub.add_parser("camera", help=helptext, description=helptext[0].upper() + helptext[1:] + ". " + (
        __doc__.split("\n\n", 1)[1].replace("\n", " ")))
    add_camera_options(p)
    defaults = vars(p.parse_args([]))
    # Unset options read None, so the config file can fill them in before the defaults do.
    p.set_defaults(**dict.fromkeys(defaults, None), func=cmd_camera, camera_defaults=defaults)


def read_config(path: Path) -> dict[str, Any]:
    """The options a TOML config file sets, checked and converted like command-line values."""
    try:
        import tomllib  # Python 3.11+; older Pi images (Python 3.9) have the same parser as tomli
    except ImportError:
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError:
            raise InputError(f"{path}: reading TOML needs Python 3.11 or `pip install tomli`") from None
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML ({exc})") from None
    parser = ConfigParser(prog=str(path), add_help=False)
    add_camera_options(parser)
    known = set(vars(parser.parse_args([]))) - NOT_IN_CONFIG
    argv: list[str] = []
    for key, value in data.items():
        dest = key.replace("-", "_")
        if dest not in known:
            raise InputError(f"{path}: unknown setting {key!r}; settings are the long options of "
                             "`pibokeh camera --help`")
        flag = "--" + dest.replace("_", "-")
        if isinstance(value, bool):
            if parser.get_default(dest) is not False:
                raise InputError(f"{path}: {key} needs a value, not {str(value).lower()}")
            argv += [flag] if value else []
        elif isinstance(value, (str, int, float)):
            argv += [flag, str(value)]
        elif isinstance(value, list) and dest == "classes":
            argv += [flag, ",".join(map(str, value))]
        else:
            raise InputError(f"{path}: {key} should be a string or a number")
    try:
        parsed = vars(parser.parse_args(argv))
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None
    chosen = {key.replace("-", "_") for key in data}
    settings = {k: v for k, v in parsed.items() if k in chosen and v is not None and v is not False}
    settings.update({k: False for k in chosen if parsed.get(k) is False})
    for key in PATHS:
        if key in settings and _is_relative_path(key, settings[key]):
            settings[key] = type(settings[key])(path.parent / settings[key])
    return settings


def _is_relative_path(key: str, value: Any) -> bool:
    # A --model without a slash or .tflite suffix is a registry name, not a path.
    text = str(value)
    if key == "model" and "/" not in text and not text.endswith(".tflite"):
        return False
    return not Path(text).is_absolute()


def resolve(args: argparse.Namespace) -> argparse.Namespace:
    """The options in effect: the command line over the config file over the defaults."""
    defaults = args.camera_defaults
    from_file = read_config(args.config) if args.config else {}
    values = {}
    for key, default in defaults.items():
        given = getattr(args, key, None)
        values[key] = given if given is not None else from_file.get(key, default)
    values["config"] = args.config
    return argparse.Namespace(**values)


def settings_from(opts: argparse.Namespace) -> Settings:
    style = style_from_args(opts)
    if isinstance(style.background, core.Transparent):
        raise InputError("a transparent background needs PNG images; a live stream cannot carry it")
    return Settings(class_ids=tuple(classes_from_args(opts)), style=style,
                    infer_every=opts.infer_every, smooth=opts.smooth)


def describe(opts: argparse.Namespace, loaded: str) -> dict[str, Any]:
    """What /config shows: every option in effect, where it came from, what a reload can change."""
    def plain(value: Any) -> Any:
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, tuple):
            return list(value)
        return value
    settings = {k.replace("_", "-"): plain(v) for k, v in sorted(vars(opts).items()) if k not in NOT_IN_CONFIG}
    return {"config_file": plain(opts.config), "loaded": loaded, "settings": settings,
            "live": sorted(k.replace("_", "-") for k in LIVE)}


# ---- running --------------------------------------------------------------------------------------

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

    def restore(self) -> None:
        for signum, handler in self._old.items():
            signal.signal(signum, handler)


def cmd_camera(args: argparse.Namespace) -> int:
    opts = resolve(args)
    settings = settings_from(opts)
    signals = Signals()
    signals.install()
    try:
        return run(args, opts, settings, signals)
    finally:
        signals.restore()


def run(args: argparse.Namespace, opts: argparse.Namespace, settings: Settings, signals: Signals) -> int:
    say = (lambda message: None) if opts.quiet else log
    segmenter = open_segmenter(opts)
    say(f"model {segmenter.path.name} ({segmenter.family}) on {segmenter.backend}, {segmenter.threads} threads")

    def reopen():
        return open_source(opts.source, opts.size, opts.fps, opts.loop)

    if opts.record and opts.source.startswith("video:") and \
            Path(opts.source[6:]).resolve() == Path(opts.record).resolve():
        raise InputError(f"--record {opts.record} would overwrite the input video; choose another file")
    source = open_with_retries(reopen, opts.retries, signals.stop, log=log)
    say(f"source {source.name}: {source.size[0]}x{source.size[1]} at {source.fps:g} fps")
    outputs: list[FrameSink] = []
    snapshots = hub = server = None
    try:
        if opts.record:
            outputs.append(VideoFileSink(opts.record, source.fps, source.size))
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
                        duration=opts.duration, retries=opts.retries, log=log)
    state = {"opts": opts, "loaded": now_iso()}
    try:
        if hub is not None:
            server = PreviewServer(opts.serve, hub, pipeline.snapshot, lambda: describe(state["opts"], state["loaded"]),
                                   max_clients=opts.max_clients,
                                   healthy=healthy_while(lambda: pipeline.stats.last_output, lambda: pipeline.running))
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
        say("interrupted: finishing")
    finally:
        pipeline.join()
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
    say(summary)
    return 0  # stopping a live command by Ctrl-C or SIGTERM is its normal end


def _snapshot_on_enter(snapshots: SnapshotSink) -> None:
    for _line in sys.stdin:
        snapshots.request()


def _reload(args: argparse.Namespace, state: dict[str, Any], pipeline: Pipeline,
            snapshots: SnapshotSink | None) -> None:
    """Re-read the config file and the model; apply what can change live, keep running on errors."""
    old = state["opts"]
    try:
        new = resolve(args)
        settings = settings_from(new)
        segmenter = open_segmenter(new)
    except USER_ERRORS as exc:
        log(f"reload failed, still running with the previous settings: {exc}")
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
