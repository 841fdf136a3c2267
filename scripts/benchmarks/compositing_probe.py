"""What each part of `pibokeh blur` costs in memory: run in a process of its own, it adds one part at
a time and prints the RSS (MB) after each as JSON (`compositing_memory.parts` reads it):

    python -m scripts.benchmarks.compositing_probe MODEL VIDEO [--live]

python (the interpreter alone), libraries (NumPy, OpenCV, PyAV, the TFLite interpreter, pibokeh),
interpreter and model (after the model's first run on a frame of the video's size), decoder (30
frames of VIDEO decoded), encoder (30 frames written as `blur` writes them, or `--live`: as a
recording). Nothing is imported before the first reading.
"""
import json
import sys
import tempfile
from pathlib import Path


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main(model: str, video: str, live: bool) -> dict:
    steps = {"python": rss_mb()}
    import numpy as np
    import pibokeh.batch  # noqa: F401 - NumPy, OpenCV, PyAV and the runtime, as a command loads them
    from pibokeh.media.video import VideoFileSink, VideoFileSource
    from pibokeh.model import open_model
    steps["libraries"] = rss_mb()
    source = VideoFileSource(video)
    seg = open_model(model, threads=2)
    seg.segment(np.zeros((source.size[1], source.size[0], 3), np.uint8))
    steps["interpreter and model"] = rss_mb()
    frame = None
    for _ in range(30):
        frame = source.read()
    steps["decoder"] = rss_mb()
    with tempfile.TemporaryDirectory() as tmp:
        sink = VideoFileSink(Path(tmp) / "probe.mp4", source.fps, source.size, live=live)
        for _ in range(30):
            sink.write(frame)
        steps["encoder"] = rss_mb()
        sink.close()
    source.close()
    return steps


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2], "--live" in sys.argv[3:])))
