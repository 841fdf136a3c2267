"""A tiny DeepLab-shaped TF1 frozen graph for converter tests: the upstream node names and shapes
(ImageTensor -> ... -> sub_7 -> MobilenetV2 -> image pooling + features -> logits/semantic/BiasAdd ->
ResizeBilinear_1 -> ResizeBilinear_2 -> ArgMax -> SemanticPredictions), 8-bit stored weights behind
a Dequantize op, and weights chosen so that it does something checkable: red things are "person"
(class 15).

Its MobileNetV2 is 17 depthwise convolutions on 3 channels, exported at output stride 8 exactly as
TF-slim does it for the real graphs: the first convolution and blocks 1 and 3 have stride 2, block 6
has stride 1 (its own stride, 2, given up), blocks 7-13 are atrous at rate 2 and 14-16 at rate 4,
written SpaceToBatchND -> DepthwiseConv2dNative -> BatchToSpaceND with paddings for the export's
size; the image pooling (a global AvgPool and an upsampling to a constant size) and ResizeBilinear_1
are fixed to the export's feature map. That is all the structure the output-stride rewrite acts on.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

EXPORT_SIZE = 257  # a 33x33 feature map at output stride 8 (the real graphs: 513, 65x65)
BLOCKS = 17
STRIDE_2 = (1, 3)  # blocks that keep their stride 2 at output stride 8 (with the first convolution)


def block_rate(index: int) -> int:
    return 1 if index <= 6 else 2 if index <= 13 else 4


def block_kernel(index: int) -> np.ndarray:
    """A 3x3 depthwise kernel that sums to 1 (a red region stays red) with neighbour weights that
    alternate in sign from block to block: blurring and sharpening by turns keeps the edges where
    they are, and a wrong stride or rate in a rewrite still changes every score."""
    weight = 0.03 if index % 2 == 0 or index in STRIDE_2 else -0.025
    kernel = np.full((3, 3), weight, np.float32)
    kernel[1, 1] = 1.0 - 8 * weight
    # a little asymmetry, so that a mirrored or shifted kernel is not the same kernel
    kernel[0, 1] += 0.01
    kernel[2, 1] -= 0.01
    return np.repeat(kernel[:, :, None, None], 3, axis=2)


def _stem(size: int):
    """ImageTensor -> DeepLab's preprocessing (sub_7) -> the first convolution: a 3x3 stride-2 box
    filter per channel, stored as 8-bit and dequantized at load like the graph-transform's
    quantize_weights output. Returns the features in [0, 2]."""
    image = tf.compat.v1.placeholder(tf.uint8, [1, None, None, 3], name="ImageTensor")
    x = tf.compat.v1.image.resize_bilinear(tf.cast(image, tf.float32), [size, size], align_corners=True)
    sub_7 = tf.subtract(tf.multiply(x, 2.0 / 255.0, name="mul"), 1.0, name="sub_7")
    box = np.zeros((3, 3, 3, 3), np.float32)
    for c in range(3):
        box[:, :, c, c] = 1.0 / 9.0
    stored = np.round(box / (1.0 / 9.0) * 255).astype(np.uint8)
    weights = tf.quantization.dequantize(tf.constant(stored, tf.quint8), 0.0, 1.0 / 9.0,
                                         name="MobilenetV2/Conv/weights_quant/Dequantize")
    features = tf.nn.conv2d(sub_7, weights, strides=2, padding="SAME", name="MobilenetV2/Conv/Conv2D")
    return tf.nn.relu6(features + 1.0, name="MobilenetV2/Conv/Relu6")


def build(path: Path, size: int = EXPORT_SIZE) -> Path:
    graph = tf.Graph()
    with graph.as_default():
        features = _stem(size)
        for index in range(BLOCKS):
            block = f"expanded_conv_{index}" if index else "expanded_conv"
            stride = 2 if index in STRIDE_2 else 1
            with tf.compat.v1.name_scope(f"MobilenetV2/{block}/depthwise/"):
                # with a rate, TensorFlow writes SpaceToBatchND -> depthwise -> BatchToSpaceND, as the export did
                features = tf.nn.depthwise_conv2d(features, block_kernel(index), [1, stride, stride, 1], "SAME",
                                                  dilations=[block_rate(index)] * 2, name="depthwise")
            features = tf.identity(features, name=f"MobilenetV2/{block}/output")
        # DeepLab's image pooling: a global average fixed to the export's feature map, upsampled back
        # to a constant size
        feature_size = int(features.shape[1])
        pooled = tf.nn.avg_pool2d(features, feature_size, 1, "VALID", name="AvgPool2D/AvgPool")
        pooled = tf.nn.relu(tf.nn.conv2d(pooled, np.eye(3, dtype=np.float32)[None, None], 1, "SAME",
                                         name="image_pooling/Conv2D"), name="image_pooling/Relu")
        pooled = tf.compat.v1.image.resize_bilinear(pooled, [feature_size, feature_size], align_corners=True,
                                                    name="ResizeBilinear")
        both = tf.concat([pooled, features], 3, name="concat")
        # logits: person = 3r - 1.5g - 1.5b (4.9 on red, 0 on grey) plus a little of the image's
        # average redness; background 2.4, so the edge falls where a pixel is half red; the other
        # classes low
        kernel = np.zeros((1, 1, 6, 21), np.float32)
        kernel[0, 0, :3, 15] = (0.5, -0.25, -0.25)
        kernel[0, 0, 3:, 15] = (3.0, -1.5, -1.5)
        _head(both, kernel, [feature_size, feature_size], size)
    path.write_bytes(graph.as_graph_def().SerializeToString())
    return path


def build_flat(path: Path, size: int = 65) -> Path:
    """The smallest DeepLab-named graph that segments well: one 3x3 stride-2 convolution (8-bit
    stored weights) and the logits; no MobileNetV2 blocks, so any input size converts. The
    runtime's tiny test models (tests/models) are made from it: their masks follow the red square
    closely, which the blur and camera tests need."""
    graph = tf.Graph()
    with graph.as_default():
        features = _stem(size)
        # logits: person = 3r - 1.5g - 1.5b (4.9 on red, 0 on grey); background 2.4, so the edge
        # falls where a pixel is half red; the other classes low
        kernel = np.zeros((1, 1, 3, 21), np.float32)
        kernel[0, 0, :, 15] = (3.0, -1.5, -1.5)
        _head(features, kernel, None, size)
    path.write_bytes(graph.as_graph_def().SerializeToString())
    return path


def _head(features, kernel: np.ndarray, low_size, size: int) -> None:
    """logits (1x1 `kernel`; background 2.4, person 0, the other classes -4) -> ResizeBilinear_1 to
    `low_size` (None: the logits' own) -> ResizeBilinear_2 to `size` -> ArgMax -> SemanticPredictions."""
    bias = np.full(21, -4.0, np.float32)
    bias[0], bias[15] = 2.4, 0.0
    logits = tf.nn.bias_add(tf.nn.conv2d(features, kernel, 1, "SAME", name="logits/semantic/Conv2D"),
                            bias, name="logits/semantic/BiasAdd")
    low = tf.compat.v1.image.resize_bilinear(logits, low_size if low_size else tf.shape(logits)[1:3],
                                             align_corners=True, name="ResizeBilinear_1")
    scores = tf.compat.v1.image.resize_bilinear(low, [size, size], align_corners=True, name="ResizeBilinear_2")
    labels = tf.argmax(scores, 3, name="ArgMax")
    tf.identity(tf.cast(labels, tf.int32), name="SemanticPredictions")
