"""A tiny DeepLab-shaped TF1 frozen graph for converter tests: the upstream node names and shapes
(ImageTensor -> ... -> sub_7 -> ... -> logits/semantic/BiasAdd -> ResizeBilinear_1 ->
ResizeBilinear_2 -> ArgMax -> SemanticPredictions), 8-bit stored weights behind a Dequantize op,
and weights chosen so that it does something checkable: red things are "person" (class 15)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf


def build(path: Path, size: int = 65) -> Path:
    graph = tf.Graph()
    with graph.as_default():
        image = tf.compat.v1.placeholder(tf.uint8, [1, None, None, 3], name="ImageTensor")
        x = tf.compat.v1.image.resize_bilinear(tf.cast(image, tf.float32), [size, size], align_corners=True)
        sub_7 = tf.subtract(tf.multiply(x, 2.0 / 255.0, name="mul"), 1.0, name="sub_7")
        # a 3x3 stride-2 box filter per channel, stored as 8-bit and dequantized at load like the
        # graph-transform's quantize_weights output
        box = np.zeros((3, 3, 3, 3), np.float32)
        for c in range(3):
            box[:, :, c, c] = 1.0 / 9.0
        stored = np.round(box / (1.0 / 9.0) * 255).astype(np.uint8)
        weights = tf.quantization.dequantize(tf.constant(stored, tf.quint8), 0.0, 1.0 / 9.0,
                                             name="MobilenetV2/Conv/weights_quant/Dequantize")
        features = tf.nn.conv2d(sub_7, weights, strides=2, padding="SAME", name="MobilenetV2/Conv/Conv2D")
        features = tf.nn.relu6(features + 1.0, name="MobilenetV2/Conv/Relu6")  # back to [0, 2]
        # logits: person = 3r - 1.5g - 1.5b (4.9 on red, 0 on grey); background 2.4, so the edge
        # falls where a pixel is half red; the other classes low
        kernel = np.zeros((1, 1, 3, 21), np.float32)
        kernel[0, 0, :, 15] = (3.0, -1.5, -1.5)
        bias = np.full(21, -4.0, np.float32)
        bias[0], bias[15] = 2.4, 0.0
        logits = tf.nn.bias_add(tf.nn.conv2d(features, kernel, 1, "SAME", name="logits/semantic/Conv2D"),
                                bias, name="logits/semantic/BiasAdd")
        low = tf.compat.v1.image.resize_bilinear(logits, tf.shape(logits)[1:3], align_corners=True,
                                                 name="ResizeBilinear_1")
        scores = tf.compat.v1.image.resize_bilinear(low, [size, size], align_corners=True, name="ResizeBilinear_2")
        labels = tf.argmax(scores, 3, name="ArgMax")
        tf.identity(tf.cast(labels, tf.int32), name="SemanticPredictions")
    path.write_bytes(graph.as_graph_def().SerializeToString())
    return path
