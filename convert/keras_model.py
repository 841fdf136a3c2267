"""DeepLab MobileNetV2 rebuilt as a Keras functional model from its frozen graph, for the AI Camera.

Sony's IMX500 toolchain takes a Keras (or PyTorch) model, not a frozen graph or a .tflite, and
only layers it knows: no `Lambda`. So the network is rebuilt layer by layer from the GraphDef the
TFLite recipe converts (8-bit weights folded, output stride rewritten, image pooling refitted to
the input size), walking back from the logits to the float input (`sub_7`), with the weights read
from the graph's constants:

    Conv2D [+ BiasAdd | FusedBatchNorm]                -> Conv2D (batch norm folded into it)
    DepthwiseConv2dNative [+ BiasAdd | FusedBatchNorm] -> DepthwiseConv2D (dilation kept)
    Relu6, Relu                                        -> ReLU(6), ReLU
    Add                                                -> Add
    AvgPool (the whole feature map)                    -> AveragePooling2D
    ResizeBilinear of the 1x1 pooled features          -> UpSampling2D (a 1x1 map is the same either way)
    ConcatV2                                           -> Concatenate

then the head DeepLab's export puts after the logits: a bilinear upsampling to the input size with
align_corners (feature i sits on pixel i * stride, which is why sizes are k * stride + 1), and the
arg-max. Keras' `Resizing`/`UpSampling2D` interpolate with half-pixel centres instead, which puts
every label up to half a feature (8 pixels at stride 16) off at the borders; align_corners is a fixed
linear map along each axis, so it is written as two `Dense` layers with constant interpolation
weights (each weight a multiple of 1/stride, exact in 8 bits) between `Permute`s. The arg-max is
`tf.math.argmax` (a TF op layer, as in Sony's own DeepLab example), so the sensor sends class ids.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .graph import Cut, GraphError, fit_image_pooling
from .shapes import Size, hw
from .tfimport import tf

keras = tf.keras
PASSTHROUGH = ("Identity",)


def _name(ref: str) -> str:
    return ref.lstrip("^").split(":")[0]


class _Graph:
    """Nodes by name, constants resolved through Identity (the graph's `weights/read`)."""

    def __init__(self, graph: Any):
        self.nodes = {n.name: n for n in graph.node}

    def node(self, ref: str) -> Any:
        name = _name(ref)
        if name not in self.nodes:
            raise GraphError(f"the graph has no node {name!r}")
        return self.nodes[name]

    def const(self, ref: str) -> np.ndarray:
        node = self.node(ref)
        while node.op in PASSTHROUGH:
            node = self.node(node.input[0])
        if node.op != "Const":
            raise GraphError(f"{node.name}: expected a constant, found {node.op}")
        return tf.make_ndarray(node.attr["value"].tensor)

    def consumers(self) -> dict[str, list[Any]]:
        found: dict[str, list[Any]] = {}
        for node in self.nodes.values():
            for ref in node.input:
                found.setdefault(_name(ref), []).append(node)
        return found


def _ints(node: Any, attr: str, default: list[int]) -> list[int]:
    return list(node.attr[attr].list.i) or default


def _fold(g: _Graph, after: Any, kernel: np.ndarray, depthwise: bool) -> tuple[np.ndarray, np.ndarray, Any]:
    """The kernel and bias with the BiasAdd or (inference) batch norm that follows folded in, and the
    node whose output they now give."""
    out_channels = kernel.shape[2] * kernel.shape[3] if depthwise else kernel.shape[3]
    bias = np.zeros(out_channels, np.float32)
    if after is not None and after.op == "BiasAdd":
        return kernel, g.const(after.input[1]).astype(np.float32), after
    if after is not None and after.op in ("FusedBatchNorm", "FusedBatchNormV3"):
        gamma, beta, mean, variance = (g.const(ref).astype(np.float64) for ref in after.input[1:5])
        scale = gamma / np.sqrt(variance + after.attr["epsilon"].f)
        if depthwise:
            kernel = kernel * scale.reshape(kernel.shape[2], kernel.shape[3])
        else:
            kernel = kernel * scale
        return kernel.astype(np.float32), (beta - mean * scale).astype(np.float32), after
    return kernel, bias, None


class _Builder:
    """Walks the graph from the output back to the cut's input, making one Keras layer per op."""

    def __init__(self, graph: Any, cut: Cut, image: Any):
        self.g = _Graph(graph)
        self.cut = cut
        self.image = image
        self.consumers = self.g.consumers()
        self.built: dict[str, Any] = {}
        self.folded_into: dict[str, str] = {}  # BiasAdd/batch norm -> the convolution that absorbed it

    def tensor(self, ref: str) -> Any:
        name = _name(ref)
        if name == self.cut.input:
            return self.image
        if name not in self.built:
            self.built[name] = self._make(self.g.node(name))
        return self.built[name]

    def _single_follower(self, node: Any) -> Any:
        after = self.consumers.get(node.name, [])
        return after[0] if len(after) == 1 and after[0].op in ("BiasAdd", "FusedBatchNorm", "FusedBatchNormV3") \
            else None

    def _make(self, node: Any) -> Any:
        op = node.op
        if op in PASSTHROUGH:
            return self.tensor(node.input[0])
        if op in ("BiasAdd", "FusedBatchNorm", "FusedBatchNormV3"):
            source = self.g.node(node.input[0])
            if source.op not in ("Conv2D", "DepthwiseConv2dNative"):
                raise GraphError(f"{node.name}: {op} after {source.op}; only after a convolution is supported")
            self.tensor(source.name)  # builds the convolution, which folds this op in
            if self.folded_into.get(node.name) != source.name:
                raise GraphError(f"{node.name}: {op} could not be folded into {source.name}")
            return self.built[source.name]
        if op in ("Conv2D", "DepthwiseConv2dNative"):
            return self._conv(node)
        if op == "Relu6":
            return keras.layers.ReLU(6.0, name=_layer(node))(self.tensor(node.input[0]))
        if op == "Relu":
            return keras.layers.ReLU(name=_layer(node))(self.tensor(node.input[0]))
        if op in ("Add", "AddV2"):
            return keras.layers.Add(name=_layer(node))([self.tensor(node.input[0]), self.tensor(node.input[1])])
        if op == "AvgPool":
            window, strides = _ints(node, "ksize", [1, 1, 1, 1]), _ints(node, "strides", [1, 1, 1, 1])
            return keras.layers.AveragePooling2D(tuple(window[1:3]), tuple(strides[1:3]),
                                                 padding=node.attr["padding"].s.decode().lower(),
                                                 name=_layer(node))(self.tensor(node.input[0]))
        if op == "ResizeBilinear":
            x = self.tensor(node.input[0])
            height, width = (int(v) for v in self.g.const(node.input[1]))
            if tuple(x.shape[1:3]) != (1, 1):
                raise GraphError(f"{node.name}: only the upsampling of the 1x1 pooled features is supported")
            return keras.layers.UpSampling2D((height, width), name=_layer(node))(x)
        if op == "ConcatV2":
            axis = int(self.g.const(node.input[-1]))
            return keras.layers.Concatenate(axis=axis, name=_layer(node))([self.tensor(r) for r in node.input[:-1]])
        raise GraphError(f"{node.name}: op {op} is not supported by the Keras rebuild for the AI Camera")

    def _conv(self, node: Any) -> Any:
        depthwise = node.op == "DepthwiseConv2dNative"
        padding = node.attr["padding"].s.decode()
        if padding not in ("SAME", "VALID") or node.attr["data_format"].s not in (b"", b"NHWC"):
            raise GraphError(f"{node.name}: padding {padding}, format {node.attr['data_format'].s.decode()} "
                             "(expected SAME or VALID, NHWC)")
        strides, dilations = _ints(node, "strides", [1, 1, 1, 1]), _ints(node, "dilations", [1, 1, 1, 1])
        kernel = g_kernel = self.g.const(node.input[1]).astype(np.float32)
        after = self._single_follower(node)
        kernel, bias, folded = _fold(self.g, after, g_kernel, depthwise)
        common = dict(strides=tuple(strides[1:3]), dilation_rate=tuple(dilations[1:3]), padding=padding.lower(),
                      use_bias=True, name=_layer(folded or node))
        if depthwise:
            layer = keras.layers.DepthwiseConv2D(kernel.shape[:2], depth_multiplier=kernel.shape[3], **common)
        else:
            layer = keras.layers.Conv2D(kernel.shape[3], kernel.shape[:2], **common)
        out = layer(self.tensor(node.input[0]))
        layer.set_weights([kernel, bias])
        if folded is not None:
            self.folded_into[folded.name] = node.name
        return out


def _layer(node: Any) -> str:
    """A Keras layer name from a graph node name (Keras refuses '/')."""
    return node.name.replace("/", "_")


def align_corners_matrix(source: int, target: int) -> np.ndarray:
    """The (source, target) weights of a 1-D bilinear resize with align_corners: output j is the
    input at j * (source - 1) / (target - 1), interpolated between its two neighbours."""
    weights = np.zeros((source, target), np.float32)
    if source == 1 or target == 1:
        weights[0, :] = 1.0
        return weights
    position = np.arange(target) * (source - 1) / (target - 1)
    low = np.minimum(np.floor(position).astype(int), source - 2)
    frac = (position - low).astype(np.float32)
    weights[low, np.arange(target)] = 1.0 - frac
    weights[low + 1, np.arange(target)] += frac
    return weights


def upsample_align_corners(x: Any, size: Size, name: str = "upsample") -> Any:
    """[1, h, w, C] -> [1, H, W, C] bilinear with align_corners, as two constant Dense layers: one
    along the width, one along the height (`Permute` moves each axis last in turn)."""
    height, width = size
    h, w = int(x.shape[1]), int(x.shape[2])
    along_width = keras.layers.Dense(width, use_bias=False, trainable=False, name=f"{name}_width")
    along_height = keras.layers.Dense(height, use_bias=False, trainable=False, name=f"{name}_height")
    y = keras.layers.Permute((1, 3, 2), name=f"{name}_to_hcw")(x)           # [h, C, w]
    y = along_width(y)                                                       # [h, C, W]
    y = keras.layers.Permute((3, 2, 1), name=f"{name}_to_wch")(y)           # [W, C, h]
    y = along_height(y)                                                      # [W, C, H]
    y = keras.layers.Permute((3, 1, 2), name=f"{name}_to_hwc")(y)           # [H, W, C]
    along_width.set_weights([align_corners_matrix(w, width)])
    along_height.set_weights([align_corners_matrix(h, height)])
    return y


def rebuild(graph: Any, cut: Cut, size: int | Size, labels: bool = True) -> Any:
    """The Keras functional model of the graph between the cut points at input `size` (h, w):
    float input [1,h,w,3] ((x - 127.5) / 127.5 RGB, the cut's `sub_7`), scores upsampled to h x w
    with align_corners, then (`labels`) their arg-max. The graph is the one the TFLite recipe
    converts (Dequantize folded, output stride set); its image pooling is refitted here."""
    height, width = hw(size)
    graph = fit_image_pooling(graph, cut, (height, width))
    image = keras.Input((height, width, 3), batch_size=1, name="image")
    logits = _Builder(graph, cut, image).tensor(cut.output)
    scores = upsample_align_corners(logits, (height, width))
    out = tf.math.argmax(scores, axis=-1, output_type=tf.int32) if labels else scores
    return keras.Model(image, out, name="deeplab_mobilenetv2")
