"""Rebuilds the PyTorch `model.Seq2Seq` from a float32 bundle, so the baseline needs only what ships.

The TorchScript exporter keeps most weights under their state-dict names ("model.decoder.readout.weight").
The rest it rewrites, and each rewrite is undone here from the node that reads the weight:
- `nn.GRU` becomes an ONNX GRU whose W, R and B hold the gates in ONNX's order (update, reset, hidden)
  where PyTorch keeps (reset, update, new); B is the input bias followed by the hidden bias;
- a 3-D `nn.Linear` without bias becomes MatMul with the transposed weight ("onnx::MatMul_319").
A node's name is its module path ("/encoder/forward_rnn/GRU", "/attention/energy/MatMul"), which names
the module whose weight it holds. After loading, `check_against_bundle` runs both graphs in ONNX Runtime
and the rebuilt model on the same input and fails unless they agree, so a wrong mapping cannot pass silently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
import torch
from onnx import helper, numpy_helper

from model.model import ModelConfig, Seq2Seq

STATE_PREFIX = "model."  # the export wraps the model as `self.model`
PARITY_TOLERANCE = 1e-4

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
    """The bundle's network as an eval-mode Seq2Seq with exactly the bundle's float32 weights."""
    manifest = read_manifest(bundle)
    if manifest.get("quantization"):
        raise RebuildError(
            f"{bundle} is {manifest['quantization']}-quantized; rebuild the baseline from its float32 bundle"
        )
    config = ModelConfig.from_dict(manifest["model"])
    model = Seq2Seq(config)
    module_paths = [name for name, _ in model.named_modules() if name]
    weights: dict[str, torch.Tensor] = {}
    for graph in ("encoder", "decoder"):
        weights.update(graph_weights(onnx.load(str(bundle / manifest["onnx"][graph]["file"])), module_paths))
    if config.tie_embeddings:
        weights.setdefault("generator.weight", weights.get("decoder.embedding.weight", torch.empty(0)))
    _check_complete(model, weights)
    model.load_state_dict(weights, strict=True)
    model.eval()
    return RebuiltModel(model, manifest)


def graph_weights(graph_model: onnx.ModelProto, module_paths: list[str]) -> dict[str, torch.Tensor]:
    """State-dict entries recovered from one graph's initializers."""
    initializers = {tensor.name: numpy_helper.to_array(tensor) for tensor in graph_model.graph.initializer}
    weights = {
        name.removeprefix(STATE_PREFIX): torch.from_numpy(array.copy())
        for name, array in initializers.items()
        if name.startswith(STATE_PREFIX)
    }
    for node in graph_model.graph.node:
        if node.op_type == "GRU":
            weights.update(_gru_weights(node, initializers, module_paths))
        elif node.op_type in ("MatMul", "Gemm") and _renamed_weight(node, initializers):
            weights.update(_linear_weight(node, initializers, module_paths))
    return weights


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


def check_against_bundle(rebuilt: RebuiltModel, bundle: Path) -> float:
    """Runs encoder.onnx and one decoder.onnx step next to the rebuilt model; returns the largest difference.

    Raises RebuildError beyond PARITY_TOLERANCE.
    """
    import onnxruntime as ort

    model, manifest = rebuilt.model, rebuilt.manifest
    config = model.config
    first = max(config.pad_id, config.unk_id, config.bos_id, config.eos_id) + 1
    ids = [(first + 7 * i) % config.src_vocab_size or first for i in range(9)]
    src = torch.tensor([[*ids, config.eos_id], [*ids[:4], config.eos_id, *[config.pad_id] * 5]])
    lengths = torch.tensor([10, 5])
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
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
    pairs = zip([annotations, keys, state, log_probs, new_state, attention], [*onnx_encoded, *onnx_step], strict=True)
    worst = max(float(np.abs(ours.numpy() - theirs).max()) for ours, theirs in pairs)
    if worst > PARITY_TOLERANCE:
        raise RebuildError(f"the rebuilt model differs from {bundle}'s graphs by {worst:.2e} (> {PARITY_TOLERANCE})")
    return worst
