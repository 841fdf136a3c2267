"""Output stride of DeepLab's MobileNetV2: detect it in a frozen graph, and rewrite it (8 <-> 16).

TF-slim builds MobileNetV2 for an output stride by walking its blocks with the network's own
strides (blocks 1, 3, 6 and 13 downsample by 2): once the stride so far reaches the target, a
block's stride becomes 1 and every later depthwise convolution is dilated by the product of the
strides given up. The shared graphs were exported at output stride 8:

    block      0-5        6          7-12      13         14-16
    stride 8   as built   1, rate 1  rate 2    1, rate 2  rate 4
    stride 16  as built   2, SAME    rate 1    1, rate 1  rate 2

A TF1 export writes a dilated depthwise convolution as SpaceToBatchND -> DepthwiseConv2dNative
(VALID) -> BatchToSpaceND, with paddings and crops computed for the export's own feature map
(65x65 at 513); at another input size those constants are wrong (and for some sizes do not even
build). So every block is written back as one DepthwiseConv2dNative with SAME padding and a
`dilations` attribute: independent of the input size, and exactly the op the TFLite converter makes
of the SpaceToBatchND pattern anyway (at stride 8 and 513 the converted model is the same,
bit for bit). TensorFlow's own CPU kernel has no dilated depthwise convolution, so the rewritten
GraphDef is for the TFLite converter, not for a TF session.

The network's own stride of each block is read from the graph (its stride times the rate increase
after it), not from a table, so a graph exported at output stride 16 converts to 8 the same way.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .graph import GraphError
from .tfimport import tf

# DeepLab's MobileNetV2 (TF-slim) names the depthwise convolution of block N like this; block 0 has no _N.
BLOCK = re.compile(r"^(?P<scope>.*)expanded_conv(?:_(?P<index>\d+))?/depthwise/depthwise$")
CONV_OPS = ("Conv2D", "DepthwiseConv2dNative")


@dataclass(frozen=True)
class Block:
    """One depthwise convolution of MobileNetV2 as the graph has it."""
    index: int
    node: str  # the DepthwiseConv2dNative
    source: str  # its input: the block's expansion output (before any SpaceToBatchND)
    stride: int
    rate: int
    atrous: tuple[str, str] | None  # (SpaceToBatchND, BatchToSpaceND) around it, when written that way

    @property
    def name(self) -> str:
        return f"expanded_conv_{self.index}" if self.index else "expanded_conv"


def _node_name(ref: str) -> str:
    return ref.lstrip("^").split(":")[0]


def _const(nodes: dict[str, Any], ref: str) -> list:
    node = nodes.get(_node_name(ref))
    if node is None or node.op != "Const":
        raise GraphError(f"{_node_name(ref)}: expected a constant")
    return tf.make_ndarray(node.attr["value"].tensor).tolist()


def _square(values: list, what: str, where: str) -> int:
    if len(values) != 2 or values[0] != values[1] or values[0] < 1:
        raise GraphError(f"{where}: {what} {values} is not the same for height and width")
    return int(values[0])


def find_blocks(graph: tf.compat.v1.GraphDef) -> list[Block]:
    """MobileNetV2's depthwise convolutions in block order, with their stride and atrous rate
    ([] for a graph without them). GraphError when they do not look like TF-slim's."""
    nodes = {n.name: n for n in graph.node}
    consumers: dict[str, list[str]] = {}
    for n in graph.node:
        for ref in n.input:
            consumers.setdefault(_node_name(ref), []).append(n.name)
    found: dict[int, Block] = {}
    scopes = set()
    for node in graph.node:
        match = BLOCK.match(node.name)
        if node.op != "DepthwiseConv2dNative" or not match:
            continue
        if node.attr["data_format"].s not in (b"", b"NHWC"):
            raise GraphError(f"{node.name}: data format {node.attr['data_format'].s.decode()} (expected NHWC)")
        scopes.add(match.group("scope"))
        index = int(match.group("index") or 0)
        strides = list(node.attr["strides"].list.i) or [1, 1, 1, 1]
        dilations = list(node.attr["dilations"].list.i) or [1, 1, 1, 1]
        stride = _square(strides[1:3], "stride", node.name)
        source, atrous = node.input[0], None
        before = nodes.get(_node_name(node.input[0]))
        if before is not None and before.op == "SpaceToBatchND":
            after = [nodes[c] for c in consumers.get(node.name, [])]
            if len(after) != 1 or after[0].op != "BatchToSpaceND":
                raise GraphError(f"{node.name}: SpaceToBatchND without its BatchToSpaceND; not a TF-slim atrous block")
            rate = _square(_const(nodes, before.input[1]), "block shape", before.name)
            if _square(_const(nodes, after[0].input[1]), "block shape", after[0].name) != rate:
                raise GraphError(f"{node.name}: SpaceToBatchND and BatchToSpaceND disagree on the rate")
            if stride != 1 or node.attr["padding"].s != b"VALID" or dilations[1:3] != [1, 1]:
                raise GraphError(f"{node.name}: an atrous block must be a VALID stride-1 depthwise convolution")
            source, atrous = before.input[0], (before.name, after[0].name)
        else:
            rate = _square(dilations[1:3], "dilation", node.name)
            if node.attr["padding"].s != b"SAME":
                # explicit padding (a Pad op before a VALID convolution) is fixed to one stride
                raise GraphError(f"{node.name}: padding {node.attr['padding'].s.decode()} (expected SAME); "
                                 "graphs exported with explicit padding are not supported")
        if stride > 1 and rate > 1:
            raise GraphError(f"{node.name}: both strided and dilated; not a TF-slim MobileNetV2 block")
        found[index] = Block(index, node.name, source, stride, rate, atrous)
    if not found:
        return []
    if len(scopes) != 1 or sorted(found) != list(range(len(found))):
        raise GraphError(f"MobileNetV2 blocks expanded_conv_N are not one network numbered 0..N "
                         f"(found {len(found)} in {len(scopes)} scope(s))")
    return [found[i] for i in range(len(found))]


def _stem_stride(graph: tf.compat.v1.GraphDef, blocks: list[Block]) -> int:
    """The stride of every convolution of the network that is not a block's depthwise one (only
    the first 3x3 convolution has one: 2)."""
    scope = BLOCK.match(blocks[0].node).group("scope")
    depthwise = {b.node for b in blocks}
    stride = 1
    for node in graph.node:
        if node.op in CONV_OPS and node.name.startswith(scope) and node.name not in depthwise:
            stride *= max(1, list(node.attr["strides"].list.i or [1, 1, 1, 1])[1])
    return stride


def native_strides(blocks: list[Block]) -> list[int]:
    """Each block's stride in the network as designed: its stride in the graph times the factor by
    which the atrous rate grows after it (TF-slim turns a stride given up into that rate)."""
    natives = []
    for block, after in zip(blocks, blocks[1:] + [None]):
        grow = 1 if after is None else after.rate / block.rate
        if grow < 1 or grow != int(grow):
            raise GraphError(f"{after.node}: atrous rate {after.rate} after rate {block.rate}; "
                             "not TF-slim's output-stride pattern")
        natives.append(block.stride * int(grow))
    return natives


def output_stride(graph: tf.compat.v1.GraphDef) -> int | None:
    """The graph's output stride (8 for the shared graphs), None when it has no MobileNetV2 blocks."""
    blocks = find_blocks(graph)
    if not blocks:
        return None
    stride = _stem_stride(graph, blocks)
    for block in blocks:
        stride *= block.stride
    return stride


def schedule(stem: int, natives: list[int], target: int) -> list[tuple[int, int]]:
    """(stride, rate) of every block for an output stride, as TF-slim's mobilenet() assigns them."""
    current, rate, plan = stem, 1, []
    for native in natives:
        if current == target:
            plan.append((1, rate))
            rate *= native
        elif current * native > target:
            raise GraphError(f"output stride {target} falls inside a block of stride {native}")
        else:
            plan.append((native, 1))
            current *= native
    if current != target:
        raise GraphError(f"this network reaches output stride {current} at most, not {target}")
    return plan


def set_output_stride(graph: tf.compat.v1.GraphDef, target: int | None
                      ) -> tuple[tf.compat.v1.GraphDef, dict[str, Any] | None]:
    """The graph at output stride `target` (None: the graph's own), every block written as a plain
    or dilated depthwise convolution with SAME padding, and what was done (None, graph unchanged,
    when it has no MobileNetV2 blocks and no stride was asked for)."""
    blocks = find_blocks(graph)
    if not blocks:
        if target is not None:
            raise GraphError("no MobileNetV2 blocks (expanded_conv_N/depthwise/depthwise) in this graph: "
                             "--output-stride needs a DeepLab MobileNetV2 graph")
        return graph, None
    stem = _stem_stride(graph, blocks)
    own = output_stride(graph)
    plan = schedule(stem, native_strides(blocks), target or own)
    out = _rewrite(graph, blocks, plan)
    changed = [f"{b.name}: stride {b.stride} rate {b.rate} -> stride {s} rate {r}"
               for b, (s, r) in zip(blocks, plan) if (b.stride, b.rate) != (s, r)]
    return out, {"graph": own, "model": target or own, "changed": changed,
                 "atrous_as_dilations": sum(1 for b in blocks if b.atrous)}


def _rewrite(graph: tf.compat.v1.GraphDef, blocks: list[Block], plan: list[tuple[int, int]]
             ) -> tf.compat.v1.GraphDef:
    by_node = {b.node: (b, step) for b, step in zip(blocks, plan)}
    removed = {name for b in blocks if b.atrous for name in b.atrous}
    redirect = {b.atrous[1]: b.node for b in blocks if b.atrous}  # BatchToSpaceND -> the convolution
    dropped_inputs = {_node_name(ref) for n in graph.node if n.name in removed for ref in n.input[1:]}
    out = tf.compat.v1.GraphDef()
    out.versions.CopyFrom(graph.versions)
    out.library.CopyFrom(graph.library)
    kept = [n for n in graph.node if n.name not in removed]
    used = {_node_name(ref) for n in kept for ref in n.input}
    for node in kept:
        if node.name in dropped_inputs and node.name not in used:
            continue  # the atrous blocks' block_shape/paddings/crops constants
        new = out.node.add()
        new.CopyFrom(node)
        for i, ref in enumerate(new.input):
            name = _node_name(ref)
            if name in redirect:
                new.input[i] = ref.replace(name, redirect[name], 1)
        if node.name in by_node:
            block, (stride, rate) = by_node[node.name]
            new.input[0] = block.source
            new.attr["strides"].list.i[:] = [1, stride, stride, 1]
            new.attr["dilations"].list.i[:] = [1, rate, rate, 1]
            new.attr["padding"].s = b"SAME"
            if "_output_shapes" in new.attr:
                del new.attr["_output_shapes"]
    return out
