"""Rebuilds the PyTorch `model.Seq2Seq` from a bundle, float32 or int8, so the baseline needs only what ships.

The TorchScript exporter keeps most weights under their state-dict names ("model.decoder.readout.weight").
The rest it rewrites, and each rewrite is undone here from the node that reads the weight:
- `nn.GRU` becomes an ONNX GRU whose W, R and B hold the gates in ONNX's order (update, reset, hidden)
  where PyTorch keeps (reset, update, new); B is the input bias followed by the hidden bias;
- a 3-D `nn.Linear` without bias becomes MatMul with the transposed weight ("onnx::MatMul_319").
A node's name is its module path ("/encoder/forward_rnn/GRU", "/attention/energy/MatMul"), which names
the module whose weight it holds. After loading, `check_against_bundle` runs both graphs in ONNX Runtime
and the rebuilt model on the same input and fails unless they agree, so a wrong mapping cannot pass silently.

An int8 bundle (export/quantize.py) went through two more rewrites: each Gemm with a constant weight became
MatMul with the transposed weight ("/readout/Gemm_matmul_weight") plus Add, then each MatMul weight became an
int8 copy with one scale and zero point per output column and each embedding table a uint8 copy with one scale
and zero point (Gather + DequantizeLinear). A weight-only bundle ("int8-weights", the shipped kind) reads each
int8 weight through DequantizeLinear into a float MatMul; an older one ("int8") multiplied quantized activations
with MatMulInteger. `float_view` undoes either, w = (q - zero_point) * scale in float32 under the float weight's
name, and turns the nodes back into MatMul and Gather, so the float32 mapping applies unchanged. The encoder's
GRUs stay float32. The int8 baseline is therefore the dequantized weights in float32: exactly what a weight-only
bundle computes with. With tied embeddings the int8 graphs hold the shared matrix twice (per tensor for the
lookup, per channel for the output projection), and the rebuilt model unties the two so that each computes with
its own copy, as the graphs do. A weight-only bundle is held to PARITY_TOLERANCE like a float32 one. Only an
older bundle, whose activations ONNX Runtime rounds to 8 bits on the fly, is held to INT8_TOLERANCES instead: at
least three times what that rounding moved the outputs of the shipped en-de and en-fr models, while a transposed,
swapped or misplaced weight moves them by 0.5 or more.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
import torch
from onnx import helper, numpy_helper

from model.checkpoint import build_payload, save_checkpoint
from model.cli import OneLineParser, UsageError
from model.model import ModelConfig, Seq2Seq
from service.runtime.graphs import session_options
from service.runtime.manifest import INT8_DYNAMIC, QUANTIZATIONS

STATE_PREFIX = "model."  # the export wraps the model as `self.model`
PARITY_TOLERANCE = 1e-4
GRAPH_OUTPUTS = ("annotations", "keys", "init_state", "log_probs", "new_state", "attention")
# Largest differences between a shipped int8 bundle and its rebuilt model on the check's input, en-de
# 20261121-a063bcc5 (en-fr): annotations 4.0e-07 (6.4e-07: float32 GRUs over exactly dequantized embeddings),
# keys 1.5e-02 (1.6e-02), init_state 1.3e-02 (7.7e-03), log_probs 5.1e-02 (6.1e-02), new_state 1.5e-02
# (1.4e-02), attention 1.3e-03 (3.6e-03); along 100 greedy translations of test_2016_flickr by the earlier
# en-de bundle (20261121-6d6a02db) at most 1.2e-01 for log_probs and 3.5e-02 for the state. A transposed,
# rolled or gate-swapped weight moves log_probs by 1 to 12 and the state it feeds by 0.6 to 1.9.
INT8_TOLERANCES = {
    "annotations": PARITY_TOLERANCE,
    "keys": 0.05,
    "init_state": 0.05,
    "log_probs": 0.2,
    "new_state": 0.05,
    "attention": 0.05,
}
QUANTIZED_SUFFIX = "_quantized"
MATMUL_CHANNEL_AXIS = 1  # quantize_dynamic's per-channel scales of a MatMul weight (in, out): one per output
# quantized MatMul ops: (weight input, scale input or None when only named "<weight>_scale", zero point input)
QUANTIZED_MATMULS: dict[str, tuple[int, int | None, int]] = {
    "MatMulInteger": (1, None, 3),
    "DynamicQuantizeMatMul": (1, 2, 3),
    "MatMulIntegerToFloat": (1, 3, 5),
}

FloatArray = npt.NDArray[np.float32]


class RebuildError(ValueError):
    """The bundle cannot be turned back into the PyTorch model; the message says why."""


@dataclass(frozen=True)
class RebuiltModel:
    model: Seq2Seq
    manifest: dict[str, Any]


def read_manifest(bundle: Path) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise RebuildError(f"{bundle}: no readable manifest.json ({error})") from None
    return manifest


def rebuild_model(bundle: Path) -> RebuiltModel:
    """The bundle's network as an eval-mode Seq2Seq: exactly a float32 bundle's weights, or an int8 bundle's
    weights dequantized to float32."""
    manifest = read_manifest(bundle)
    quantization = manifest.get("quantization") or None
    if quantization not in QUANTIZATIONS:
        raise RebuildError(f"{bundle} is {quantization}-quantized; only float32 and int8 bundles can be rebuilt")
    config = ModelConfig.from_dict(manifest["model"])
    model = Seq2Seq(config)
    module_paths = [name for name, _ in model.named_modules() if name]
    weights: dict[str, torch.Tensor] = {}
    for graph in ("encoder", "decoder"):
        weights.update(graph_weights(onnx.load(str(bundle / manifest["onnx"][graph]["file"])), module_paths))
    if config.tie_embeddings:
        embedding = weights.get("decoder.embedding.weight", torch.empty(0))
        generator = weights.setdefault("generator.weight", embedding)
        if generator is not embedding and not torch.equal(generator, embedding):
            # int8: the shared matrix was quantized twice, per tensor for the lookup and per channel for the
            # projection; the rebuilt model keeps both copies, as the graphs compute with them
            model.generator.weight = torch.nn.Parameter(torch.empty_like(model.generator.weight))
    _check_complete(model, weights)
    model.load_state_dict(weights, strict=True)
    model.eval()
    return RebuiltModel(model, manifest)


def graph_weights(graph_model: onnx.ModelProto, module_paths: list[str]) -> dict[str, torch.Tensor]:
    """State-dict entries recovered from one graph's initializers (int8 weights dequantized to float32)."""
    initializers, nodes = float_view(graph_model)
    weights = {
        name.removeprefix(STATE_PREFIX): torch.from_numpy(array.copy())
        for name, array in initializers.items()
        if name.startswith(STATE_PREFIX)
    }
    for node in nodes:
        if node.op_type == "GRU":
            weights.update(_gru_weights(node, initializers, module_paths))
        elif node.op_type in ("MatMul", "Gemm") and _renamed_weight(node, initializers):
            weights.update(_linear_weight(node, initializers, module_paths))
    return weights


def float_view(graph_model: onnx.ModelProto) -> tuple[dict[str, npt.NDArray[Any]], list[onnx.NodeProto]]:
    """The graph's initializers and nodes as if it had not been quantized.

    Each int8 weight becomes the float32 initializer quantize_dynamic made it from, w = (q - zero_point)
    * scale, under that initializer's name, and the node reading it becomes the float op it replaced
    (MatMulInteger and its fused forms -> MatMul, Gather of an int8 table -> Gather), under the same
    scope name. The int8 tensors, scales and zero points leave the view. A float32 graph comes back as it is.
    """
    graph = graph_model.graph
    initializers = {tensor.name: numpy_helper.to_array(tensor) for tensor in graph.initializer}
    readers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    dequantized: dict[str, FloatArray] = {}
    consumed: set[str] = set()
    nodes: list[onnx.NodeProto] = []
    for node in graph.node:
        if node.op_type in QUANTIZED_MATMULS:
            weight_at, scale_at, zero_point_at = QUANTIZED_MATMULS[node.op_type]
            quantized = node.input[weight_at]
            scale = node.input[scale_at] if scale_at is not None else _float_name(quantized) + "_scale"
            zero_point = _optional_input(node, zero_point_at)
            axis = MATMUL_CHANNEL_AXIS
        elif node.op_type == "DequantizeLinear" and _is_integer_table(initializers.get(node.input[0])):
            # a weight-only int8 weight (export.quantize.keep_activations_float), already under its float name
            quantized, scale, zero_point = node.input[0], node.input[1], _optional_input(node, 2)
            axis = MATMUL_CHANNEL_AXIS
        elif node.op_type == "Gather" and _is_integer_table(initializers.get(node.input[0])):
            quantized = node.input[0]
            lookups = [r for r in readers.get(node.output[0], []) if r.op_type == "DequantizeLinear"]
            if not lookups:
                raise RebuildError(f"Gather {node.name!r} reads the int8 table {quantized!r}; nothing dequantizes it")
            scale, zero_point, axis = lookups[0].input[1], _optional_input(lookups[0], 2), None
        else:
            nodes.append(node)
            continue
        name = _float_name(quantized)
        weight = dequantize_weight(
            initializers.get(quantized),
            initializers.get(scale),
            initializers.get(zero_point) if zero_point else None,
            axis,
            f"{node.op_type} {node.name!r}",
        )
        if name in dequantized and not np.array_equal(dequantized[name], weight):
            raise RebuildError(f"{name!r} dequantizes to different weights for different nodes")
        dequantized[name] = weight
        consumed.update(n for n in (quantized, scale, zero_point) if n)
        if node.op_type == "DequantizeLinear":
            continue  # its output is the float weight itself
        float_op = "Gather" if node.op_type == "Gather" else "MatMul"
        inputs = [name, node.input[1]] if float_op == "Gather" else [node.input[0], name]
        nodes.append(helper.make_node(float_op, inputs, [node.output[0]], name=node.name))
    clashes = sorted(set(dequantized) & set(initializers))
    if clashes:
        raise RebuildError(f"dequantized weights {clashes} also exist as float initializers")
    kept = {name: array for name, array in initializers.items() if name not in consumed}
    return {**kept, **dequantized}, nodes


def dequantize_weight(
    quantized: npt.NDArray[Any] | None,
    scale: npt.NDArray[Any] | None,
    zero_point: npt.NDArray[Any] | None,
    axis: int | None,
    reader: str,
) -> FloatArray:
    """(q - zero_point) * scale in float32, as DequantizeLinear computes it: per channel along axis when the
    scale holds one value per channel, per tensor when it holds one value (axis None allows only that)."""
    if quantized is None or scale is None:
        raise RebuildError(f"{reader} does not read an int8 initializer with its scale")
    if quantized.dtype not in (np.int8, np.uint8) or scale.dtype != np.float32:
        raise RebuildError(f"{reader}: expected an int8/uint8 weight and a float32 scale")
    zero = np.zeros(scale.shape, dtype=quantized.dtype) if zero_point is None else zero_point
    if zero.shape != scale.shape:
        raise RebuildError(f"{reader}: scale {scale.shape} and zero point {zero.shape} differ in shape")
    if axis is not None and scale.ndim == 1 and scale.shape[0] == quantized.shape[axis]:
        shape = [1] * quantized.ndim
        shape[axis] = -1
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    elif scale.size == 1:
        scale, zero = scale.reshape(()), zero.reshape(())
    else:
        raise RebuildError(f"{reader}: scale {scale.shape} fits no channel axis of weight {quantized.shape}")
    shifted = quantized.astype(np.int32) - zero.astype(np.int32)
    return np.ascontiguousarray(shifted.astype(np.float32) * scale, dtype=np.float32)


def _float_name(quantized: str) -> str:
    """The float initializer quantize_dynamic quantized: it names its int8 copy "<name>_quantized"."""
    if not quantized.endswith(QUANTIZED_SUFFIX):
        raise RebuildError(f"{quantized!r} is not named as quantize_dynamic names an int8 weight")
    return quantized.removesuffix(QUANTIZED_SUFFIX)


def _optional_input(node: onnx.NodeProto, index: int) -> str:
    return node.input[index] if len(node.input) > index else ""


def _is_integer_table(array: npt.NDArray[Any] | None) -> bool:
    return array is not None and array.dtype in (np.int8, np.uint8)


def module_of(node_name: str, module_paths: list[str]) -> str:
    """The module a node belongs to, from its scope name: "/attention/energy/MatMul" -> "decoder.attention.energy"."""
    scope = ".".join(part for part in node_name.split("/")[:-1] if part)
    matches = [path for path in module_paths if path == scope or path.endswith("." + scope)]
    if len(matches) != 1:
        raise RebuildError(f"node {node_name!r} does not name exactly one module (candidates: {matches})")
    return matches[0]


def _renamed_weight(node: onnx.NodeProto, initializers: dict[str, Any]) -> bool:
    return len(node.input) > 1 and node.input[1] in initializers and not node.input[1].startswith(STATE_PREFIX)


def _linear_weight(
    node: onnx.NodeProto, initializers: dict[str, FloatArray], module_paths: list[str]
) -> dict[str, torch.Tensor]:
    weight = initializers[node.input[1]]  # MatMul: (in, out); Gemm: (out, in) when transB, else (in, out)
    attributes = {attribute.name: helper.get_attribute_value(attribute) for attribute in node.attribute}
    if node.op_type == "MatMul" or not attributes.get("transB", 0):
        weight = weight.T
    return {f"{module_of(node.name, module_paths)}.weight": torch.from_numpy(np.array(weight, order="C", copy=True))}


def onnx_gates_to_torch(array: FloatArray) -> FloatArray:
    """Reorders stacked GRU gates along axis 0 from ONNX's (z, r, h) to PyTorch's (r, z, n)."""
    update, reset, hidden = np.split(array, 3, axis=0)
    return np.concatenate([reset, update, hidden], axis=0)  # a new, writable array


def _gru_weights(
    node: onnx.NodeProto, initializers: dict[str, FloatArray], module_paths: list[str]
) -> dict[str, torch.Tensor]:
    attributes = {attribute.name: helper.get_attribute_value(attribute) for attribute in node.attribute}
    if attributes.get("linear_before_reset", 0) != 1:
        raise RebuildError(f"GRU node {node.name!r} lacks linear_before_reset=1, so it is not PyTorch's GRU")
    direction = attributes.get("direction", b"forward")
    if direction not in (b"forward", "forward"):
        raise RebuildError(f"GRU node {node.name!r} runs {direction!r}; the model's GRUs are single forward ones")
    names = list(node.input[1:4])
    if len(names) < 3 or any(name not in initializers for name in names):
        raise RebuildError(f"GRU node {node.name!r} does not hold its W, R and B as initializers")
    w, r, b = (initializers[name][0] for name in names)  # drop the direction axis
    input_bias, hidden_bias = np.split(b, 2)
    prefix = module_of(node.name, module_paths)
    arrays = {"weight_ih_l0": w, "weight_hh_l0": r, "bias_ih_l0": input_bias, "bias_hh_l0": hidden_bias}
    return {f"{prefix}.{key}": torch.from_numpy(onnx_gates_to_torch(value)) for key, value in arrays.items()}


def _check_complete(model: Seq2Seq, weights: dict[str, torch.Tensor]) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    if missing or unexpected:
        raise RebuildError(f"weights missing from the bundle: {missing}; not in the model: {unexpected}")
    for name, tensor in expected.items():
        if tuple(weights[name].shape) != tuple(tensor.shape):
            raise RebuildError(
                f"{name} is {tuple(weights[name].shape)} in the bundle, {tuple(tensor.shape)} in the model"
            )


def graph_differences(rebuilt: RebuiltModel, bundle: Path) -> dict[str, float]:
    """Runs encoder.onnx and one decoder.onnx step next to the rebuilt model on a fixed two-sentence batch;
    returns the largest absolute difference of each output."""
    import onnxruntime as ort

    model, manifest = rebuilt.model, rebuilt.manifest
    config = model.config
    first = max(config.pad_id, config.unk_id, config.bos_id, config.eos_id) + 1
    ids = [(first + 7 * i) % config.src_vocab_size or first for i in range(9)]
    src = torch.tensor([[*ids, config.eos_id], [*ids[:4], config.eos_id, *[config.pad_id] * 5]])
    lengths = torch.tensor([10, 5])
    options = session_options(1, 1)  # as served
    sessions = {
        graph: ort.InferenceSession(str(bundle / manifest["onnx"][graph]["file"]), options, ["CPUExecutionProvider"])
        for graph in ("encoder", "decoder")
    }
    with torch.no_grad():
        annotations, keys, state, mask = model.encode(src, lengths)
        prev = torch.full((2,), config.bos_id, dtype=torch.long)
        log_probs, new_state, attention = model.step_log_probs(prev, state, annotations, keys, mask)
    onnx_encoded = sessions["encoder"].run(
        ["annotations", "keys", "init_state"], {"src_ids": src.numpy(), "src_lengths": lengths.numpy()}
    )
    decoder_feeds = {
        "prev_tokens": prev.numpy(),
        "state": onnx_encoded[2],
        "annotations": onnx_encoded[0],
        "keys": onnx_encoded[1],
        "src_mask": mask.numpy(),
    }
    onnx_step = sessions["decoder"].run(["log_probs", "new_state", "attention"], decoder_feeds)
    ours = [annotations, keys, state, log_probs, new_state, attention]
    return {
        name: float(np.abs(mine.numpy() - theirs).max())
        for name, mine, theirs in zip(GRAPH_OUTPUTS, ours, [*onnx_encoded, *onnx_step], strict=True)
    }


def tolerances(manifest: dict[str, Any]) -> dict[str, float]:
    """How far each output of the rebuilt model may be from the bundle's graphs."""
    if manifest.get("quantization") != INT8_DYNAMIC:  # float32 and INT8_WEIGHTS compute in float32
        return dict.fromkeys(GRAPH_OUTPUTS, PARITY_TOLERANCE)
    return INT8_TOLERANCES


def check_against_bundle(rebuilt: RebuiltModel, bundle: Path) -> float:
    """Runs encoder.onnx and one decoder.onnx step next to the rebuilt model; returns the largest difference.

    Raises RebuildError when an output differs by more than its tolerance (PARITY_TOLERANCE for a float32
    bundle, INT8_TOLERANCES for an int8 one).
    """
    differences = graph_differences(rebuilt, bundle)
    allowed = tolerances(rebuilt.manifest)
    beyond = {name: value for name, value in differences.items() if not value <= allowed[name]}
    if beyond:
        detail = ", ".join(f"{name} by {value:.2e} (> {allowed[name]:g})" for name, value in beyond.items())
        raise RebuildError(f"the rebuilt model differs from {bundle}'s graphs: {detail}")
    return max(differences.values())


def tied_for_training(rebuilt: RebuiltModel) -> Seq2Seq:
    """The rebuilt network with its embeddings tied again, as it was trained: an int8 bundle's two copies of the
    shared matrix become one, the output projection's (quantized per channel, so the closer of the two)."""
    untied = rebuilt.model
    model = Seq2Seq(untied.config)
    weights = dict(untied.state_dict())
    if untied.config.tie_embeddings:
        weights["decoder.embedding.weight"] = weights["generator.weight"]
    model.load_state_dict(weights, strict=True)
    return model


def write_checkpoint(bundle: Path, out: Path) -> None:
    """A training checkpoint (model/checkpoint.py) of the bundle's network and vocabularies, to start a
    fine-tuning run from (`python -m model.train --init-from OUT`)."""
    rebuilt = rebuild_model(bundle)
    manifest = rebuilt.manifest
    check_against_bundle(rebuilt, bundle)
    model = tied_for_training(rebuilt)
    tokenizers = {side: (bundle / manifest["tokenizers"][side]).read_bytes() for side in ("source", "target")}
    origin = {"name": manifest["name"], "version": manifest["version"], "quantization": manifest.get("quantization")}
    payload = build_payload(
        model, manifest["source_language"], manifest["target_language"], tokenizers["source"], tokenizers["target"],
        train_args={}, progress={}, rebuilt_from=origin,
    )  # fmt: skip
    save_checkpoint(out, payload)


def main(argv: Sequence[str] | None = None) -> int:
    parser = OneLineParser(
        prog="python -m bench.rebuild",
        description="Write a bundle's network (int8 weights dequantized to float32) as a training checkpoint.",
    )
    parser.add_argument("bundle", type=Path, help="bundle folder, e.g. artifacts/en-de")
    parser.add_argument("--checkpoint-out", type=Path, required=True, help="the checkpoint to write")
    try:
        options = parser.parse_args(argv)
        write_checkpoint(options.bundle, options.checkpoint_out)
    except (UsageError, RebuildError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {options.checkpoint_out}: {options.bundle}'s network and vocabularies")
    return 0


if __name__ == "__main__":
    sys.exit(main())
