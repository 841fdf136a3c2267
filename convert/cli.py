"""The `pibokeh-convert` command: DeepLab TF1 graph -> TFLite model + card (+ validation report)."""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

from pibokeh.model.card import card_path
from pibokeh.errors import InputError, ModelError, OutputError, run_command
from pibokeh.files import atomic_path, ensure_folder
from pibokeh.model.locations import model_output
from pibokeh.model import open_model
from pibokeh.options import Parser, add_quiet, positive_int, thread_count
from pibokeh.progress import Progress
from pibokeh.quiet import native_stderr_silenced
from pibokeh.model.registry import sha256_of

from . import MODES, OUTPUTS, shapes

EVAL_CROP_HELP = ("auto: a frame-shaped model (input not square) is judged on the labelled images centre-cropped "
                  "to its aspect, the frames it is made for, and every model it is compared with sees the same "
                  "crops; none: on the images as they are (letterboxed into it). Default: auto")
CALIBRATION_COUNT = 100  # measured better than 200 at depth 0.5 (docs/CONVERTER.md)


def say(message: str) -> None:
    print(f"pibokeh-convert: {message}", file=sys.stderr)


# ---- source -------------------------------------------------------------------------------------

def resolve_source(source: str, mirror: str | None, quiet: bool, scratch: Path) -> tuple[Path, dict[str, Any], Any]:
    """(frozen graph path, provenance for the card, zoo entry or None) for a .pb, a tarball or a zoo
    name; a tarball's graph is extracted into `scratch` (a private folder the caller removes)."""
    from . import zoo
    path = Path(source)
    entry = None
    if not path.exists() and (entry := zoo.lookup(source)) is not None:
        bar = Progress(0, f"download {entry.name}", enabled=not quiet)
        path = zoo.fetch_tarball(entry, mirror, progress=lambda done, total: _advance(bar, done, total))
        bar.close()
    elif not path.exists():
        names = ", ".join(e.name for e in zoo.zoo())
        raise InputError(f"{source}: no such file, and not a model-zoo name ({names})")
    provenance = {"path": str(path), "sha256": sha256_of(path), "zoo": entry.name if entry else None,
                  "url": entry.url if entry else None}
    if path.name.endswith((".tar.gz", ".tgz", ".tar")):
        graph, provenance["graph_in_tarball"] = zoo.extract_graph(path, scratch)
        provenance["graph_sha256"] = sha256_of(graph)
        return graph, provenance, entry
    return path, provenance, entry


def _advance(bar: Progress, done: int, total: int) -> None:
    bar.total = total
    bar.update(done - bar.done)


# ---- convert ------------------------------------------------------------------------------------

def check_output(out: Path, source: Path) -> None:
    if out.suffix != ".tflite":
        raise OutputError(f"{out}: the output must end in .tflite (the card is written beside it as .json)")
    if out.exists() and out.resolve() == source.resolve():
        raise OutputError(f"{out}: would overwrite the source")
    ensure_folder(out.parent)


def needs_tensorflow() -> None:
    """A one-line error where TensorFlow is missing (an edge-only install), before any work."""
    import importlib.util
    if importlib.util.find_spec("tensorflow") is None:
        raise ModelError("the converter needs TensorFlow, which is not installed here: "
                         "pip install 'pibokeh[convert]' (on a workstation, not on the Pi)")


def prepare_graph(args: argparse.Namespace, source: Path, entry: Any) -> tuple[Any, Any, Any, Any]:
    """The graph cut and at its output stride: (graph, cut, what the stride rewrite did, the graph before it)."""
    from . import graph as graphs
    from . import stride
    graph = graphs.load_graph(source)
    graph, folded = graphs.fold_dequantize(graph)
    if folded:
        say(f"folded {folded} Dequantize ops (8-bit stored weights) into float constants")
    cut = graphs.choose_cut(graph, output=args.output_kind,
                            input_tensor=args.input_tensor or (entry.input_tensor if entry else None),
                            output_tensor=args.output_tensor or (entry.output_tensor if entry else None))
    original = graph
    graph, rewrite = stride.set_output_stride(graph, args.output_stride)
    output_stride = rewrite["model"] if rewrite else None
    shapes.check(args.size, output_stride)
    head = {"labels": " -> ArgMax", "logits": " (logits, not upsampled)"}.get(cut.kind, "")
    say(f"cut {cut.input} -> {cut.output}{head} at {shapes.text(args.size)}"
        + (f", output stride {output_stride}" if output_stride else "")
        + (f" (rewritten from {rewrite['graph']})" if rewrite and rewrite["changed"] else ""))
    return graph, cut, rewrite, original


def cmd_convert(args: argparse.Namespace) -> int:
    if args.target == "imx500":
        return convert_imx500(args)
    args.size = args.size or shapes.REFERENCE_SIZE
    if args.output_stride:  # a wrong size is known before TensorFlow is imported or any graph read
        shapes.check(args.size, args.output_stride)
    needs_tensorflow()
    from . import card, quantize, recipe, stride

    with tempfile.TemporaryDirectory(prefix="pibokeh-convert-") as scratch:  # private (0700), removed after
        source, provenance, entry = resolve_source(args.source, args.mirror, args.quiet, Path(scratch))
        check_output(args.out, source)
        graph, cut, rewrite, original = prepare_graph(args, source, entry)
    output_stride = rewrite["model"] if rewrite else None

    calibration_info = None
    calibration: list[Path] = []
    if args.quant == "int8":
        if not args.calib:
            raise InputError("int8 needs real calibration images: --calib DIR")
        calibration = quantize.calibration_images(args.calib, args.calib_count)
        if len(calibration) < 50:
            say(f"warning: only {len(calibration)} calibration images; 50 or more give steadier ranges")
        calibration_info = {"folder": str(args.calib), "images": len(calibration),
                            "preprocessing": "pibokeh.model.fit_input (resized when the aspect matches within 3 %, "
                                             "else letterboxed), (x - 127.5) / 127.5 (identical to inference)"}
    keep_float, strict = recipe.keep_float(args.keep_float, args.quant)
    # the float32 conversion, made once: the recipe looks its ops up in it, validation compares with it
    reference = None
    if args.quant != "float32" and (args.eval or keep_float):
        reference = quantize.convert(graph, cut, args.size, "float32")
    bar = Progress(len(calibration), "calibrate", enabled=not args.quiet and bool(calibration))
    data = quantize.convert(graph, cut, args.size, args.quant, calibration, uint8_io=args.io == "uint8",
                            keep_float=keep_float, strict=strict, tick=bar.update, float_model=reference)
    bar.close()
    with atomic_path(args.out) as tmp:
        tmp.write_bytes(data)
    model = args.out
    # Verify by running it: a model is what it does, not what its file name says.
    seg = open_model(model, backend="ai_edge_litert", threads=args.threads)
    say(f"wrote {model} ({model.stat().st_size / 1e6:.2f} MB, {args.quant}, input {seg.spec.dtype.name} "
        f"{shapes.text(seg.input_size)}, output {seg.output_kind})")

    validation = None
    if args.eval:
        baseline = None  # the cost of the shape and stride, apart from the cost of quantization
        if rewrite and (output_stride, args.size) != (shapes.REFERENCE_STRIDE, shapes.REFERENCE_SIZE):
            baseline = quantize.convert(stride.set_output_stride(original, shapes.REFERENCE_STRIDE)[0], cut,
                                        shapes.REFERENCE_SIZE, "float32")
        validation = validate_against_float(model, reference or data, args, baseline)
    recipe_info = recipe.describe(keep_float, args.quant)
    written = card.write(model, card.build(model, provenance, cut, args.size, args.quant, calibration_info,
                                           validation, recipe_info, rewrite=rewrite))
    say(f"wrote {written}")
    if validation:
        print_validation(validation)
    return 0


def convert_imx500(args: argparse.Namespace) -> int:
    """--target imx500: in the AI Camera toolchain's environment (`imx500_env`), handed over to it
    from any other; the work itself is `imx500.convert`."""
    from . import imx500_env
    if args.quant != "int8":
        raise InputError("--target imx500: the AI Camera runs int8 models only (leave out --quant)")
    args.size = args.size or imx500_env.DEFAULT_SIZE
    args.output_stride = args.output_stride or imx500_env.DEFAULT_STRIDE
    imx500_env.check(args.size, args.output_stride, args.out)
    if not imx500_env.toolchain_here():
        return imx500_env.hand_over(args.argv)
    from . import imx500
    with tempfile.TemporaryDirectory(prefix="pibokeh-convert-") as scratch:  # private (0700), removed after
        source, provenance, entry = resolve_source(args.source, args.mirror, args.quiet, Path(scratch))
        graph, cut, rewrite, _ = prepare_graph(args, source, entry)
    return imx500.convert(args, graph, cut, rewrite, provenance, say)


def validate_against_float(model: Path, reference: bytes, args: argparse.Namespace,
                           baseline: bytes | None = None) -> dict[str, Any]:
    """Compare the new model with the float32 conversion of the same graph, shape and stride
    (`reference`), and with the float32 stride-8 513x513 conversion (`baseline`) when given."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "float32.tflite"
        path.write_bytes(reference)
        base = None
        if baseline is not None:
            base = Path(tmp) / "float32_os8_513.tflite"
            base.write_bytes(baseline)
        from .validate import eval_frames
        data, crop = eval_frames(model, args.eval, args.eval_crop, Path(tmp))
        return run_validation(model, path, data, args.threads, args.quiet, picture=model.with_suffix(".png"),
                              original_data=args.eval, crop=crop,
                              baseline=base, baseline_name=f"float32, output stride {shapes.REFERENCE_STRIDE}, "
                                                           f"{shapes.text(shapes.REFERENCE_SIZE)}")


def run_validation(model: Path, reference: Path, data: Path, threads: int | None, quiet: bool,
                   picture: Path | None, baseline: Path | None = None,
                   baseline_name: str | None = None, original_data: Path | None = None,
                   crop: dict[str, Any] | None = None) -> dict[str, Any]:
    from pibokeh.evaluate import find_pairs

    from . import validate
    bar = Progress(len(find_pairs(data)), "evaluate", enabled=not quiet)
    result = validate.compare(model, reference, data, threads, tick=lambda name: bar.update(note=name),
                              baseline=baseline)
    bar.close()
    # interleaved, so that the ratios hold on a busy machine
    latency = validate.latencies_ms([model, reference] + ([baseline] if baseline else []), threads=threads)
    if baseline is not None:
        if baseline_name:
            result["baseline"]["model"] = baseline_name
        result["baseline"]["latency_ms"] = latency[2]
        result["baseline"]["size_bytes"] = baseline.stat().st_size
    rows = result.pop("_rows")
    if picture:
        validate.picture(rows, picture)
        result["picture"] = picture.name
    result["size_bytes"] = {"model": model.stat().st_size, "reference": reference.stat().st_size}
    result["size_ratio"] = model.stat().st_size / reference.stat().st_size
    result["latency_ms"] = {"backend": "ai_edge_litert", "threads": threads or "default",
                            "model": latency[0], "reference": latency[1]}
    result["backends"] = {"ai_edge_litert": {"miou": result["model"]["miou"],
                                             "person_iou": result["model"]["person_iou"]}}
    try:
        other = validate.eval_with_backend(model, data, "tflite_runtime", threads)
        result["backends"]["tflite_runtime"] = {"miou": other["miou"], "person_iou": other["iou"].get("person")}
    except ModelError as exc:
        result["backends"]["tflite_runtime"] = {"error": str(exc)}
    result["data"] = str(original_data or data)
    result["cropped_to_aspect"] = crop  # the images as given (None), or centre-cropped to the model's aspect
    return result


def print_validation(v: dict[str, Any]) -> None:
    m, r = v["model"], v["reference"]
    lat = v["latency_ms"]
    crop = v.get("cropped_to_aspect")
    note = f", {crop['cropped']} centre-cropped to {crop['aspect']}" if crop else ""
    print(f"images            {v['images']} ({v['data']}{note})")
    print(f"label agreement   {100 * v['agreement']:.2f} % of pixels equal to the float32 model")
    print(f"mIoU              {m['miou']:.4f} (float32 {r['miou']:.4f}, drop {v['miou_drop_points']:.2f} points)")
    print(f"person IoU        {m['person_iou']:.4f} (float32 {r['person_iou']:.4f})")
    print(f"size              {v['size_bytes']['model'] / 1e6:.2f} MB = {100 * v['size_ratio']:.1f} % of float32")
    print(f"latency           {lat['model']:.0f} ms (float32 {lat['reference']:.0f} ms), ai_edge_litert")
    for name, b in v["backends"].items():
        text = b.get("error") or f"mIoU {b['miou']:.4f}, person IoU {b['person_iou']:.4f}"
        print(f"  {name:<16}{text}")
    if v.get("baseline"):
        print_baseline(v["baseline"], v["model"]["miou"], lat["model"])
    if v.get("picture"):
        print(f"picture           {v['picture']} (image | float | quantized | disagreement)")


def print_baseline(b: dict[str, Any], miou: float, latency: float) -> None:
    """The cost of the shape and stride: this model against the float stride-8 513x513 model."""
    print(f"vs {b['model']}:")
    print(f"  label agreement {100 * b['agreement']:.2f} % of pixels equal (the float32 model of this shape "
          f"and stride: {100 * b['reference_agreement']:.2f} %)")
    print(f"  mIoU            {b['miou']:.4f} -> {miou:.4f} ({-b['miou_drop_points']:+.2f} points; shape and stride "
          f"alone {-b['reference_miou_drop_points']:+.2f})")
    print(f"  person IoU      {b['person_iou']:.4f}")
    print(f"  latency         {b['latency_ms']:.0f} ms -> {latency:.0f} ms ({latency / b['latency_ms']:.2f}x)")


def cmd_validate(args: argparse.Namespace) -> int:
    for path in (args.model, args.reference):
        open_model(path, backend="ai_edge_litert")  # clear errors before the long run
    if args.baseline:
        open_model(args.baseline, backend="ai_edge_litert")
    from .validate import eval_frames
    with tempfile.TemporaryDirectory() as tmp:
        data, crop = eval_frames(args.model, args.eval, args.eval_crop, Path(tmp))
        result = run_validation(args.model, args.reference, data, args.threads, args.quiet or args.json,
                                picture=args.model.with_suffix(".png"), baseline=args.baseline,
                                original_data=args.eval, crop=crop)
    if args.json:
        print(json.dumps(result))
    else:
        print_validation(result)
    if args.update_card and card_path(args.model).is_file():
        from . import card
        data = json.loads(card_path(args.model).read_text())
        data["validation"] = result
        card.write(args.model, data)
    return 0


# ---- parser -------------------------------------------------------------------------------------

def convert_parser() -> argparse.ArgumentParser:
    p = Parser(prog="pibokeh-convert", description=(
        "Convert Google's DeepLab-v3 MobileNetV2 TF1 graph into a TFLite model for the edge runtime, "
        "with a model card (OUT.json) and, with --eval, a report on how it compares with the float "
        "model. SOURCE is a frozen graph (.pb), a model-zoo tarball (.tar.gz), or a model-zoo name "
        "from models/zoo.json. `pibokeh-convert validate --help` compares two existing models."),
        epilog="example, the recommended model for 16:9 frames, written into the user data folder: "
               "pibokeh-convert deeplabv3_mnv2_dm10_pascal_weightquant.pb -o mnv2_os16_513x289_int8.tflite "
               "--output-stride 16 --size 513x289 --output logits --calib photos/ --eval voc/ (4:3 frames: --size 513x385; "
               "the graph's own shape, exact but ~4x slower: leave out --output-stride and --size)")
    p.add_argument("source", metavar="SOURCE")
    p.add_argument("-o", "--out", dest="out", type=model_output, required=True, metavar="OUT.tflite",
                   help="the model to write (--target imx500: a folder name); its card goes next to it as OUT.json. "
                        "A bare file name "
                        "(mnv2.tflite) goes into the user data folder, where `pibokeh` finds it by default "
                        "($PIBOKEH_HOME/models, else ~/.local/share/pibokeh/models)")
    p.add_argument("--quant", choices=MODES, default="int8",
                   help="float32, fp16 (half-size weights), dynamic (int8 weights, float activations) or int8 "
                        "(weights and activations; needs --calib). Default: int8")
    p.add_argument("--target", choices=("tflite", "imx500"), default="tflite",
                   help="tflite: a .tflite model for the CPU (and its card); imx500: the Raspberry Pi AI Camera "
                        "(Sony IMX500): a folder OUT with packerOut.zip (made into network.rpk on the Pi by "
                        "imx500-package), its card and reports, quantized by Sony's Model Compression Toolkit "
                        "and compiled by imxconv-tf in their own environment (scripts/setup.sh imx500; Java 17); "
                        "needs --calib and --eval; default --size 321x241, --output-stride 16, at most 640x480 "
                        "(docs/CONVERTER.md). Default: tflite")
    p.add_argument("--size", type=shapes.parse_size, default=None, metavar="N|WxH",
                   help="input size: N for NxN (513 like the reference; 257 is ~4x faster) or WxH for frames "
                        "of that aspect, fed without padding (513x289 for 16:9, 513x385 for 4:3); each side "
                        "k*stride+1 (16k+1 at output stride 16, 8k+1 at 8). Default: 513 (imx500: 321x241)")
    p.add_argument("--output-stride", type=int, choices=shapes.OUTPUT_STRIDES, metavar="8|16",
                   help="8: 65x65 features at 513, the shared graphs' own and most accurate; 16: the network as "
                        "trained, ~0.4x the latency at 513 for ~2 mIoU points, ~0.25x with --size 513x289 "
                        "(docs/CONVERTER.md). Default: the graph's own (imx500: 16)")
    p.add_argument("--output", "--output-kind", dest="output_kind", choices=OUTPUTS, default="scores",
                   help="scores [1,H,W,21] upsampled to the input size, labels [1,H,W] (their arg-max inside the "
                        "model), or logits [1,h,w,21] at the network's own resolution (h = H/stride: no upsampling "
                        "and no arg-max in the model; the runtime upsamples one mask channel, the cheapest head, "
                        "as scripts/demo.sh converts the recommended models). Default: scores")
    p.add_argument("--io", choices=("uint8", "float"), default="uint8",
                   help="int8 models: uint8 input (raw RGB, default) or float input")
    p.add_argument("--calib", type=Path, metavar="DIR", help="calibration photos for int8 (recursively)")
    p.add_argument("--calib-count", type=positive_int, default=CALIBRATION_COUNT, metavar="N",
                   help=f"use at most N calibration images, spread over the folder (default {CALIBRATION_COUNT})")
    p.add_argument("--keep-float", default="auto", metavar="auto|none|OPS",
                   help="int8: leave these TFLite ops in float (comma-separated tensor names); auto keeps "
                        "the layers measured to be sensitive (see docs/CONVERTER.md). Default: auto")
    p.add_argument("--eval", type=Path, metavar="DIR",
                   help="validate against the float32 model of the same shape and stride on DIR/<id>.jpg + "
                        "<id>_gt.png, and (other shapes or strides) against the float32 stride-8 513x513 model")
    p.add_argument("--eval-crop", choices=("auto", "none"), default="auto", help=EVAL_CROP_HELP)
    p.add_argument("--input-tensor", metavar="NAME", help="override the detected input (default sub_7)")
    p.add_argument("--output-tensor", metavar="NAME",
                   help="override the detected scores tensor (default logits/semantic/BiasAdd)")
    p.add_argument("--mirror", metavar="URL", help="download zoo tarballs from URL/<file> instead")
    p.add_argument("--threads", type=thread_count, metavar="N", help="interpreter threads for validation")
    add_quiet(p, "no progress bars")
    p.set_defaults(func=cmd_convert)
    return p


def validate_parser() -> argparse.ArgumentParser:
    p = Parser(prog="pibokeh-convert validate", description=(
        "Compare a (quantized) model with a float reference on labelled images: label agreement, mIoU "
        "and person IoU of both, size, latency, both interpreters, and a picture (MODEL.png)."))
    p.add_argument("model", type=Path, metavar="MODEL.tflite")
    p.add_argument("--reference", type=Path, required=True, metavar="FLOAT.tflite")
    p.add_argument("--eval", type=Path, required=True, metavar="DIR")
    p.add_argument("--baseline", type=Path, metavar="FLOAT.tflite",
                   help="also report agreement and mIoU against this model (e.g. the float stride-8 513x513 one)")
    p.add_argument("--eval-crop", choices=("auto", "none"), default="auto", help=EVAL_CROP_HELP)
    p.add_argument("--threads", type=thread_count, metavar="N")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--update-card", action="store_true", help="store the results in MODEL.json")
    add_quiet(p, "no progress bars")
    p.set_defaults(func=cmd_validate)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = validate_parser() if argv[:1] == ["validate"] else convert_parser()
    args = parser.parse_args(argv[1:] if argv[:1] == ["validate"] else argv)
    args.argv = argv  # the command line as given, for handing --target imx500 over to its environment
    with native_stderr_silenced():
        return run_command("pibokeh-convert", args)


if __name__ == "__main__":
    sys.exit(main())
