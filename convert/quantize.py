"""TFLite export: float32, fp16, dynamic-range and full-int8 with real calibration images.

Calibration images go through exactly the runtime's preprocessing (`pibokeh.model.fit_input`: a plain
resize when the image's aspect matches the model's, else a letterbox; then (x - 127.5) / 127.5), so
the ranges the int8 model learns are the ranges it will see on the Pi, for every input shape.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
from pibokeh.model.card import MEAN, STD
from pibokeh.errors import InputError
from pibokeh.media.images import read_image, to_bgr8
from pibokeh.media.inputs import is_image
from pibokeh.model import fit_input

from . import MODES, recipe
from .graph import Cut, GraphError, concrete_function
from .shapes import Size, hw
from .tfimport import tf


def calibration_images(folder: str | os.PathLike, count: int) -> list[Path]:
    """Up to `count` images of a folder (recursively), spread evenly over its sorted listing so
    that a folder of several collections contributes from each of them."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: calibration folder not found")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and is_image(p))
    if not files:
        raise InputError(f"{folder}: calibration folder holds no images")
    if len(files) <= count:
        return files
    picks = np.linspace(0, len(files) - 1, count).round().astype(int)
    return [files[i] for i in sorted(set(picks))]


def preprocess(path: Path, size: int | Size) -> np.ndarray | None:
    """A calibration image as the float model input [1,h,w,3], or None if unreadable."""
    try:
        rgb, _ = fit_input(to_bgr8(read_image(path)), hw(size))
    except InputError:
        return None
    return ((rgb.astype(np.float32) - MEAN) / STD)[None]


def representative_dataset(paths: Sequence[Path], size: int | Size,
                           tick: Callable[[], None] = lambda: None) -> Callable[[], Iterator[list]]:
    def generate() -> Iterator[list]:
        for path in paths:
            tensor = preprocess(path, size)
            tick()
            if tensor is not None:
                yield [tensor]
    return generate


def convert(graph: tf.compat.v1.GraphDef, cut: Cut, size: int | Size, mode: str,
            calibration: Sequence[Path] = (), uint8_io: bool = True, keep_float: Sequence[str] = (),
            strict: bool = True, tick: Callable[[], None] = lambda: None,
            float_model: bytes | None = None) -> bytes:
    """The TFLite flatbuffer for one quantization mode.

    int8 quantizes weights and activations with ranges from `calibration`; `uint8_io` makes its
    input uint8 raw RGB instead of float; `keep_float` lists layer-name prefixes of ops left in
    float (selective quantization of sensitive layers; the quantization debugger that does this
    keeps the input float); with `strict`, every prefix must match an op. The ops are looked up in
    `float_model`, the float32 conversion of the same graph and size (made here if not given).
    `size` is (height, width), or one int for a square input.
    """
    if mode not in MODES:
        raise GraphError(f"unknown quantization {mode!r}; choose from {', '.join(MODES)}")
    function = concrete_function(graph, cut, size)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function], function)
    if mode != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    if mode == "int8":
        if not calibration:
            raise InputError("int8 needs calibration images (--calib DIR)")
        converter.representative_dataset = representative_dataset(calibration, size, tick)
        if uint8_io:
            converter.inference_input_type = tf.uint8
    names = []
    if mode == "int8" and keep_float:
        names = recipe.resolve(keep_float, float_model or convert(graph, cut, size, "float32"), strict)
    try:
        with warnings.catch_warnings():
            # "Statistics for quantized inputs were expected": the float input needs none, the
            # runtime feeds it as its card says
            warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
            warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")  # the debugger's
            if names:
                debugger = tf.lite.experimental.QuantizationDebugger(
                    converter=converter, debug_dataset=representative_dataset(calibration[:1], size),
                    debug_options=tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=names))
                return bytes(debugger.get_nondebug_quantized_model())
            return bytes(converter.convert())
    except Exception as exc:  # the converter raises ConverterError, RuntimeError, ValueError, ...
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise GraphError(f"the TFLite converter failed ({first[:300]})") from None
