"""scripts.benchmarks in the edge environment: the page generator (sections from saved data, an
earlier page's sections kept, topics absent in this branch left out), the Raspberry Pi estimate
against the published figures it is scaled from, and a short real file-throughput run."""
from __future__ import annotations

import subprocess
import sys

import pytest

from pibokeh.media.video import VideoFileSink
from scripts.benchmarks import TOPICS, accelerators, memory, page, results, throughput
from scripts.benchmarks.pi_estimate import PUBLISHED, pi_estimate, which_model
from tests.conftest import ROOT, TINY
from tests.helpers import one_line_error, scene, write_clip


# ---- the Raspberry Pi estimate ------------------------------------------------------------------------

def test_the_published_model_is_estimated_at_its_published_times():
    # 0.728 GMAC is the published model's own compute: the estimate must give back what was published
    assert pi_estimate(728_000_000) == {"Raspberry Pi 4": 82.7, "Raspberry Pi 5": 16.9}
    assert pi_estimate(2 * 728_000_000) == {"Raspberry Pi 4": 165.4, "Raspberry Pi 5": 33.8}
    assert pi_estimate(None) == {} and pi_estimate(0) == {}
    assert "aallan/benchmarking-ml-on-the-edge" in PUBLISHED["source"]


def row(depth: str, stride: int, width: int, height: int, miou: float, pi4: float, pi5: float) -> dict:
    return {"depth": depth, "stride": stride, "width": width, "height": height, "accuracy": {"miou": miou},
            "pi": {"Raspberry Pi 4": pi4, "Raspberry Pi 5": pi5}}


def test_which_model_is_the_most_accurate_frame_shaped_one_at_ten_per_second():
    rows = [row("1.0", 16, 513, 289, 0.609, 179, 36), row("1.0", 16, 513, 385, 0.647, 236, 48),
            row("0.5", 16, 513, 289, 0.576, 56, 12), row("0.5", 16, 513, 385, 0.620, 74, 15),
            row("1.0", 8, 513, 513, 0.90, 5, 1)]  # square: never the answer, however good
    answer = which_model(rows)
    # Pi 4: depth 1.0's slower shape (236 ms) is under 10/s, depth 0.5's (74 ms) is not: 1000/74 = 13.5
    assert "**Raspberry Pi 4**: depth 0.5, output stride 16, the frame's shape (~14 inferences/s" in answer
    # Pi 5: both fast enough; depth 1.0 is more accurate (0.628 vs 0.598 on average): 1000/48 = 20.8
    assert "**Raspberry Pi 5**: depth 1.0, output stride 16, the frame's shape (~21 inferences/s" in answer
    # nothing fast enough: the fastest
    slow = [row("1.0", 16, 513, 289, 0.6, 500, 300), row("0.5", 16, 513, 289, 0.5, 400, 200)]
    assert "**Raspberry Pi 4**: depth 0.5" in which_model(slow)


# ---- the page ------------------------------------------------------------------------------------------

MEMORY = {"env": "edge environment (no TensorFlow)", "clip": "c.mp4", "model": "/m/deeplabv3_mnv2_pascal_quant.tflite",
          "frames_blurred": 120, "blur_peak_rss_mb": 381.2, "loaded_rss_mb": 144.0, "bench": {"runs": []}}


def test_sections_come_from_saved_data_and_an_earlier_page_keeps_the_rest(tmp_path):
    previous = ("# Benchmarks\n\nold header\n\n<!-- benchmarks: reference -->\n## Reference vs default, per stage\n\n"
                "old figures 999 ms\n<!-- /benchmarks: reference -->\n\n<!-- benchmarks: memory -->\n## Memory\n\n"
                "old 500 MB\n<!-- /benchmarks: memory -->\n")
    results.save(results.record("memory", MEMORY, "python -m scripts.benchmarks --only memory"), tmp_path)
    text = page.build(page.topic_modules(), tmp_path, previous)
    assert "old figures 999 ms" in text  # no data for it: the earlier page's section stays
    assert "old 500 MB" not in text and "peak RSS **381 MB**" in text  # data: rendered from it
    assert "| 381 MB | **missed** |" in text  # 381 > 250
    assert "| `reference` | kept from the page before (no saved data) |" in text
    assert "| `memory` | " in text and "`python -m scripts.benchmarks --only memory`" in text
    assert "old header" not in text and text.startswith("# Benchmarks\n")
    assert text.index("## Reference vs default") < text.index("## Memory") < text.index("## Reproduce")
    # rendered again from its own output, the page is the same
    assert page.build(page.topic_modules(), tmp_path, text) == text


def test_topics_in_other_branches_are_left_out_when_absent():
    found = page.topic_modules(("throughput", "no_such_topic"))
    assert list(found) == ["throughput"] and found["throughput"] is throughput
    assert {"accelerators", "compositing", "look"} <= set(TOPICS)
    for module in page.topic_modules().values():
        assert callable(module.measure) and callable(module.render) and callable(module.main)


def test_an_unknown_topic_is_one_line():
    proc = subprocess.run([sys.executable, "-m", "scripts.benchmarks", "--only", "nope"], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)
    assert "no topic module nope" in one_line_error(proc)


def test_accelerators_keep_the_ai_camera_cards_when_no_conversion_is_at_hand(tmp_path, monkeypatch):
    """Measuring the CPU's share again (seconds) must not drop the AI Camera conversions (minutes each,
    a toolchain of their own) from the page: with none given or in the output folder, the saved ones stay."""
    monkeypatch.setattr(accelerators, "compositing", lambda frames: [])
    saved = {"imx500": [{"graph": "deeplabv3_mnv2_dm05_pascal.pb", "size": [321, 241]}]}
    monkeypatch.setattr(accelerators.results, "load", lambda topic: {"data": saved} if topic == "accelerators" else None)
    assert accelerators.measure(out=tmp_path)["imx500"] == saved["imx500"]
    monkeypatch.setattr(accelerators.results, "load", lambda topic: None)
    assert accelerators.measure(out=tmp_path)["imx500"] == []  # nothing saved either: an empty table


def test_memory_section_says_what_the_target_is():
    text = memory.render({**MEMORY, "blur_peak_rss_mb": 200.0})
    assert "| 200 MB | **met** |" in text and "<= 250 MB" in text


# ---- file throughput -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def measured(tmp_path_factory) -> dict:
    video = write_clip(tmp_path_factory.mktemp("throughput") / "scene.mp4", frames=12)
    return throughput.measure(model=TINY, video=video, sizes=((320, 180),), threads=(1, 2), frames=8, rounds=1)


def test_serial_and_threaded_write_every_frame_the_same(measured):
    assert [(c["size"], c["threads"]) for c in measured["cells"]] == [([320, 180], 1), ([320, 180], 2)]
    for cell in measured["cells"]:
        for mode in throughput.MODES:
            assert [run["frames"] for run in cell["runs"][mode]] == [8]
        assert cell["same_output"] is True  # the engine's promise: the serial path's frames and timestamps
    assert measured["model"] == str(TINY) and measured["model_origin"] == "given"


def video(path, times) -> object:
    with VideoFileSink(path, 30.0, (160, 120)) as sink:
        for t in times:
            sink.write(scene((160, 120), t)[0])
    return path


def test_same_output_tells_different_videos_apart(tmp_path):
    a = video(tmp_path / "a.mp4", [0, 1, 2, 3])
    assert throughput.same_output(a, video(tmp_path / "a2.mp4", [0, 1, 2, 3]))
    assert not throughput.same_output(a, video(tmp_path / "b.mp4", [0, 1, 9, 3]))  # one frame differs
    assert not throughput.same_output(a, video(tmp_path / "c.mp4", [0, 1, 2]))  # one frame short


def test_the_throughput_section(measured):
    text = throughput.render(measured)
    assert text.startswith("## File throughput: serial vs the threaded engine\n")
    assert "| 320x180 | 1 |" in text and "| 320x180 | 2 |" in text
    assert "| same output frames and timestamps as serial | every run | yes | **met** |" in text
