"""TF1 frozen graphs: load, fold stored-8-bit weights, choose the cut points, wrap for the converter."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pibokeh.errors import ModelError

from . import OUTPUTS
from .shapes import Size, hw
from .tfimport import tf

# Upstream DeepLab export names: the float input after the TF1 preprocessing ops, and the logits.
# The export upsamples the logits with two ResizeBilinear ops whose sizes are fixed for 513
# (ResizeBilinear_1 to 65x65, ResizeBilinear_2 to 513x513, both align_corners); cutting at the
# logits and doing one align_corners resize to the chosen input size is the same at 513 and
# correct at every other size.
INPUT_CANDIDATES = ("sub_7",)
OUTPUT_CANDIDATES = ("logits/semantic/BiasAdd", "ResizeBilinear_2", "ResizeBilinear_3")


class GraphError(ModelError):
    """A graph that cannot be converted; one line for the user."""


@dataclass(frozen=True)
class Cut:
    """Where the TFLite model starts and ends inside the TF1 graph, and what it outputs."""
    input: str
    output: str
    labels: bool  # arg-max inside the model (class ids out) instead of scores
    # scores upsampled to the input size inside the model; False: the logits at the network's own
    # resolution (the runtime's mask step upsamples one margin channel instead of 21 score channels)
    upsample: bool = True

    @property
    def kind(self) -> str:
        """One of OUTPUTS."""
        return "labels" if self.labels else "scores" if self.upsample else "logits"


def load_graph(path: str | Path) -> tf.compat.v1.GraphDef:
    """A frozen GraphDef from a .pb file, with clear errors for missing or foreign files."""
    path = Path(path)
    if not path.is_file():
        raise GraphError(f"{path}: no such graph file")
    graph = tf.compat.v1.GraphDef()
    try:
        graph.ParseFromString(path.read_bytes())
    except Exception:  # protobuf raises its own DecodeError type, not exported stably
        raise GraphError(f"{path}: not a TensorFlow frozen graph (GraphDef .pb)") from None
    if not graph.node:
        raise GraphError(f"{path}: not a TensorFlow frozen graph (no nodes)")
    return graph


def fold_dequantize(graph: tf.compat.v1.GraphDef) -> tuple[tf.compat.v1.GraphDef, int]:
    """Replace `Dequantize` ops (weights stored as 8-bit, e.g. by graph-transform quantize_weights)
    with the float constants they compute, so the TFLite converter accepts the graph.

    Returns the new graph and how many ops were folded. The quantized constants they read are
    left for the converter to prune.
    """
    dequantize = [n.name for n in graph.node if n.op == "Dequantize"]
    if not dequantize:
        return graph, 0
    with tf.Graph().as_default() as g:
        tf.compat.v1.import_graph_def(graph, name="")
        with tf.compat.v1.Session(graph=g) as session:
            values = session.run([f"{name}:0" for name in dequantize])
    folded = dict(zip(dequantize, values))
    out = tf.compat.v1.GraphDef()
    out.versions.CopyFrom(graph.versions)
    for node in graph.node:
        if node.name in folded:
            const = out.node.add()
            const.name, const.op = node.name, "Const"
            const.attr["dtype"].type = tf.float32.as_datatype_enum
            const.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(folded[node.name].astype(np.float32)))
        else:
            out.node.add().CopyFrom(node)
    return out, len(dequantize)


def choose_cut(graph: tf.compat.v1.GraphDef, output: str = "scores", input_tensor: str | None = None,
               output_tensor: str | None = None) -> Cut:
    """The input and output nodes to convert between: detected from DeepLab's names or given;
    `output` is one of OUTPUTS."""
    if output not in OUTPUTS:
        raise GraphError(f"unknown output {output!r}; choose from {', '.join(OUTPUTS)}")
    names = {n.name for n in graph.node}

    def pick(given: str | None, candidates: tuple[str, ...], what: str, flag: str) -> str:
        if given:
            name = given.split(":")[0]
            if name not in names:
                raise GraphError(f"the graph has no node {name!r} ({what})")
            return name
        for name in candidates:
            if name in names:
                return name
        raise GraphError(f"the graph has none of {', '.join(candidates)} ({what}); "
                         f"is it a DeepLab graph? name the tensor with {flag}")

    return Cut(pick(input_tensor, INPUT_CANDIDATES, "float input after preprocessing", "--input-tensor"),
               pick(output_tensor, OUTPUT_CANDIDATES, "class scores", "--output-tensor"),
               labels=output == "labels", upsample=output != "logits")


# The name of the final upsampling to the input size, so that a recipe can refer to it.
UPSAMPLE = "pibokeh/upsample"


def without_recorded_shapes(graph: tf.compat.v1.GraphDef) -> tf.compat.v1.GraphDef:
    """A copy without the `_output_shapes` some exports record: they hold the export's size."""
    clean = tf.compat.v1.GraphDef()
    clean.CopyFrom(graph)
    for node in clean.node:
        if "_output_shapes" in node.attr:
            del node.attr["_output_shapes"]
    return clean


def fit_image_pooling(graph: tf.compat.v1.GraphDef, cut: Cut, size: int | Size) -> tf.compat.v1.GraphDef:
    """The graph with DeepLab's image-level pooling refitted to the feature map at `size` (h, w).

    The export hard-codes it for its crop size: an AvgPool whose window is the whole 65x65 feature
    map at 513, and an upsampling back to a constant 65x65. At another size or output stride both
    must follow the feature map (33x33 at 257, 33x19 at 513x289 and stride 16), or the graph does not
    even build; so must every other upsampling to that constant (ResizeBilinear_1). At the export's
    own size and stride nothing changes."""
    height, width = hw(size)
    graph = without_recorded_shapes(graph)
    pools = [n for n in graph.node if n.op == "AvgPool" and n.attr["padding"].s == b"VALID"]
    if not pools:
        return graph
    features = {}
    with tf.Graph().as_default():
        image = tf.compat.v1.placeholder(tf.float32, [1, height, width, 3])
        inputs = [n.input[0] for n in pools]
        sub = tf.compat.v1.graph_util.extract_sub_graph(graph, [i.split(":")[0] for i in inputs])
        try:
            found = tf.compat.v1.import_graph_def(sub, input_map={f"{cut.input}:0": image}, name="",
                                                  return_elements=[i if ":" in i else f"{i}:0" for i in inputs])
        except (ValueError, tf.errors.OpError):
            return graph  # not the layout this is for; the conversion will say what is wrong
        for pool, tensor in zip(pools, found):
            features[pool.name] = [int(d) for d in tensor.shape[1:3]]
    sizes = {n.input[1] for n in graph.node if n.op == "ResizeBilinear" and len(n.input) > 1}
    constant_sizes = {}  # the constant output sizes of the upsamplings, by constant's name
    for node in graph.node:
        if node.name in sizes and node.op == "Const":
            value = tf.make_ndarray(node.attr["value"].tensor)
            if value.shape == (2,):
                constant_sizes[node.name] = tuple(int(v) for v in value)
    refit = {}  # window made for the export's size (h, w) -> the feature map at `size` (h, w)
    for node in graph.node:
        if node.name in features:
            window = tuple(node.attr["ksize"].list.i[1:3])
            fh, fw = features[node.name]
            # a global pooling made for another size: larger than this feature map, or (on a larger
            # one) the very size the export upsamples the pooled features back to
            if (window[0] >= fh and window[1] >= fw) or window in constant_sizes.values():
                refit[window] = (fh, fw)
                node.attr["ksize"].list.i[:] = [1, fh, fw, 1]
    for node in graph.node:  # the upsampling of the pooled features (and the logits) to the feature map
        if node.name in constant_sizes and (old := constant_sizes[node.name]) in refit:
            dtype = tf.make_ndarray(node.attr["value"].tensor).dtype
            node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(np.array(refit[old], dtype=dtype)))
    return graph


def concrete_function(graph: tf.compat.v1.GraphDef, cut: Cut, size: int | Size):
    """The graph between the cut points as a TF2 concrete function with a fixed [1,h,w,3] float
    input (`size` is (h, w), or one int for a square): scores upsampled to h x w (align_corners, as
    DeepLab does), or their arg-max, or (`cut.upsample` False) the scores as the graph gives them."""
    height, width = hw(size)
    graph = fit_image_pooling(graph, cut, (height, width))

    def body(x):
        y, = tf.compat.v1.import_graph_def(graph, input_map={f"{cut.input}:0": x},
                                           return_elements=[f"{cut.output}:0"], name="")
        if cut.upsample and y.shape.rank == 4 and tuple(y.shape[1:3]) != (height, width):
            y = tf.compat.v1.image.resize(y, [height, width], tf.image.ResizeMethod.BILINEAR, align_corners=True,
                                          name=UPSAMPLE)
        if cut.labels and y.shape.rank == 4:
            y = tf.argmax(y, axis=3, output_type=tf.int32)
        return y

    try:
        return tf.compat.v1.wrap_function(body, [tf.TensorSpec([1, height, width, 3], tf.float32, name="image")])
    except (ValueError, TypeError, tf.errors.OpError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise GraphError(f"cannot cut the graph at {cut.input} -> {cut.output} ({first})") from None
