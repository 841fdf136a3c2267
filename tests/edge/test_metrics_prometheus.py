"""`pibokeh camera` watched as a fleet is watched: a real Prometheus server scrapes a real camera
process; and a (fake) throttled Pi shows on /stats, /metrics and the page in headless Chromium."""
from __future__ import annotations

import re
import signal
import subprocess
import urllib.parse

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import TINY
from tests.edge.camera_process import Camera
from tests.fakes.fake_pi import fake_pi
from tests.prometheus import Prometheus, scrape_config


def test_prometheus_scrapes_the_camera_frame_counter_and_inference_histogram(tmp_path, clip):
    camera = Camera("--source", f"video:{clip}", "--loop", "--serve", "127.0.0.1:0", "--model", TINY,
                    "--duration", 180, "-q")
    target = urllib.parse.urlparse(camera.wait_served()).netloc
    config = tmp_path / "prometheus.yml"
    config.write_text(scrape_config([target]))
    prometheus = Prometheus(tmp_path, config)
    try:
        prometheus.wait_for(f'up{{instance="{target}"}}', lambda r: r[0]["value"][1] == "1")
        # the frame counter, as Prometheus stored it over the last seconds: increasing from scrape to scrape
        series = prometheus.wait_for("pibokeh_frames_out_total[20s]", lambda r: len(r[0]["values"]) >= 3)
        values = [float(v) for _, v in series[0]["values"]]
        assert values == sorted(values) and values[-1] > values[0] > 0
        assert float(prometheus.query("rate(pibokeh_frames_out_total[5s])")[0]["value"][1]) > 1
        # the inference histogram: populated, and its median a plausible model time
        count = prometheus.wait_for('pibokeh_stage_seconds_count{stage="inference"}', lambda r: float(r[0]["value"][1]) > 10)
        assert float(count[0]["value"][1]) > 10
        median = prometheus.query('histogram_quantile(0.5, pibokeh_stage_seconds_bucket{stage="inference"})')
        assert 0 < float(median[0]["value"][1]) < 1.0
        buckets = prometheus.query('pibokeh_stage_seconds_bucket{stage="inference"}')
        assert len(buckets) >= 10 and {b["metric"]["le"] for b in buckets} >= {"0.01", "0.1", "+Inf"}
        stages = {r["metric"]["stage"] for r in prometheus.query("pibokeh_stage_seconds_count")}
        assert {"decode", "preprocess", "inference", "mask", "background", "blend", "encode", "output", "latency"} <= stages
        info = prometheus.query("pibokeh_model_info")[0]["metric"]
        assert info["name"] == TINY.name and info["backend"] and info["input"] == "65x65"
        assert float(prometheus.query("process_resident_memory_bytes")[0]["value"][1]) > 10e6
        assert prometheus.query("process_cpu_seconds_total")
        # a machine without thermal zones or vcgencmd: those series do not exist, rather than reading 0
        assert prometheus.query("pibokeh_soc_temperature_celsius") == [] and prometheus.query("pibokeh_throttled") == []
    finally:
        prometheus.stop()
        camera.proc.send_signal(signal.SIGTERM)
    assert camera.finish() == 0, camera.stderr


def test_a_throttled_pi_shows_on_stats_metrics_and_the_page_and_target_fps_backs_off(tmp_path, clip, chromium):
    browser = chromium
    pi = tmp_path / "pi"
    env = fake_pi(pi, celsius=84.2, cur_mhz=600, max_mhz=1800, throttled="0x50005")
    config = tmp_path / "pibokeh.toml"
    config.write_text(f'source = "video:{clip}"\nloop = true\nmodel = "{TINY}"\nserve = "127.0.0.1:0"\n'
                      "target-fps = 5\nduration = 120\nquiet = true\n")
    camera = Camera("--config", config, env=env)
    url = camera.wait_served()
    camera.wait_for(lambda: camera.stats()["frames_out"] > 3, what="frames")
    thermal = camera.stats()["thermal"]
    assert thermal == {"soc_celsius": 84.2, "cpu_mhz": 600, "cpu_max_mhz": 1800, "throttled": "0x50005",
                       "throttled_now": ["under_voltage", "throttled"],
                       "throttled_since_boot": ["under_voltage", "throttled"]}
    # the tiny model reaches 5 fps easily: only the heat makes --target-fps infer less often
    camera.wait_for(lambda: camera.stats()["infer_every"] >= 2, timeout=30, what="infer-every raised")
    assert "throttled)" in camera.stderr  # the adjustment says why
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
             "--timeout=20000", "--window-size=1000,900"]
    for _ in range(3):  # as in test_camera_cli: the first /stats fetch may lose against the load event
        dom = subprocess.run([browser, *flags, "--virtual-time-budget=5000", "--dump-dom", url],
                             capture_output=True, text=True, timeout=120).stdout
        if "84.2 °C" in dom:
            break
    assert re.search(r'<td class="bad">84\.2 °C</td>', dom), dom
    assert "600 / 1800 MHz" in dom and ", adaptive)" in dom
    assert re.search(r'<td class="bad">now: under-voltage, throttled; since boot: under-voltage, throttled '
                     r'\(0x50005\)</td>', dom), dom
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(camera.get("/metrics")[1].decode()) for s in family.samples}
    assert samples[("pibokeh_throttled", (("flag", "throttled"),))] == 1
    assert samples[("pibokeh_soc_temperature_celsius", ())] == pytest.approx(84.2)
    assert samples[("pibokeh_infer_every", ())] >= 2 and samples[("pibokeh_target_fps", ())] == 5
    # the throttling ends (the flags "since boot" stay): the page and /stats follow within seconds
    (pi / "throttled").write_text("0x50000")
    camera.wait_for(lambda: camera.stats()["thermal"]["throttled_now"] == [], timeout=20, what="throttling over")
    # a broken config on SIGHUP: refused, counted as a failed reload
    config.write_text("blur-kernel = 4\n")
    camera.proc.send_signal(signal.SIGHUP)
    camera.wait_for(lambda: "reload failed" in camera.stderr, what="failed reload")
    metrics = camera.get("/metrics")[1].decode()
    assert 'pibokeh_reloads_total{result="failed"} 1.0' in metrics
    assert 'pibokeh_reloads_total{result="ok"} 0.0' in metrics and camera.stats()["reloads_failed"] == 1
    camera.proc.send_signal(signal.SIGTERM)
    assert camera.finish() == 0, camera.stderr
