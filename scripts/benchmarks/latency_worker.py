"""Inference latency of several models in one process of the edge environment, interleaved: every
(model, threads) interpreter loaded at once, then `--rounds` rounds each timing one inference of
every one in turn, so a busy machine slows them alike. Prints one JSON object. Run by fast_models
(one process per interpreter: running both in one process can abort):

    python -m scripts.benchmarks.latency_worker --backend ai_edge_litert --threads 1,2 M1.tflite M2.tflite
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, Callable, Sequence

import numpy as np

from pibokeh import bench
from pibokeh.model import fit_input, open_model
from pibokeh.model.interpreters import interpreter_class


def cells(models: Sequence[str], backend: str, threads: Sequence[int], published: str | None
          ) -> list[tuple[str, int, Callable[[], Any]]]:
    """(model, threads, one inference) for every model at every thread count; `published` (the
    file the Pi estimate is scaled from, not a segmentation model) as a bare interpreter invoke."""
    out: list[tuple[str, int, Callable[[], Any]]] = []
    for n in threads:
        for path in models:
            seg = open_model(path, backend=backend, threads=n)
            height, width = seg.input_size
            rgb, _ = fit_input(bench.synthetic_frame((width, height), 0), seg.input_size)
            out.append((path, n, lambda seg=seg, rgb=rgb: seg.infer(rgb)))
        if published:
            interpreter = interpreter_class(backend)[1](model_path=published, num_threads=n)
            interpreter.allocate_tensors()
            detail = interpreter.get_input_details()[0]
            interpreter.set_tensor(detail["index"], np.full(detail["shape"], 128, detail["dtype"]))
            out.append((published, n, interpreter.invoke))
    return out


def time_rounds(work: Sequence[tuple[str, int, Callable[[], Any]]], rounds: int) -> list[list[float]]:
    """ms of every cell in every round, after one untimed warm-up (it allocates and packs weights)."""
    for _, _, run in work:
        run()
    times: list[list[float]] = [[] for _ in work]
    for _ in range(rounds):
        for (_, _, run), ms in zip(work, times):
            start = time.perf_counter()
            run()
            ms.append((time.perf_counter() - start) * 1000.0)
    return times


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.benchmarks.latency_worker",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", required=True)
    parser.add_argument("--threads", default="1,2,4")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--published", default=None, help="also time this TFLite file (bare invoke)")
    parser.add_argument("models", nargs="+")
    args = parser.parse_args(argv)
    work = cells(args.models, args.backend, [int(t) for t in args.threads.split(",")], args.published)
    times = time_rounds(work, args.rounds)
    runs = [{"model": str(path), "backend": args.backend, "threads": n, "median_ms": round(float(np.median(t)), 2),
             "p90_ms": round(float(np.percentile(t, 90)), 2)} for (path, n, _), t in zip(work, times)]
    print(json.dumps({"rounds": args.rounds, "peak_rss_mb": bench.peak_rss_mb(), "runs": runs}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
