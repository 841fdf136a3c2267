"""/metrics from a real pipeline and preview server, read back with prometheus_client's own parser:
the same numbers as /stats, every stage's histogram, the process collector, heat metrics present on a
(fake) Pi and absent elsewhere, and one registry per server."""
from __future__ import annotations

import http.client
import json
import time

import numpy as np
import pytest
from pibokeh import thermal
from pibokeh.camera.metrics import metrics_exporter
from pibokeh.camera.preview import PreviewHub, PreviewServer
from pibokeh.camera.recording import Recording
from pibokeh.camera.sources import LiveSource
from pibokeh.camera.status import LiveStatus
from pibokeh.engine import Engine, Settings
from pibokeh.stats import STAGES, Stats
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import TINY
from tests.fakes.fake_pi import fake_pi


class Frames(LiveSource):
    """`count` frames of a red square on grey at `fps` (0 = no end)."""

    def __init__(self, count: int = 0, fps: float = 60.0, size=(160, 120)):
        self.count, self.fps, self.size, self.name = count, fps, size, "frames"
        self.read_count = 0

    def read(self):
        if self.count and self.read_count >= self.count:
            return None
        time.sleep(1.0 / self.fps)
        self.read_count += 1
        frame = np.full((self.size[1], self.size[0], 3), 110, np.uint8)
        frame[30:90, 40:80] = (20, 20, 230)
        return frame


def serve(pipeline: LiveStatus, hub: PreviewHub) -> PreviewServer:
    """The preview server wired as `pibokeh camera` wires it."""
    server = PreviewServer(("127.0.0.1", 0), hub, pipeline.snapshot, lambda: {})
    server.metrics = metrics_exporter(pipeline, server)
    hub.on_encode = lambda seconds: pipeline.stats.record("encode", seconds)
    return server.start()


def get(server: PreviewServer, path: str) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection(*server.server_address[:2], timeout=10)
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, dict(response.getheaders()), body


def scrape(server: PreviewServer) -> dict[str, dict[tuple, float]]:
    """{sample name: {sorted label pairs: value}} of /metrics, parsed by prometheus_client."""
    status, headers, body = get(server, "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=")
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def read_once(pipeline: LiveStatus) -> tuple[dict, dict]:
    """/metrics and /stats of a server made for `pipeline`, read once."""
    server = serve(pipeline, PreviewHub())
    try:
        return scrape(server), json.loads(get(server, "/stats")[2])
    finally:
        server.stop()


def one(samples: dict, name: str, **labels) -> float:
    return samples[name][tuple(sorted(labels.items()))]


def test_metrics_and_stats_are_the_same_numbers(segmenter):
    hub = PreviewHub()
    engine = Engine(Frames(count=30), segmenter, [hub], Settings(infer_every=2))
    pipeline = LiveStatus(engine, thermal.Monitor(root=None))
    server = serve(pipeline, hub)
    try:
        engine.start()
        assert engine.wait(60)
        get(server, "/snapshot.jpg")  # one preview JPEG encode: the encode stage
        stats = json.loads(get(server, "/stats")[2])
        samples = scrape(server)
    finally:
        engine.join()
        server.stop()
    assert stats["state"] == "finished" and one(samples, "pibokeh_up") == 0
    for key, name in (("frames_in", "pibokeh_frames_in_total"), ("frames_out", "pibokeh_frames_out_total"),
                      ("dropped", "pibokeh_frames_dropped_total"), ("inferences", "pibokeh_inferences_total"),
                      ("reconnects", "pibokeh_reconnects_total"), ("infer_every", "pibokeh_infer_every")):
        assert one(samples, name) == stats[key], key
    assert stats["frames_out"] > 0 and stats["inferences"] < stats["frames_in"]  # infer every 2nd frame
    assert one(samples, "pibokeh_reloads_total", result="ok") == 0
    assert one(samples, "pibokeh_reloads_total", result="failed") == 0
    # every stage has a histogram; the counts are the events of that stage
    counts = {stage: one(samples, "pibokeh_stage_seconds_count", stage=stage) for stage in STAGES}
    assert counts["inference"] == counts["mask"] == stats["inferences"]
    assert counts["background"] == counts["blend"] == counts["output"] == counts["latency"] == stats["frames_out"]
    assert counts["decode"] == stats["frames_in"] and counts["encode"] == 1
    assert counts["preprocess"] == stats["inferences"]
    buckets = samples["pibokeh_stage_seconds_bucket"]
    inference = sorted((float(dict(k)["le"]), v) for k, v in buckets.items() if dict(k)["stage"] == "inference")
    assert inference[-1] == (float("inf"), counts["inference"])
    assert all(a[1] <= b[1] for a, b in zip(inference, inference[1:]))  # cumulative
    assert one(samples, "pibokeh_stage_seconds_sum", stage="inference") > 0
    # the recent averages of /stats come from the same timings, under the names `pibokeh bench` prints
    assert set(STAGES) <= set(stats["ms"]) and stats["ms"]["inference"] > 0
    (labels, value), = samples["pibokeh_model_info"].items()
    labels = dict(labels)
    assert value == 1 and labels["name"] == TINY.name and labels["backend"] == stats["backend"]
    assert labels["input"] == "65x65" and labels["threads"] == "1" and labels["family"] == stats["family"]
    assert one(samples, "pibokeh_viewers") == 0 and one(samples, "pibokeh_viewers_max") == 10
    assert one(samples, "pibokeh_recording") == 0 and "pibokeh_recording_bytes" not in samples
    # process RSS and CPU from prometheus_client's process collector
    assert one(samples, "process_resident_memory_bytes") > 10e6 and one(samples, "process_cpu_seconds_total") > 0
    assert "pibokeh_target_fps" not in samples


def test_heat_metrics_are_absent_off_a_pi(segmenter, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    pipeline = LiveStatus(Engine(Frames(count=3), segmenter, []), thermal.Monitor(root=tmp_path / "none"))
    samples, stats = read_once(pipeline)
    assert not [name for name in samples if "temperature" in name or "frequency" in name or "throttled" in name]
    assert stats["thermal"] == {}


def test_heat_metrics_of_a_throttled_pi(segmenter, tmp_path, monkeypatch):
    env = fake_pi(tmp_path / "pi", celsius=82.3, cur_mhz=1000, max_mhz=1800, throttled="0x50005")
    monkeypatch.setenv("PATH", env["PATH"])
    pipeline = LiveStatus(Engine(Frames(count=3), segmenter, []), thermal.Monitor(root=tmp_path / "pi"))
    samples, stats = read_once(pipeline)
    assert one(samples, "pibokeh_soc_temperature_celsius") == pytest.approx(82.3)
    assert one(samples, "pibokeh_thermal_zone_celsius", zone="thermal_zone0", type="cpu-thermal") == pytest.approx(82.3)
    assert {dict(k)["cpu"] for k in samples["pibokeh_cpu_frequency_hertz"]} == {"0", "1", "2", "3"}
    assert one(samples, "pibokeh_cpu_frequency_hertz", cpu="0") == 1.0e9
    assert one(samples, "pibokeh_cpu_max_frequency_hertz", cpu="3") == 1.8e9
    now = {dict(k)["flag"]: v for k, v in samples["pibokeh_throttled"].items()}
    assert now == {"under_voltage": 1, "frequency_capped": 0, "throttled": 1, "soft_temperature_limit": 0}
    assert one(samples, "pibokeh_throttled_since_boot", flag="throttled") == 1
    assert stats["thermal"] == {"soc_celsius": 82.3, "cpu_mhz": 1000, "cpu_max_mhz": 1800, "throttled": "0x50005",
                                "throttled_now": ["under_voltage", "throttled"],
                                "throttled_since_boot": ["under_voltage", "throttled"]}


def test_recording_state_and_bytes_while_running(segmenter, tmp_path):
    # as `camera --record` makes it: fragmented, under its final name, a fragment a second
    recording = Recording(tmp_path / "rec.mp4", 30, (160, 120), skips=False)
    engine = Engine(Frames(fps=60), segmenter, [recording], Settings(target_fps=20))
    pipeline = LiveStatus(engine, recording=recording)
    server = serve(pipeline, PreviewHub())
    try:
        engine.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the first fragment reaches the disk after a second or so
            samples = scrape(server)
            if engine.stats.frames_out >= 40 and one(samples, "pibokeh_recording_bytes") > 0:
                break
            time.sleep(0.2)
        stats = json.loads(get(server, "/stats")[2])
    finally:
        engine.join()
        recording.close()
        server.stop()
    assert one(samples, "pibokeh_recording") == 1 and one(samples, "pibokeh_recording_bytes") > 0
    assert stats["recording"]["active"] and stats["recording"]["path"] == str(tmp_path / "rec.mp4")
    assert stats["recording"]["frames"] >= 40
    assert one(samples, "pibokeh_target_fps") == 20 and stats["target_fps"] == 20
    assert recording.bytes_written == (tmp_path / "rec.mp4").stat().st_size > 0  # the finished file's size


def test_each_server_has_its_own_registry(segmenter):
    pipelines = [LiveStatus(Engine(Frames(count=2), segmenter, [])) for _ in range(2)]
    servers = [serve(p, PreviewHub()) for p in pipelines]  # the global registry would refuse the second
    try:
        pipelines[0].stats.frames_in = 5
        assert one(scrape(servers[0]), "pibokeh_frames_in_total") == 5
        assert one(scrape(servers[1]), "pibokeh_frames_in_total") == 0
    finally:
        for server in servers:
            server.stop()


def test_a_server_without_metrics_answers_404():
    server = PreviewServer(("127.0.0.1", 0), PreviewHub(), lambda: {}, lambda: {}).start()
    try:
        assert get(server, "/metrics")[0] == 404
    finally:
        server.stop()


def test_stats_take_new_stage_names():
    stats = Stats()
    stats.record("background", 0.01)
    stats.record("denoise", 0.003)  # a stage added later shows up without a change here
    ms = stats.ms
    assert ms["background"] == pytest.approx(10) and ms["denoise"] == pytest.approx(3)
    assert stats.timings["denoise"].count == 1 and stats.timings["denoise"].histogram()[1] == 1
