"""The two ONNX graphs of a bundle, their fixed input/output contract, and how they are exported.

Exporter choice (torch 2.13): the legacy TorchScript exporter (`dynamo=False`). The default
`dynamo=True` path turns each `nn.GRU` into an unrolled loop; the encoder reads the backward
GRU's output shape (`reverse_within_lengths` gathers with `expand_as`), so that exporter freezes
the example source length into the graph and ONNX Runtime then rejects any other length
(pytorch/pytorch#191855). The TorchScript exporter maps `nn.GRU` to the ONNX `GRU` operator with
`linear_before_reset=1` (PyTorch's semantics) and keeps batch and source length dynamic; the
self-check in `export.parity` verifies both at several shapes on every export.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import onnx
import torch
from torch import Tensor, nn

from export.defaults import SUPPORTED_OPSETS
from export.errors import GraphExportError
from model.model import ModelConfig, Seq2Seq

Dim = str | int  # a named dynamic axis or a fixed size


@dataclass(frozen=True)
class Port:
    name: str
    dtype: str  # numpy name: int64, float32, bool
    shape: tuple[Dim, ...]


@dataclass(frozen=True)
class GraphSpec:
    name: str
    file: str
    inputs: tuple[Port, ...]
    outputs: tuple[Port, ...]

    def input_dtypes(self) -> dict[str, str]:
        return {port.name: port.dtype for port in self.inputs}

    def output_dtypes(self) -> dict[str, str]:
        return {port.name: port.dtype for port in self.outputs}

    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        ports = self.inputs + self.outputs
        return {p.name: {i: d for i, d in enumerate(p.shape) if isinstance(d, str)} for p in ports}


def encoder_spec(config: ModelConfig) -> GraphSpec:
    return GraphSpec(
        name="encoder",
        file="encoder.onnx",
        inputs=(Port("src_ids", "int64", ("batch", "src_len")), Port("src_lengths", "int64", ("batch",))),
        outputs=(
            Port("annotations", "float32", ("batch", "src_len", 2 * config.enc_hidden)),
            Port("keys", "float32", ("batch", "src_len", key_dim(config))),
            Port("init_state", "float32", ("batch", config.dec_hidden)),
        ),
    )


def decoder_spec(config: ModelConfig) -> GraphSpec:
    return GraphSpec(
        name="decoder",
        file="decoder.onnx",
        inputs=(
            Port("prev_tokens", "int64", ("batch",)),
            Port("state", "float32", ("batch", config.dec_hidden)),
            Port("annotations", "float32", ("batch", "src_len", 2 * config.enc_hidden)),
            Port("keys", "float32", ("batch", "src_len", key_dim(config))),
            Port("src_mask", "bool", ("batch", "src_len")),
        ),
        outputs=(
            Port("log_probs", "float32", ("batch", config.tgt_vocab_size)),
            Port("new_state", "float32", ("batch", config.dec_hidden)),
            Port("attention", "float32", ("batch", "src_len")),
        ),
    )


def key_dim(config: ModelConfig) -> int:
    """Width of the attention keys: the additive score's hidden size, else the decoder state size."""
    return config.attn_dim if config.score == "additive" else config.dec_hidden


class EncoderGraph(nn.Module):
    """encoder.onnx: Seq2Seq.encode without the mask, which the runtime rebuilds from the ids."""

    def __init__(self, model: Seq2Seq) -> None:
        super().__init__()
        self.model = model

    def forward(self, src_ids: Tensor, src_lengths: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        annotations, keys, init_state, _ = self.model.encode(src_ids, src_lengths)
        return annotations, keys, init_state


class DecoderGraph(nn.Module):
    """decoder.onnx: one Seq2Seq.step_log_probs step."""

    def __init__(self, model: Seq2Seq) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, prev_tokens: Tensor, state: Tensor, annotations: Tensor, keys: Tensor, src_mask: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        return self.model.step_log_probs(prev_tokens, state, annotations, keys, src_mask)


def example_inputs(model: Seq2Seq) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, ...]]:
    """Tracing inputs with two sentences of different lengths, so no size is mistaken for a constant."""
    config = model.config
    first_id = max(config.pad_id, config.unk_id, config.bos_id, config.eos_id) + 1
    src_ids = torch.tensor([[first_id] * 4 + [config.eos_id], [first_id] * 2 + [config.eos_id, 0, 0]])
    src_lengths = torch.tensor([5, 3])
    with torch.no_grad():
        annotations, keys, state, mask = model.encode(src_ids, src_lengths)
    prev_tokens = torch.full((2,), config.bos_id, dtype=torch.long)
    return (src_ids, src_lengths), (prev_tokens, state, annotations, keys, mask)


def export_graphs(model: Seq2Seq, folder: Path, opset: int) -> tuple[GraphSpec, GraphSpec]:
    """Writes encoder.onnx and decoder.onnx into folder and returns their specs."""
    if opset not in SUPPORTED_OPSETS:
        raise GraphExportError(f"opset {opset} is not supported; choose {SUPPORTED_OPSETS[0]}-{SUPPORTED_OPSETS[-1]}")
    model.eval()
    encoder_args, decoder_args = example_inputs(model)
    specs = encoder_spec(model.config), decoder_spec(model.config)
    modules = EncoderGraph(model), DecoderGraph(model)
    for spec, module, args in zip(specs, modules, (encoder_args, decoder_args), strict=True):
        path = folder / spec.file
        _trace_to_onnx(module, args, spec, path, opset)
        _finish_graph(path, spec)
    return specs


def _trace_to_onnx(module: nn.Module, args: tuple[Tensor, ...], spec: GraphSpec, path: Path, opset: int) -> None:
    with warnings.catch_warnings(), torch.no_grad():
        # the TorchScript exporter is deprecated in favour of dynamo=True, which cannot export this encoder
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        # GRU without an explicit h0 gets a zero state shaped from the input at run time; the self-check
        # runs batch sizes other than the traced one, so this generic caution does not apply
        warnings.filterwarnings("ignore", message="Exporting a model to ONNX with a batch_size other than 1")
        # nn.GRU's own argument checks compare static sizes; warnings from model code stay visible
        warnings.filterwarnings("ignore", message="Converting a tensor to a Python", module=r"torch\.nn\.modules\.rnn")
        try:
            torch.onnx.export(
                module,
                args,
                str(path),
                dynamo=False,
                opset_version=opset,
                input_names=[p.name for p in spec.inputs],
                output_names=[p.name for p in spec.outputs],
                dynamic_axes=spec.dynamic_axes(),
                do_constant_folding=True,
            )
        except Exception as error:  # torch.onnx raises many unrelated types
            raise GraphExportError(f"torch.onnx could not export the {spec.name}: {error}") from error


def _finish_graph(path: Path, spec: GraphSpec) -> None:
    """Names every input/output axis as the bundle contract does, and validates the result."""
    graph_model = onnx.load(str(path))
    graph_model.doc_string = f"heed {spec.name}"
    ports = {p.name: p for p in spec.inputs + spec.outputs}
    found = [v.name for v in [*graph_model.graph.input, *graph_model.graph.output]]
    if sorted(found) != sorted(ports):
        raise GraphExportError(f"{spec.name} graph has inputs/outputs {found}, expected {list(ports)}")
    for value in [*graph_model.graph.input, *graph_model.graph.output]:
        port = ports[value.name]
        dims = value.type.tensor_type.shape.dim
        if len(dims) != len(port.shape):
            raise GraphExportError(f"{spec.name} {port.name} has rank {len(dims)}, expected {len(port.shape)}")
        for dim, wanted in zip(dims, port.shape, strict=True):
            if isinstance(wanted, str):
                dim.dim_param = wanted
            else:
                dim.dim_value = wanted
    try:
        onnx.checker.check_model(graph_model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as error:
        raise GraphExportError(f"{spec.name} graph is not valid ONNX: {error}") from error
    onnx.save(graph_model, str(path))
