"""Sony's Model Compression Toolkit (MCT): the Keras rebuild quantized for the IMX500, run on the CPU.

MCT's post-training quantization with the IMX500 target platform capabilities (8-bit weights and
activations, power-of-two thresholds, the layer fusing the sensor's accelerator does) gives a Keras
model whose layers are wrapped in quantizers: run on the CPU it computes what the sensor computes, up
to the accelerator's rounding (MCT's *simulated* quantization). That model is what `imxconv-tf`
compiles, what the converter judges on `--eval`, and, exported to TFLite with its fake-quant ops
(`network_cpu.tflite`), what the test fakes of the AI Camera run per frame.

Calibration is the TFLite int8 recipe's: the same photos (`quantize.calibration_images`), the same
preprocessing (`quantize.preprocess`: the runtime's `fit_input`, then (x - 127.5) / 127.5).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
from pibokeh.errors import ModelError
from pibokeh.model import Backend, fit_input
from pibokeh.model.card import MEAN, STD

from .quantize import preprocess
from .shapes import Size

os.environ.setdefault("TQDM_DISABLE", "1")  # MCT's own progress bars; the converter shows one of its own
TPC_VERSION = "v1"  # the IMX500 target platform capabilities the converter release below was made for
BATCH = 10  # calibration images per batch (MCT warns that single images make its statistics slow)


def _mct() -> Any:
    import logging

    import model_compression_toolkit as mct
    logging.getLogger("Model Compression Toolkit").setLevel(logging.ERROR)
    return mct


def versions() -> dict[str, str]:
    from importlib import metadata
    found = {}
    for name in ("model-compression-toolkit", "imx500-converter", "tensorflow", "keras"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def calibration_batches(paths: Sequence[Path], size: int | Size, tick: Callable[[], None] = lambda: None
                        ) -> list[np.ndarray]:
    """The calibration images preprocessed as the runtime does, in batches of BATCH, read once (MCT
    walks its representative dataset more than once)."""
    tensors = []
    for path in paths:
        tensor = preprocess(path, size)
        tick()
        if tensor is not None:
            tensors.append(tensor[0])
    if not tensors:
        raise ModelError("none of the calibration images could be read")
    return [np.stack(tensors[i:i + BATCH]) for i in range(0, len(tensors), BATCH)]


def quantize(model: Any, calibration: Sequence[np.ndarray]) -> Any:
    """The model quantized by MCT for the IMX500 (post-training), calibrated on `calibration_batches`."""
    mct = _mct()
    platform = mct.get_target_platform_capabilities("tensorflow", "imx500", target_platform_version=TPC_VERSION)

    def representative() -> Iterator[list[np.ndarray]]:
        for batch in calibration:
            yield [batch]
    try:
        quantized, _ = mct.ptq.keras_post_training_quantization(model, representative,
                                                                target_platform_capabilities=platform)
    except Exception as exc:  # MCT raises its own Exception subclasses for layers it cannot quantize
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(f"Model Compression Toolkit could not quantize the model ({first[:300]})") from None
    return quantized


def export_keras(quantized: Any, path: Path) -> None:
    """The quantized model as the .keras file imxconv-tf takes (MCT's own quantizers inside)."""
    _mct().exporter.keras_export_model(model=quantized, save_model_path=str(path))


def export_tflite(quantized: Any, path: Path) -> None:
    """The quantized model as a TFLite file with fake-quant ops: MCT's simulated quantization in a
    form the TFLite interpreters (and so the runtime) can run, for the AI Camera's test fakes."""
    mct = _mct()
    from model_compression_toolkit.exporter import KerasExportSerializationFormat, QuantizationFormat
    mct.exporter.keras_export_model(model=quantized, save_model_path=str(path),
                                    serialization_format=KerasExportSerializationFormat.TFLITE,
                                    quantization_format=QuantizationFormat.FAKELY_QUANT)


class KerasBackend(Backend):
    """A Keras model (the float rebuild or MCT's quantized one) as a backend, so the converter's
    validation judges it exactly like a TFLite model: same preprocessing, same class maps."""

    def __init__(self, model: Any, name: str, family: str):
        self.model = model
        self.path = Path(name)
        self.backend = "keras (CPU, TensorFlow)"
        self.family = family
        shape = model.input_shape
        self.input_size = (int(shape[1]), int(shape[2]))
        self.output_kind = "labels"
        self._seen: dict[str, np.ndarray] = {}

    def prepare(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        return fit_input(frame_bgr, self.input_size)

    def infer(self, rgb: np.ndarray) -> np.ndarray:
        # remembered per input: the converter compares each model with more than one other on the
        # same photos, and the simulated quantization is the slow part
        key = hashlib.sha1(rgb.tobytes()).hexdigest()
        if key not in self._seen:
            x = ((rgb.astype(np.float32) - MEAN) / STD)[None]
            out = np.asarray(self.model(x, training=False))[0]
            self._seen[key] = np.clip(out, 0, len(self.labels) - 1).astype(np.uint8)
        return self._seen[key]

