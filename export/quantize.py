"""int8 weight-only quantization of a bundle's graphs (manifest "quantization": "int8-weights").

onnxruntime.quantization.quantize_dynamic turns each MatMul weight into int8 with one scale per output
column, and each embedding table into uint8 with one scale (Gather + DequantizeLinear). It also quantizes
the activations at run time (DynamicQuantizeLinear + MatMulInteger), and that part is undone here:
`keep_activations_float` replaces each MatMulInteger by DequantizeLinear(int8 weight) -> float MatMul. The
bundle stores int8 weights (the size gain); ONNX Runtime folds them to float32 at load (service.runtime.graphs),
so every product is float32. Why not quantized activations: their scale is one per call, so a sentence's answer
depended on the rest of the batch (up to 0.7 in attention on the shipped en-de), and without VNNI ONNX Runtime's
u8 x s8 kernels saturate 16-bit pair sums, so the answer depended on the CPU too (4 of 20 greedy translations
changed under AVX2). README's "int8 and the CPU" gives the measurements.

ONNX Runtime's dynamic quantizer leaves Gemm alone, and the TorchScript exporter writes every 2-D nn.Linear
(the decoder's GRU gates, readout and vocabulary projection) as Gemm, so each Gemm with a constant weight is
first rewritten as the equivalent MatMul + Add (after ONNX Runtime's recommended pre-processing, whose
optimizer would otherwise fuse them back into Gemm). The encoder's ONNX GRU operators stay float32.
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
    weights_only_file(target, target)


def weights_only_file(source: Path, target: Path) -> int:
    """Rewrites the dynamically quantized graph at source as weight-only int8 at target; returns the count."""
    graph_model = onnx.load(str(source))
    rewritten = keep_activations_float(graph_model)
    try:
        onnx.checker.check_model(graph_model)
    except onnx.checker.ValidationError as error:
        raise QuantizationError(f"{source.name}: the weight-only graph is invalid: {error}") from None
    onnx.save(graph_model, str(target))
    return rewritten


def keep_activations_float(graph_model: onnx.ModelProto) -> int:
    """Replaces each MatMulInteger of quantize_dynamic by a float MatMul of its dequantized weight, in place.

    quantize_dynamic writes, for Y = A @ W:
        a_q, a_scale, a_zero = DynamicQuantizeLinear(A)   (or a_q = a uint8 embedding lookup)
        Y = Cast(MatMulInteger(a_q, w_q, a_zero, w_zero)) * (a_scale * w_scale)
    which becomes
        W' = DequantizeLinear(w_q, w_scale, w_zero, axis=1);  Y = MatMul(A, W')
    W' is named after the float weight (w_q without "_quantized"), the name bench.rebuild reads it under.
    Quantizers left without readers go. Returns how many products were rewritten.
    """
    graph = graph_model.graph
    producers = {output: node for node in graph.node for output in node.output}
    readers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    replaced: dict[int, list[onnx.NodeProto]] = {}  # by the id of the node they take the place of
    dropped: set[int] = set()
    for node in graph.node:
        if node.op_type == "MatMulInteger":
            float_nodes, chain = _float_matmul(node, producers, readers)
            # in the rescaling Mul's place: by then the float input (even a dequantized lookup) exists
            replaced[id(chain[-1])] = float_nodes
            dropped.update(id(n) for n in (node, *chain[:-1]))
    nodes = [n for node in graph.node if id(node) not in dropped for n in replaced.get(id(node), [node])]
    nodes = _without_unread_quantizers(nodes, {value.name for value in graph.output})
    del graph.node[:]
    graph.node.extend(nodes)
    drop_unused_initializers(graph)
    return len(replaced)


def _float_matmul(
    node: onnx.NodeProto, producers: dict[str, onnx.NodeProto], readers: dict[str, list[onnx.NodeProto]]
) -> tuple[list[onnx.NodeProto], list[onnx.NodeProto]]:
    """The DequantizeLinear + MatMul replacing one MatMulInteger, and the Cast/Mul nodes it makes redundant."""
    quantized_input, quantized_weight, _, weight_zero = node.input
    cast = _only_reader(node.output[0], "Cast", readers)
    rescale = _only_reader(cast.output[0], "Mul", readers)
    scales = producers.get(rescale.input[1])
    if scales is None or scales.op_type != "Mul":
        raise QuantizationError(f"{node.name}: its output is not rescaled by a product of scales")
    float_weight = quantized_weight.removesuffix("_quantized")
    dequantize = helper.make_node(
        "DequantizeLinear", [quantized_weight, scales.input[1], weight_zero], [float_weight],
        name=f"{float_weight}_DequantizeLinear", axis=1,
    )  # fmt: skip
    matmul = helper.make_node(
        "MatMul", [_float_source(quantized_input, producers, readers), float_weight], [rescale.output[0]],
        name=node.name.removesuffix("_quant"),
    )  # fmt: skip
    unshared = [scales] if len(readers[scales.output[0]]) == 1 else []
    return [dequantize, matmul], [*unshared, cast, rescale]


def _float_source(
    quantized: str, producers: dict[str, onnx.NodeProto], readers: dict[str, list[onnx.NodeProto]]
) -> str:
    """The float32 tensor that `quantized` (a uint8 activation) stands for."""
    producer = producers.get(quantized)
    if producer is not None and producer.op_type == "DynamicQuantizeLinear":
        return str(producer.input[0])
    lookups = [r for r in readers.get(quantized, []) if r.op_type == "DequantizeLinear"]
    if not lookups:  # a uint8 embedding lookup is read both ways: by MatMulInteger and dequantized
        raise QuantizationError(f"no float32 value for the quantized activation {quantized!r}")
    return str(lookups[0].output[0])


def _only_reader(name: str, op_type: str, readers: dict[str, list[onnx.NodeProto]]) -> onnx.NodeProto:
    found = readers.get(name, [])
    if len(found) != 1 or found[0].op_type != op_type:
        raise QuantizationError(f"{name!r} should be read by one {op_type}; found {[n.op_type for n in found]}")
    return found[0]


def _without_unread_quantizers(nodes: list[onnx.NodeProto], graph_outputs: set[str]) -> list[onnx.NodeProto]:
    read = graph_outputs | {name for node in nodes for name in node.input}
    return [n for n in nodes if n.op_type != "DynamicQuantizeLinear" or any(o in read for o in n.output)]


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
