"""int8 dynamic quantization of a bundle's graphs with onnxruntime.quantization.quantize_dynamic.

Weights of MatMul (and embedding Gather) become int8; activations are quantized on the fly per
batch. ONNX Runtime's dynamic quantizer leaves Gemm alone, and the TorchScript exporter writes
every 2-D nn.Linear (the decoder's GRU gates, readout and vocabulary projection) as Gemm, so each
Gemm with a constant weight is first rewritten as the equivalent MatMul + Add (after ONNX
Runtime's recommended pre-processing, whose optimizer would otherwise fuse them back into Gemm).
The encoder's ONNX GRU operators have no dynamic-quantized kernel and stay float32.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnxruntime.quantization import QuantType, quantize_dynamic
from onnxruntime.quantization.shape_inference import quant_pre_process

from export.errors import QuantizationError


def quantize_graph(source: Path, target: Path) -> None:
    """Writes the int8 version of the float graph at source to target."""
    with tempfile.TemporaryDirectory(prefix="heed-quantize-") as scratch:
        prepared = Path(scratch) / source.name
        try:
            # shape inference and graph clean-up, as ONNX Runtime recommends before quantizing
            quant_pre_process(source, prepared)
            graph_model = onnx.load(str(prepared))
            gemm_as_matmul(graph_model)
            onnx.save(graph_model, str(prepared))
            quantize_dynamic(
                prepared,
                target,
                weight_type=QuantType.QInt8,
                per_channel=True,
                extra_options={"MatMulConstBOnly": True},
            )
        except Exception as error:  # the quantization tools raise assorted untyped errors
            raise QuantizationError(f"quantizing {source.name} failed: {error}") from error
    if not target.is_file():
        raise QuantizationError(f"quantizing {source.name} wrote nothing")


def gemm_as_matmul(graph_model: onnx.ModelProto) -> int:
    """Rewrites Gemm(A, W, c) with a constant W as MatMul(A, W') + c, in place; returns how many."""
    graph = graph_model.graph
    initializers = {tensor.name: tensor for tensor in graph.initializer}
    nodes: list[onnx.NodeProto] = []
    rewritten = 0
    for node in graph.node:
        replacement = _matmul_for(node, initializers, graph)
        if replacement is None:
            nodes.append(node)
        else:
            nodes.extend(replacement)
            rewritten += 1
    del graph.node[:]
    graph.node.extend(nodes)
    drop_unused_initializers(graph)
    return rewritten


def drop_unused_initializers(graph: onnx.GraphProto) -> None:
    """Removes initializers no node reads (a Gemm's weight once its MatMul has its own copy)."""
    used = _names_read(graph)
    kept = [tensor for tensor in graph.initializer if tensor.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)


def _matmul_for(
    node: onnx.NodeProto, initializers: dict[str, onnx.TensorProto], graph: onnx.GraphProto
) -> list[onnx.NodeProto] | None:
    if node.op_type != "Gemm" or len(node.input) < 2 or node.input[1] not in initializers:
        return None
    attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if attributes.get("alpha", 1.0) != 1.0 or attributes.get("beta", 1.0) != 1.0 or attributes.get("transA", 0):
        return None
    weight = numpy_helper.to_array(initializers[node.input[1]])
    if attributes.get("transB", 0):
        weight = weight.T
    weight_name = f"{node.name or node.output[0]}_matmul_weight"
    graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(weight), weight_name))
    has_bias = len(node.input) > 2 and node.input[2] != ""
    product = f"{node.output[0]}_matmul" if has_bias else node.output[0]
    matmul = helper.make_node("MatMul", [node.input[0], weight_name], [product], name=f"{node.name}_matmul")
    if not has_bias:
        return [matmul]
    add = helper.make_node("Add", [product, node.input[2]], [node.output[0]], name=f"{node.name}_bias")
    return [matmul, add]


def _names_read(graph: onnx.GraphProto) -> set[str]:
    """Every value name the graph's nodes or outputs read, including inside If/Loop bodies."""
    names = {value.name for value in graph.output}
    for node in graph.node:
        names.update(node.input)
        for attribute in node.attribute:
            for body in [attribute.g, *attribute.graphs] if attribute.HasField("g") else attribute.graphs:
                names |= _names_read(body)
    return names
