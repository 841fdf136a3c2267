"""The accelerators (AI Camera, AI Kit / AI HAT+, Coral): published inference figures beside the CPU's,
the CPU's share of each frame measured here (what is left for the Pi when the network runs elsewhere),
the frame rate that gives on a Raspberry Pi 5, and the AI Camera conversions' accuracy and memory.

    python -m scripts.benchmarks.accelerators                 # compositing cost + the converted folders below
    python -m scripts.benchmarks.accelerators --convert       # also run the IMX500 conversions (long)
    python -m scripts.benchmarks.accelerators --imx500 DIR... # cards of conversions made before

No accelerator is attached here: their inference figures are the vendors' (with sources); the CPU
figures are measured with the runtime's own chain (`pibokeh.chain`, timed by `pibokeh.bench`); the Pi 5
figures scale them by a stated factor (an estimate); the IMX500 accuracy is MCT's simulated quantization
on the CPU, from the converter's own card.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import results
from .inputs import CALIB, CORAL, SHARED, VIDEO, VOC, need
FRAME_SIZES = ((1280, 720), (1920, 1080))
# The conversions the docs show: (graph, size); the first is the one scripts/test.sh makes.
IMX500_SIZES = (("deeplabv3_mnv2_dm05_pascal.pb", "321x241"), ("deeplabv3_mnv2_dm05_pascal.pb", "513x289"),
                ("deeplabv3_mnv2_dm10_pascal_weightquant.pb", "449x257"),
                ("deeplabv3_mnv2_dm10_pascal_weightquant.pb", "385x289"))
# Pi 5 (Cortex-A76, 2.4 GHz) per-core time for this kind of work vs this machine's core: the range the
# README's measurements give (x264: a Pi 4 core 4-6x slower than here; a Pi 5 core ~2-3x a Pi 4's).
PI5_SLOWER = (1.5, 3.0)
PUBLISHED = [
    {"device": "Raspberry Pi AI Kit / AI HAT+ 13 TOPS (Hailo-8L)", "network": "deeplab_v3_mobilenet_v2_wo_dilation "
     "(Google's checkpoint, output stride 16), 513x513", "fps": 59.0, "ms": 1000 / 59.0,
     "accuracy": "mIoU 71.46 float, 71.26 on the device (PASCAL VOC val)",
     "source": "Hailo Model Zoo, docs/public_models/HAILO8L/HAILO8L_semantic_segmentation.rst (compiled v2.12, "
               "batch 1; 57.7 fps in v2.10)"},
    {"device": "AI HAT+ 26 TOPS (Hailo-8)", "network": "deeplab_v3_mobilenet_v2_wo_dilation, 513x513", "fps": 262.2,
     "ms": 1000 / 262.2, "accuracy": "as above",
     "source": "Hailo Model Zoo, docs/public_models/HAILO8/HAILO8_semantic_segmentation.rst (compiled v2.10, batch 1)"},
    {"device": "Coral USB Accelerator (Edge TPU)", "network": "deeplabv3_mnv2_pascal_quant_edgetpu (depth 1.0), 513x513",
     "fps": 1000 / 43.0, "ms": 43.0, "accuracy": "mIoU 0.631 / person 0.835 here (its CPU twin, 31 photos)",
     "source": "coral.ai/models/semantic-segmentation (latency with a USB Accelerator on a desktop CPU)"},
    {"device": "Coral USB Accelerator (Edge TPU)", "network": "deeplabv3_mnv2_dm05_pascal_quant_edgetpu (depth 0.5), "
     "513x513", "fps": 1000 / 36.8, "ms": 36.8, "accuracy": "mIoU 0.589 / person 0.800 here (its CPU twin)",
     "source": "coral.ai/models/semantic-segmentation"},
    {"device": "Raspberry Pi AI Camera (Sony IMX500)", "network": "this project's conversion (below)", "fps": None,
     "ms": None, "accuracy": "below (MCT's simulation on the CPU)",
     "source": "no published figure for DeepLab MobileNetV2; on a device picamera2's IMX500.get_kpi_info(metadata) "
               "gives the network's own time per frame"},
]
CPU_MODELS = [  # the CPU rows the accelerators stand beside (README, "Which model is fast": Pi 5 estimates)
    {"device": "Raspberry Pi 5 CPU (estimate)", "network": "depth 1.0, stride 16, 513x289 int8 (recommended)", "ms": 36.0},
    {"device": "Raspberry Pi 5 CPU (estimate)", "network": "depth 0.5, stride 16, 513x289 int8", "ms": 12.0},
    {"device": "Raspberry Pi 5 CPU (estimate)", "network": "depth 1.0, stride 8, 513x513 int8 (the graph's own)",
     "ms": 205.0},
]


# ---- the CPU's share of a frame -----------------------------------------------------------------

def _labels_for(frame: np.ndarray) -> np.ndarray:
    """A real class map for the frame (Coral's DeepLab on the CPU), so the mask is a person's, not a blob."""
    from pibokeh.model import open_model
    return open_model(need(CORAL), threads=2).segment(frame)


def _frame(size: tuple[int, int]) -> np.ndarray:
    import cv2
    video = need(VIDEO)
    cap = cv2.VideoCapture(str(video))
    ok, frame = cap.read()
    cap.release()
    if not ok:
        from pibokeh.errors import InputError
        raise InputError(f"{video}: cannot read a frame")
    return cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR)


def compositing(sizes: Sequence[tuple[int, int]] = FRAME_SIZES, frames: int = 30) -> list[dict[str, Any]]:
    """ms per frame the CPU spends around an accelerator, by the runtime's own chain: for a network on the
    sensor (IMX500) the mask, background, blend and the preview's JPEG; for one on a device fed by the CPU
    (Hailo, Edge TPU) also the letterbox into 513x513 and the crop. Medians of `frames`, interleaved."""
    from pibokeh.bench import StageClock
    from pibokeh.chain import Chain
    from pibokeh.media.images import encode_image
    from pibokeh.model import Backend

    class Fixed(Backend):  # the device's answer, given: only the CPU's work is timed
        def __init__(self, labels: np.ndarray, on_sensor: bool):
            self.labels_out, self.on_sensor, self.input_size = labels, on_sensor, (513, 513)
            self.backend, self.family, self.path = "fixed", "timing stand-in", Path("fixed")

        def infer(self, rgb: np.ndarray) -> np.ndarray:
            return self.labels_out

        def from_metadata(self, metadata: Any, frame_size: tuple[int, int]) -> np.ndarray:
            return self.labels_out

    results = []
    for size in sizes:
        frame = _frame(size)
        labels = _labels_for(frame)
        rows: dict[str, list[dict[str, float]]] = {"sensor": [], "device": []}
        chains = {}
        for kind in rows:
            clock = StageClock()
            chains[kind] = (Chain(Fixed(labels, kind == "sensor"), record=clock.record), clock)
        for i in range(frames + 2):
            for kind, (chain, clock) in chains.items():
                clock.ms.clear()
                out = chain.compose(frame, chain.mask(chain.segment(frame, metadata={}), frame.shape[:2]))
                start = time.perf_counter()
                encode_image(out, ".jpg")
                clock.record("encode", time.perf_counter() - start)
                if i >= 2:  # two warm-up frames
                    rows[kind].append(dict(clock.ms))
        stages = ("preprocess", "mask", "background", "blend", "encode")
        for kind, timed in rows.items():
            med = {s: round(float(np.median([r.get(s, 0.0) for r in timed])), 2) for s in stages}
            total = round(float(np.median([sum(r.get(s, 0.0) for s in stages) for r in timed])), 2)
            results.append({"size": list(size), "network": kind, "stages_ms": med, "total_ms": total})
    return results


# ---- the IMX500 conversions ---------------------------------------------------------------------

def convert_imx500(out: Path, specs: Sequence[tuple[str, str]] = IMX500_SIZES) -> list[Path]:
    """Run `pibokeh-convert --target imx500` for each (graph, size) into `out` (skipping done ones)."""
    folders = []
    for graph, size in specs:
        folder = out / f"{graph.split('_pascal')[0].replace('deeplabv3_', '')}_os16_{size}"
        if not (folder / "network.json").is_file():
            cmd = [str(Path(sys.executable).with_name("pibokeh-convert")), str(SHARED / "frozen_graphs" / graph),
                   "--target", "imx500", "-o", str(folder), "--size", size, "--calib", str(CALIB),
                   "--eval", str(VOC), "--quiet"]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd[1:4])} {size}: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")
        folders.append(folder)
    return folders


def imx500_cards(folders: Sequence[Path]) -> list[dict[str, Any]]:
    """What the docs show of each conversion, from its card."""
    rows = []
    for folder in folders:
        card = json.loads((Path(folder) / "network.json").read_text())
        v, chip = card["validation"], card["imx500"]
        rows.append({
            "graph": Path(card["source"]["path"]).name, "size": [card["input"]["width"], card["input"]["height"]],
            "output_stride": card["output_stride"], "fits": chip["fits"], "memory_mb": chip["memory_usage_mb"],
            "model_mb": chip["model_memory_mb"], "packer_mb": round(chip["packer"]["size_bytes"] / 1e6, 2),
            "miou": v["model"]["miou"], "float_miou": v["reference"]["miou"], "drop_points": v["miou_drop_points"],
            "person_iou": v["model"]["person_iou"], "float_person_iou": v["reference"]["person_iou"],
            "agreement": v["agreement"], "rebuild_agreement": v["rebuild"]["agreement_with_graph"],
            "twin_agreement": (v.get("cpu_twin") or {}).get("agreement_with_quantized"),
            "cropped": (v.get("cropped_to_aspect") or {}).get("aspect"), "seconds": card["converter"].get("seconds"),
        })
    return rows


def measure(imx500: Sequence[Path] = (), convert: bool = False, out: Path = Path("out/accelerators"),
            frames: int = 30) -> dict[str, Any]:
    """Everything the section shows: published figures, the CPU's share measured here, and the cards of
    the IMX500 conversions in `imx500` (else those already in `out`; with `convert`, made there). With
    none at hand (a conversion takes minutes and a toolchain of its own), the cards saved last time
    are kept, so measuring the CPU's share again does not drop them from the page."""
    folders = list(imx500) or sorted(p.parent for p in Path(out).glob("*/network.json"))
    if convert:
        folders += [f for f in convert_imx500(Path(out)) if f not in folders]
    saved = results.load("accelerators")
    cards = imx500_cards(folders) if folders else (saved["data"].get("imx500", []) if saved else [])
    return {"measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "published": PUBLISHED,
            "cpu_models": CPU_MODELS, "pi5_slower": list(PI5_SLOWER),
            "compositing": compositing(frames=frames), "imx500": cards}


# ---- the section --------------------------------------------------------------------------------

def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
                     + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def expected_fps(ms_device: float | None, ms_cpu: float, slower: Sequence[float]) -> str:
    """Frames a second on a Pi 5: the device and the CPU work in parallel (the engine's segment and
    compose threads), so the slower of the two sets the rate; the CPU's time scaled by `slower`."""
    rates = []
    for factor in slower:
        cpu = ms_cpu * factor
        rates.append(1000.0 / max(cpu, ms_device or 0.0))
    return f"{min(rates):.0f}–{max(rates):.0f}"


def render(data: dict[str, Any]) -> str:
    slower = data["pi5_slower"]
    parts = ["## Accelerators: the AI Camera, the AI Kit / AI HAT+ and the Coral Edge TPU",
             "No accelerator was attached here. Their inference figures are the vendors' own, with sources; the CPU's "
             "share of each frame is measured here with the runtime's own chain; the Pi 5 rates are estimates from "
             f"both (this machine's CPU time × {slower[0]:g}–{slower[1]:g} for a Pi 5 core). The IMX500 accuracy is "
             "Sony's Model Compression Toolkit's simulated quantization on the CPU, as the converter reports it. "
             f"Measured {data.get('measured', '(date not recorded)')} by `python -m scripts.benchmarks.accelerators`."]
    rows = [[p["device"], p["network"], f"{p['ms']:.1f}" if p["ms"] else "—", f"{p['fps']:.0f}" if p["fps"] else "—",
             p["accuracy"], p["source"]] for p in data["published"]]
    rows += [[c["device"], c["network"], f"{c['ms']:.0f}", f"{1000 / c['ms']:.0f}", "README, *Which model is fast*",
              "scaled from a published Pi 5 figure (docs/BENCHMARKS.md)"] for c in data["cpu_models"]]
    parts.append("**Inference** (published; the CPU rows for comparison):\n\n"
                 + _table(["device", "network", "ms", "inferences/s", "accuracy", "source"], rows))
    comp = data["compositing"]
    crow = [[f"{c['size'][0]}x{c['size'][1]}", "on the sensor (IMX500)" if c["network"] == "sensor"
             else "on a device the CPU feeds (Hailo, Edge TPU)", c["stages_ms"]["preprocess"], c["stages_ms"]["mask"],
             c["stages_ms"]["background"], c["stages_ms"]["blend"], c["stages_ms"]["encode"], c["total_ms"]]
            for c in comp]
    parts.append("**The CPU's share of a frame** (measured here, ms, median; the preview's JPEG as the encode; the "
                 "mask of a real person):\n\n" + _table(["frame", "network", "preprocess", "mask", "background",
                                                         "blend", "encode", "total"], crow))
    by = {(tuple(c["size"]), c["network"]): c["total_ms"] for c in comp}
    erows = []
    for p in data["published"]:
        kind = "sensor" if "IMX500" in p["device"] else "device"
        erows.append([p["device"], p["network"].split(",")[0].split(" (")[0]]
                     + [expected_fps(p["ms"], by[(tuple(s), kind)], slower) for s in FRAME_SIZES if (tuple(s), kind) in by])
    parts.append("**Expected frame rate on a Raspberry Pi 5** (estimate: the slower of the device and the CPU's "
                 "share; camera rate and thermal limits not counted; the IMX500 row assumes the sensor keeps up "
                 "with the frames):\n\n" + _table(["device", "network"] + [f"{w}x{h} fps" for w, h in FRAME_SIZES], erows))
    if data["imx500"]:
        irows = [[r["graph"].replace("deeplabv3_mnv2_", "").replace("_pascal", "").replace(".pb", ""),
                  f"{r['size'][0]}x{r['size'][1]}", r["output_stride"], f"{r['memory_mb']:.2f} MB"
                  + ("" if r["fits"] else " (does not fit)"), f"{r['miou']:.3f} ({-r['drop_points']:+.2f})",
                  f"{r['float_miou']:.3f}", f"{r['person_iou']:.3f}", f"{100 * r['agreement']:.1f} %",
                  f"{100 * r['rebuild_agreement']:.3f} %",
                  f"{100 * r['twin_agreement']:.1f} %" if r["twin_agreement"] else "—",
                  f"{r['seconds']} s" if r["seconds"] else "not recorded"] for r in data["imx500"]]
        parts.append("**The AI Camera conversions** (`pibokeh-convert --target imx500`; on the 31 labelled photos "
                     "centre-cropped to each model's aspect; memory of the sensor's 8 MB by imxconv-tf's report; "
                     "the TFLite int8 recipe's figures are in *Fast models* above):\n\n"
                     + _table(["graph", "input", "stride", "sensor memory", "mIoU int8 (Δ)", "mIoU float",
                               "person IoU", "agreement", "rebuild = graph", "CPU twin = MCT", "conversion"], irows))
    return "\n\n".join(parts) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scripts.benchmarks.accelerators", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--imx500", nargs="*", type=Path, default=[], metavar="DIR", help="folders of IMX500 conversions")
    p.add_argument("--convert", action="store_true", help="run the IMX500 conversions into --out (minutes each)")
    p.add_argument("--out", type=Path, default=Path("out/accelerators"))
    p.add_argument("--frames", type=int, default=30)
    p.add_argument("--json", action="store_true", help="print the data instead of the section")
    p.add_argument("--data", type=Path, help="render this saved --json output, measure nothing")
    args = p.parse_args(argv)
    from pibokeh.errors import PibokehError
    try:
        data = json.loads(args.data.read_text()) if args.data else measure(args.imx500, args.convert, args.out,
                                                                          args.frames)
    except (PibokehError, RuntimeError, OSError) as exc:
        print(f"accelerators: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(data) if args.json else render(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
