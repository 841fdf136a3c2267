"""`pibokeh-convert GRAPH --target imx500 -o NAME`: DeepLab for the Raspberry Pi AI Camera (Sony IMX500).

Runs in the AI Camera toolchain's environment (`imx500_env`), on the graph the TFLite recipe
converts (Dequantize folded, output stride set):

    float TFLite of the graph  (quantize.convert: the graph's own labels, the reference of the rebuild)
    Keras rebuild              (keras_model.rebuild: only layers the IMX500 toolchain takes)
    MCT int8 for the IMX500    (imx500_quant.quantize: calibrated on the TFLite recipe's photos)
    judged on --eval           (validate.compare: quantized vs float rebuild vs the graph; the picture)
    imxconv-tf                 (imxconv.convert: packerOut.zip and the memory report)

into the folder NAME (a bare name goes into the user data folder, like converted .tflite models):

    packerOut.zip       what `imx500-package -i packerOut.zip -o NAME` turns into network.rpk on the Pi
    network.json        the card (of network.rpk once packaged): input, labels, accuracy, memory, provenance
    network.png         the report picture: image | float | quantized | disagreement
    network.keras       the quantized model imxconv-tf compiled
    network_cpu.tflite  the same quantized model as TFLite with fake-quant ops (the test fakes run it)
    dnnParams.xml, network_MemoryReport.json   imxconv-tf's own reports

The folder is built beside NAME and swapped in at the end: a failed conversion leaves an earlier
one as it was.
"""
from __future__ import annotations

import argparse
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
from pibokeh.errors import InputError, ModelError
from pibokeh.model.card import CARD_FORMAT, MEAN, STD
from pibokeh.model.labels import LABELS
from pibokeh.progress import Progress

from . import imx500_quant, imxconv, keras_model, quantize, shapes, validate
from .card import pibokeh_version
from .graph import Cut

REBUILD_AGREEMENT = 0.995  # share of pixels the Keras rebuild must label like the graph
CARD = "network.json"  # beside network.rpk once the Pi has packaged packerOut.zip
TWIN = "network_cpu.tflite"


def convert(args: argparse.Namespace, graph: Any, cut: Cut, rewrite: dict[str, Any] | None,
            provenance: dict[str, Any], say: Callable[[str], None]) -> int:
    """The whole imx500 target for a graph already cut and at its output stride; returns the exit code."""
    started = time.monotonic()
    size = shapes.hw(args.size)
    out = Path(args.out)
    java = imxconv.check_java()  # before minutes of work
    if not args.calib:
        raise InputError("the AI Camera runs int8 only, calibrated on real photos: --calib DIR")
    if not args.eval:
        raise InputError("the rebuild is proven and the quantized model judged on labelled photos: --eval DIR")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        graph_float = work / "graph_float32.tflite"
        graph_float.write_bytes(quantize.convert(graph, cut, size, "float32"))
        float_model = keras_model.rebuild(graph, cut, size)
        say(f"rebuilt as Keras: {len(float_model.layers)} layers, {float_model.count_params():,} weights")
        paths = quantize.calibration_images(args.calib, args.calib_count)
        bar = Progress(len(paths), "calibrate", enabled=not args.quiet)
        batches = imx500_quant.calibration_batches(paths, size, bar.update)
        bar.close()
        say(f"quantizing with Sony's Model Compression Toolkit for the IMX500 ({len(paths)} calibration images)")
        quantized = imx500_quant.quantize(float_model, batches)
        validation, quant_backend, frames = judge(float_model, quantized, graph_float, args, work)
        build = Path(tempfile.mkdtemp(prefix=f".{out.name}.part-", dir=out.parent))
        try:
            imx500_quant.export_keras(quantized, build / "network.keras")
            say("compiling with imxconv-tf (Sony's IMX500 converter; a few minutes)")
            compiled = imxconv.convert(build / "network.keras", build)
            imx500_quant.export_tflite(quantized, build / TWIN)
            validation["cpu_twin"] = twin_agreement(build / TWIN, quant_backend, frames)
            validate.picture(validation.pop("_rows"), build / "network.png")
            validation["picture"] = "network.png"
            card = build_card(args, size, cut, rewrite, provenance, len(paths), validation, compiled, java)
            card["converter"]["seconds"] = round(time.monotonic() - started)
            validate_card_and_write(build / CARD, card)
            swap_in(build, out)
        finally:
            shutil.rmtree(build, ignore_errors=True)
    report(out, card, say)
    return 0


def judge(float_model: Any, quantized: Any, graph_float: Path, args: argparse.Namespace, work: Path
          ) -> tuple[dict[str, Any], Any, Path]:
    """The quantized model (MCT's simulation) against the float rebuild, and the rebuild against the
    graph's own float labels (`baseline` of the comparison), on the --eval photos (centre-cropped to
    the model's aspect, like every frame-shaped model's report). A rebuild that labels fewer than
    REBUILD_AGREEMENT of the pixels like the graph is an error: it would not be DeepLab any more.
    Returns the results, the quantized model's backend and the photos it was judged on."""
    float_backend = imx500_quant.KerasBackend(float_model, "float rebuild", "Keras rebuild, float32")
    quant_backend = imx500_quant.KerasBackend(quantized, "MCT int8", "MCT int8 for the IMX500 (simulated)")
    frames, crop = validate.eval_frames(float_backend, args.eval, args.eval_crop, work)
    bar = Progress(len(list(frames.glob("*_gt.png"))), "evaluate", enabled=not args.quiet)
    result = validate.compare(quant_backend, float_backend, frames, args.threads,
                              tick=lambda name: bar.update(note=name), baseline=graph_float)
    bar.close()
    base = result.pop("baseline")
    rebuild = {"agreement_with_graph": base["reference_agreement"],
               "graph_float": {"miou": base["miou"], "person_iou": base["person_iou"]},
               "reference": "the float32 TFLite conversion of the same graph, stride and size (quantize.convert)",
               "what_differs": "float rounding only: the rebuild folds batch norm into the convolutions and "
                               "upsamples with constant matrices (exact align_corners)"}
    if rebuild["agreement_with_graph"] < REBUILD_AGREEMENT:
        raise ModelError(f"the Keras rebuild labels only {100 * rebuild['agreement_with_graph']:.2f} % of the pixels "
                         f"like the graph (needs {100 * REBUILD_AGREEMENT:g} %): not converting")
    result.update({"rebuild": rebuild, "data": str(args.eval), "cropped_to_aspect": crop,
                   "quantized_by": "Model Compression Toolkit, simulated quantization on the CPU"})
    return result, quant_backend, frames


def twin_agreement(twin: Path, quantized: Any, frames: Path) -> dict[str, Any]:
    """How closely the TFLite export (fake-quant ops, run by TFLite) follows MCT's own simulation."""
    result = validate.compare(twin, quantized, frames)
    return {"file": twin.name, "agreement_with_quantized": result["agreement"], "miou": result["model"]["miou"],
            "person_iou": result["model"]["person_iou"],
            "what_it_is": "the quantized model exported by MCT as TFLite with fake-quant ops: the AI Camera's "
                          "class maps computed on a CPU (pibokeh's test fakes of the camera run it per frame)"}


def build_card(args: argparse.Namespace, size: shapes.Size, cut: Cut, rewrite: dict[str, Any] | None,
               provenance: dict[str, Any], calibration_count: int, validation: dict[str, Any],
               compiled: dict[str, Any], java: str) -> dict[str, Any]:
    """The card of the packaged network (`network.rpk`): what the runtime reads (input, labels, output
    stride) and what people read (accuracy, memory, provenance, versions)."""
    height, width = size
    stride = rewrite["model"] if rewrite else None
    first_in = (compiled.get("input_tensors") or [{}])[0]
    first_out = (compiled.get("output_tensors") or [{}])[0]
    return {
        "format": CARD_FORMAT,
        "family": f"converted by pibokeh for the AI Camera (IMX500 int8, {width}x{height}, output stride {stride})",
        "file": "network.rpk",
        "target": "imx500",
        "source": provenance,
        "cut": {"input": cut.input, "output": cut.output,
                "upsampling": f"bilinear (align_corners) to {width}x{height} on the sensor", "argmax_in_model": True},
        "output_stride": stride,
        "stride_rewrite": None if rewrite is None else {
            "output_stride_of_graph": rewrite["graph"], "changed": rewrite["changed"],
            "atrous_blocks_as_dilated_depthwise": rewrite["atrous_as_dilations"]},
        "quantization": "int8 (Sony Model Compression Toolkit, IMX500 target platform capabilities "
                        f"{imx500_quant.TPC_VERSION})",
        "calibration": {"folder": str(args.calib), "images": calibration_count,
                        "preprocessing": "as the TFLite int8 recipe: pibokeh.model.fit_input, (x - 127.5) / 127.5"},
        "input": {"name": first_in.get("name", "image"), "size": max(height, width), "width": width,
                  "height": height, "dtype": "int8", "color": "RGB", "mean": MEAN, "std": STD, "range": [0, 255],
                  "normalisation": "(x - 127.5) / 127.5 on RGB, as int8 with scale 1/128 (dnnParams.xml); the "
                                   "sensor crops its inference region to the input's aspect and scales it",
                  "quantization": {"scale": first_in.get("scale"), "zero_point": first_in.get("shift", 0)}},
        "output": {"name": first_out.get("name"), "kind": "labels", "dtype": f"int{first_out.get('bits', 16)}",
                   "shape": first_out.get("dimensions") or [height, width]},
        "labels": list(LABELS),
        "imx500": {"packer": compiled["packer"], "fits": compiled["fits"],
                   "memory_usage_mb": compiled["memory_usage_mb"], "chip_mb": compiled["chip_mb"],
                   "runtime_memory_mb": compiled["runtime_memory_mb"], "model_memory_mb": compiled["model_memory_mb"],
                   "input_persistent": compiled["input_persistent"], "memory_report": compiled["memory_report"],
                   "input_tensors": compiled.get("input_tensors"), "output_tensors": compiled.get("output_tensors"),
                   "package_on_the_pi": "imx500-package -i packerOut.zip -o . (Raspberry Pi OS package imx500-tools)",
                   "cpu_twin": TWIN},
        "converter": {**imx500_quant.versions(), "numpy": np.__version__, "java": java,
                      "pibokeh": pibokeh_version(), "python": platform.python_version()},
        "validation": validation,
    }


def validate_card_and_write(path: Path, card: dict[str, Any]) -> None:
    """Write the card, checked against the runtime's schema first (the runtime must read what we write)."""
    import json

    from pibokeh.model.card import card_problem
    problem = card_problem(card)
    if problem:
        raise ModelError(f"internal error: the card would not load: {problem}")
    path.write_text(json.dumps(card, indent=2) + "\n")


def swap_in(build: Path, out: Path) -> None:
    """Put the finished folder `build` at `out`, an earlier `out` going only once the new one is whole."""
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        out.rename(old / out.name)
    build.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def report(out: Path, card: dict[str, Any], say: Callable[[str], None]) -> None:
    v, chip = card["validation"], card["imx500"]
    m, r = v["model"], v["reference"]
    crop = v.get("cropped_to_aspect")
    note = f", {crop['cropped']} centre-cropped to {crop['aspect']}" if crop else ""
    say(f"wrote {out}/ (packerOut.zip {chip['packer']['size_bytes'] / 1e6:.2f} MB, {CARD}, network.png)")
    print(f"images            {v['images']} ({v['data']}{note})")
    print(f"rebuild           {100 * v['rebuild']['agreement_with_graph']:.3f} % of pixels labelled like the graph "
          f"(float mIoU {v['rebuild']['graph_float']['miou']:.4f})")
    print(f"label agreement   {100 * v['agreement']:.2f} % of pixels equal to the float rebuild")
    print(f"mIoU              {m['miou']:.4f} (float {r['miou']:.4f}, drop {v['miou_drop_points']:.2f} points)")
    print(f"person IoU        {m['person_iou']:.4f} (float {r['person_iou']:.4f})")
    print(f"sensor memory     {chip['memory_usage_mb']:.2f} of {chip['chip_mb']:.0f} MB: "
          + ("fits" if chip["fits"] else "DOES NOT FIT (a smaller --size, or depth 0.5)"))
    print(f"on the Pi         imx500-package -i {out.name}/packerOut.zip -o {out.name}  -> network.rpk")
    if not chip["fits"]:
        say(f"warning: {out.name} does not fit the sensor's memory; the camera cannot load it")

