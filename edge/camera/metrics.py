"""`/metrics`: the live pipeline's figures in the Prometheus exposition format.

The format is written by the official `prometheus_client` library. Its custom-collector interface
turns the pipeline's own `Stats` (the numbers /stats shows, read at scrape time) into metric
families, so /stats and /metrics cannot disagree and nothing is counted twice. Each server gets a
`CollectorRegistry` of its own (not the library's global one), with the library's process
collector for RSS and CPU time.

    pibokeh_frames_in_total, _frames_out_total, _frames_dropped_total, _inferences_total,
    pibokeh_inferences_skipped_total (the scene was still: the last mask reused)
    pibokeh_stage_seconds{stage}    histogram: decode, preprocess, inference, mask, background, blend,
                                    encode, output, record, latency (stats.STAGES)
    pibokeh_fps{direction}          frames per second in / out over the last 2 s
    pibokeh_infer_every             the model runs on every Nth frame (moved by --target-fps)
    pibokeh_viewers, _viewers_max, _viewers_served_total, _reconnects_total, _reloads_total{result}
    pibokeh_recording, _recording_bytes
    pibokeh_model_info{name,path,family,backend,input,threads}
    pibokeh_soc_temperature_celsius, _thermal_zone_celsius{zone,type},
    pibokeh_cpu_frequency_hertz{cpu}, _cpu_max_frequency_hertz{cpu},
    pibokeh_throttled{flag}, _throttled_since_boot{flag}   only where the machine has them
    process_resident_memory_bytes, process_cpu_seconds_total, ...   (prometheus_client)
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from .. import thermal
from ..stats import Stats


class Watched(Protocol):
    """What the collector reads: the pipeline's snapshot, its Stats (histograms) and heat monitor."""
    stats: Stats
    heat: thermal.Monitor

    def snapshot(self) -> dict[str, Any]: ...


class Viewers(Protocol):
    clients: int
    max_clients: int
    served: int


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


class PipelineCollector(Collector):
    """Every pibokeh_* metric, built at each scrape from one pipeline snapshot."""

    def __init__(self, pipeline: Watched, viewers: Viewers | None = None):
        self.pipeline = pipeline
        self.viewers = viewers

    def describe(self) -> list[Metric]:
        return []  # nothing to check at registration: the names are fixed, and collect() reads a live pipeline

    def collect(self) -> Iterator[Metric]:
        snap = self.pipeline.snapshot()
        yield _gauge("pibokeh_up", "1 while the pipeline runs, 0 once it finished or failed",
                     1 if snap["state"] == "running" else 0)
        yield _counter("pibokeh_frames_in", "Frames read from the source", snap["frames_in"])
        yield _counter("pibokeh_frames_out", "Frames composed and written to the outputs", snap["frames_out"])
        yield _counter("pibokeh_frames_dropped", "Frames a slower stage never took (replaced by a newer one)",
                       snap["dropped"])
        yield _counter("pibokeh_inferences", "Model runs", snap["inferences"])
        yield _counter("pibokeh_inferences_skipped", "Model runs skipped because the scene was still (--skip-still)",
                       snap["inferences_skipped"])
        fps = GaugeMetricFamily("pibokeh_fps", "Frames per second over the last 2 s", labels=["direction"])
        fps.add_metric(["in"], snap["fps_in"])
        fps.add_metric(["out"], snap["fps_out"])
        yield fps
        yield _gauge("pibokeh_infer_every", "The model runs on every Nth frame", snap["infer_every"])
        if snap["target_fps"]:
            yield _gauge("pibokeh_target_fps", "The output rate --target-fps holds", snap["target_fps"])
            yield _counter("pibokeh_infer_every_adjustments", "Changes of infer-every made for --target-fps",
                           snap["adjustments"])
        yield self._stages()
        yield _counter("pibokeh_reconnects", "Times the source was lost and opened again", snap["reconnects"])
        reloads = CounterMetricFamily("pibokeh_reloads", "Config reloads (SIGHUP)", labels=["result"])
        reloads.add_metric(["ok"], snap["reloads"])
        reloads.add_metric(["failed"], snap["reloads_failed"])
        yield reloads
        yield from self._recording(snap["recording"])
        yield from self._viewers()
        model = InfoMetricFamily("pibokeh_model", "The model in use")
        model.add_metric([], {"name": Path(snap["model"]).name, "path": snap["model"], "family": snap["family"],
                              "backend": snap["backend"], "threads": str(snap["threads"]),
                              "input": "x".join(str(v) for v in snap["input_size"][::-1])})
        yield model
        yield _gauge("pibokeh_uptime_seconds", "Seconds since the pipeline started", snap["uptime_s"])
        yield from heat_metrics(self.pipeline.heat.read())

    def _stages(self) -> HistogramMetricFamily:
        family = HistogramMetricFamily("pibokeh_stage_seconds", "Time per frame spent in each pipeline stage",
                                       labels=["stage"])
        for name, timing in list(self.pipeline.stats.timings.items()):
            buckets, _count, total = timing.histogram()
            family.add_metric([name], [("+Inf" if b == float("inf") else repr(b), n) for b, n in buckets], total)
        return family

    def _recording(self, recording: dict[str, Any] | None) -> Iterator[Metric]:
        yield _gauge("pibokeh_recording", "1 while the output is being recorded",
                     1 if recording and recording["active"] else 0)
        if recording and recording["bytes"] is not None:
            yield _gauge("pibokeh_recording_bytes", "Size of the recording so far", recording["bytes"])

    def _viewers(self) -> Iterator[Metric]:
        if self.viewers is None:
            return
        yield _gauge("pibokeh_viewers", "Clients watching /stream.mjpg now", self.viewers.clients)
        yield _gauge("pibokeh_viewers_max", "Most simultaneous stream viewers allowed (--max-clients)",
                     self.viewers.max_clients)
        yield _counter("pibokeh_viewers_served", "Stream viewers served since the start", self.viewers.served)


def heat_metrics(reading: thermal.Reading) -> Iterator[Metric]:
    """Temperature, clock and throttling flags: only the ones this machine has (absent, not 0)."""
    if reading.soc_celsius is not None:
        yield _gauge("pibokeh_soc_temperature_celsius", "SoC temperature", reading.soc_celsius)
    if reading.zones:
        zones = GaugeMetricFamily("pibokeh_thermal_zone_celsius", "Temperature of each thermal zone",
                                  labels=["zone", "type"])
        for zone, (kind, celsius) in reading.zones.items():
            zones.add_metric([zone, kind], celsius)
        yield zones
    for name, doc, index in (("pibokeh_cpu_frequency_hertz", "Current CPU clock", 0),
                             ("pibokeh_cpu_max_frequency_hertz", "Highest CPU clock the CPU can run at", 1)):
        values = {cpu: pair[index] for cpu, pair in reading.cpus.items() if pair[index] is not None}
        if values:
            family = GaugeMetricFamily(name, doc, labels=["cpu"])
            for cpu, mhz in values.items():
                family.add_metric([str(cpu)], mhz * 1e6)
            yield family
    if reading.throttled_bits is not None:
        for name, doc, since_boot in (
                ("pibokeh_throttled", "Raspberry Pi throttling flag set now (vcgencmd get_throttled)", False),
                ("pibokeh_throttled_since_boot", "Raspberry Pi throttling flag seen since boot", True)):
            family = GaugeMetricFamily(name, doc, labels=["flag"])
            on = set(thermal.flags_of(reading.throttled_bits, since_boot))
            for flag in thermal.FLAGS.values():
                family.add_metric([flag], 1 if flag in on else 0)
            yield family


def metrics_exporter(pipeline: Watched, viewers: Viewers | None = None) -> Callable[[], tuple[bytes, str]]:
    """A function returning (body, content type) of /metrics for this pipeline, with its own registry."""
    registry = CollectorRegistry()
    registry.register(PipelineCollector(pipeline, viewers))
    ProcessCollector(registry=registry)  # process_resident_memory_bytes, process_cpu_seconds_total, ...
    PlatformCollector(registry=registry)  # python_info: which Python the Pi runs

    def render() -> tuple[bytes, str]:
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return render
