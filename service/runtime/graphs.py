"""One small wrapper per ONNX graph, checked once at load against the bundle contract.

`EncoderGraph` and `DecoderGraph` own an ONNX Runtime session each. At load they compare the
graph's input and output names, element types and ranks with the contract (and fixed sizes with
the manifest's model sizes), so a wrong export fails with a BundleError naming the file instead
of a shape error in the middle of a request. After that, `run` is a typed call.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from service.runtime.errors import BundleError
from service.runtime.manifest import DECODER_INPUTS, DECODER_OUTPUTS, ENCODER_INPUTS, ENCODER_OUTPUTS, ModelShape

Int64Array = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]

# ONNX Runtime's element type names -> numpy dtype names used by the manifest
_ORT_TYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(bool)": "bool",
}
BATCH, SOURCE = "batch", "src_len"  # dynamic axes
Axis = str | int | None  # a dynamic axis' name, the fixed size the manifest implies, or None: not checked


def session_options(intra_op_threads: int, inter_op_threads: int) -> ort.SessionOptions:
    """CPU session settings. Threads do not spin while idle: on a small machine shared by the
    HTTP workers, spinning threads steal the cores that the next request needs."""
    if intra_op_threads < 1 or inter_op_threads < 1:
        raise ValueError("intra_op_threads and inter_op_threads must be at least 1")
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = inter_op_threads
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only; warnings about unused initializers are noise here
    # Fold each int8 weight's DequantizeLinear into a float32 constant at load (service.runtime.manifest,
    # INT8_WEIGHTS). Left on, ONNX Runtime's QDQ fusions turn DequantizeLinear -> MatMul into MatMulNBits,
    # whose default accuracy level quantizes the activations again per block: the same sentence then moved
    # by up to 6e-3 in attention between batch 1 and batch 32 on the shipped en-de.
    options.add_session_config_entry("session.disable_quant_qdq", "1")
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return options


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


class _Graph:
    """An ONNX Runtime session whose interface was checked against `expected_*` at load."""

    def __init__(
        self,
        path: Path,
        options: ort.SessionOptions,
        expected_inputs: dict[str, tuple[str, tuple[Axis, ...]]],
        expected_outputs: dict[str, tuple[str, tuple[Axis, ...]]],
    ) -> None:
        self.path = path
        try:
            self.session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as error:  # ORT raises its own pybind types (InvalidProtobuf, Fail, ...)
            raise BundleError(path, f"ONNX Runtime cannot load it: {_first_line(error)}") from None
        self._check("input", self.session.get_inputs(), expected_inputs)
        self._check("output", self.session.get_outputs(), expected_outputs)
        self.output_names = list(expected_outputs)

    def _check(self, side: str, found: list[Any], expected: dict[str, tuple[str, tuple[Axis, ...]]]) -> None:
        names = [node.name for node in found]
        if sorted(names) != sorted(expected):
            raise BundleError(self.path, f"{side}s are {names}; the contract wants {list(expected)}")
        for node in found:
            dtype, axes = expected[node.name]
            actual = _ORT_TYPES.get(node.type, node.type)
            if actual != dtype:
                raise BundleError(self.path, f"{side} '{node.name}' is {actual}; the contract wants {dtype}")
            self._check_shape(side, node.name, list(node.shape), axes)

    def _check_shape(self, side: str, name: str, shape: list[Any], axes: tuple[Axis, ...]) -> None:
        if len(shape) != len(axes):
            raise BundleError(self.path, f"{side} '{name}' has rank {len(shape)}; the contract wants {len(axes)}")
        for position, (found, wanted) in enumerate(zip(shape, axes, strict=True)):
            fixed = isinstance(found, int)
            if isinstance(wanted, str) and fixed:
                raise BundleError(
                    self.path, f"{side} '{name}' axis {position} is fixed at {found}; it must be the dynamic '{wanted}'"
                )
            if isinstance(wanted, int) and fixed and found != wanted:
                raise BundleError(
                    self.path, f"{side} '{name}' axis {position} is {found}; the manifest implies {wanted}"
                )

    def _run(self, feeds: dict[str, Any]) -> list[Any]:
        return list(self.session.run(self.output_names, feeds))


@dataclass(frozen=True)
class EncoderOutput:
    annotations: FloatArray  # (B, S, 2H), padding rows 0
    keys: FloatArray  # (B, S, K)
    init_state: FloatArray  # (B, D)


@dataclass(frozen=True)
class DecoderOutput:
    log_probs: FloatArray  # (R, V)
    new_state: FloatArray  # (R, D)
    attention: FloatArray  # (R, S), padding exactly 0


def _spec(dtypes: dict[str, str], axes: dict[str, tuple[Axis, ...]]) -> dict[str, tuple[str, tuple[Axis, ...]]]:
    return {name: (dtype, axes[name]) for name, dtype in dtypes.items()}


class EncoderGraph(_Graph):
    """encoder.onnx: source ids (B, S) and lengths (B,) -> annotations, attention keys, initial state."""

    def __init__(self, path: Path, options: ort.SessionOptions, model: ModelShape) -> None:
        axes: dict[str, tuple[Axis, ...]] = {
            "src_ids": (BATCH, SOURCE),
            "src_lengths": (BATCH,),
            "annotations": (BATCH, SOURCE, 2 * model.enc_hidden),
            "keys": (BATCH, SOURCE, None),
            "init_state": (BATCH, model.dec_hidden),
        }
        super().__init__(path, options, _spec(ENCODER_INPUTS, axes), _spec(ENCODER_OUTPUTS, axes))

    def run(self, src_ids: Int64Array, src_lengths: Int64Array) -> EncoderOutput:
        annotations, keys, init_state = self._run({"src_ids": src_ids, "src_lengths": src_lengths})
        return EncoderOutput(annotations, keys, init_state)


class DecoderGraph(_Graph):
    """decoder.onnx: one step for R hypotheses -> log-probabilities, new state, attention."""

    def __init__(self, path: Path, options: ort.SessionOptions, model: ModelShape) -> None:
        axes: dict[str, tuple[Axis, ...]] = {
            "prev_tokens": (BATCH,),
            "state": (BATCH, model.dec_hidden),
            "annotations": (BATCH, SOURCE, 2 * model.enc_hidden),
            "keys": (BATCH, SOURCE, None),
            "src_mask": (BATCH, SOURCE),
            "log_probs": (BATCH, model.tgt_vocab_size),
            "new_state": (BATCH, model.dec_hidden),
            "attention": (BATCH, SOURCE),
        }
        super().__init__(path, options, _spec(DECODER_INPUTS, axes), _spec(DECODER_OUTPUTS, axes))

    def run(
        self, prev_tokens: Int64Array, state: FloatArray, annotations: FloatArray, keys: FloatArray, src_mask: BoolArray
    ) -> DecoderOutput:
        feeds = {"prev_tokens": prev_tokens, "state": state, "annotations": annotations, "keys": keys}
        log_probs, new_state, attention = self._run({**feeds, "src_mask": src_mask})
        return DecoderOutput(log_probs, new_state, attention)
