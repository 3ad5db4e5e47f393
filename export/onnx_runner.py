"""A minimal numpy/ONNX Runtime driver for a bundle's two graphs, used by the export's own checks.

The service has its own runtime; this one exists so that export can check what it wrote without
depending on the service, and it decodes exactly as Seq2Seq.greedy_decode does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from export.errors import GraphExportError
from service.runtime.graphs import session_options

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]

ORT_TYPE_NAMES = {"tensor(int64)": "int64", "tensor(float)": "float32", "tensor(bool)": "bool"}


@dataclass(frozen=True)
class SpecialIds:
    pad: int
    bos: int
    eos: int


class GraphRunner:
    """One ONNX Runtime session whose input/output names and dtypes are checked once, at load."""

    def __init__(self, path: Path, inputs: Mapping[str, str], outputs: Mapping[str, str], threads: int = 1) -> None:
        options = session_options(threads, 1)  # as served: int8 weights fold to float32 the same way
        options.log_severity_level = 4  # failures surface as GraphExportError, not as log lines
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own untyped pybind errors
            raise GraphExportError(f"ONNX Runtime cannot load {path.name}: {error}") from error
        self.path = path
        self._check_ports("input", self.session.get_inputs(), inputs)
        self._check_ports("output", self.session.get_outputs(), outputs)
        self.output_names = list(outputs)

    def _check_ports(self, kind: str, found: Sequence[ort.NodeArg], wanted: Mapping[str, str]) -> None:
        actual = {arg.name: ORT_TYPE_NAMES.get(arg.type, arg.type) for arg in found}
        if actual != dict(wanted):
            raise GraphExportError(f"{self.path.name} has {kind}s {actual}, expected {dict(wanted)}")

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        try:
            values = self.session.run(self.output_names, dict(feeds))
        except Exception as error:  # onnxruntime raises its own untyped pybind errors
            shapes = ", ".join(f"{name} {tuple(value.shape)}" for name, value in feeds.items())
            raise GraphExportError(f"ONNX Runtime failed running {self.path.name} on {shapes}: {error}") from error
        return dict(zip(self.output_names, values, strict=True))


@dataclass(frozen=True)
class Encoded:
    annotations: FloatArray
    keys: FloatArray
    init_state: FloatArray


@dataclass(frozen=True)
class Step:
    log_probs: FloatArray
    new_state: FloatArray
    attention: FloatArray


def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[IntArray, IntArray]:
    """Right-padded ids (B, S) and lengths (B,)."""
    lengths = np.array([len(seq) for seq in sequences], dtype=np.int64)
    ids = np.full((len(sequences), int(lengths.max())), pad_id, dtype=np.int64)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = seq
    return ids, lengths


class OnnxSeq2Seq:
    """encoder.onnx + decoder.onnx with greedy decoding over numpy arrays."""

    def __init__(self, encoder: GraphRunner, decoder: GraphRunner, special: SpecialIds) -> None:
        self.encoder = encoder
        self.decoder = decoder
        self.special = special

    @classmethod
    def load(
        cls,
        folder: Path,
        encoder_ports: tuple[Mapping[str, str], Mapping[str, str]],
        decoder_ports: tuple[Mapping[str, str], Mapping[str, str]],
        special: SpecialIds,
    ) -> OnnxSeq2Seq:
        encoder = GraphRunner(folder / "encoder.onnx", *encoder_ports)
        decoder = GraphRunner(folder / "decoder.onnx", *decoder_ports)
        return cls(encoder, decoder, special)

    def encode(self, src_ids: IntArray, src_lengths: IntArray) -> Encoded:
        out = self.encoder.run({"src_ids": src_ids, "src_lengths": src_lengths})
        return Encoded(out["annotations"], out["keys"], out["init_state"])

    def step(self, prev_tokens: IntArray, state: FloatArray, encoded: Encoded, src_mask: BoolArray) -> Step:
        feeds: dict[str, np.ndarray] = {
            "prev_tokens": prev_tokens,
            "state": state,
            "annotations": encoded.annotations,
            "keys": encoded.keys,
            "src_mask": src_mask,
        }
        out = self.decoder.run(feeds)
        return Step(out["log_probs"], out["new_state"], out["attention"])

    def greedy_decode(self, sources: Sequence[Sequence[int]], max_len: int) -> list[list[int]]:
        """Token ids without EOS for one batch of source id lists (each ending in EOS)."""
        src_ids, src_lengths = pad_batch(sources, self.special.pad)
        encoded = self.encode(src_ids, src_lengths)
        src_mask = src_ids != self.special.pad
        state = encoded.init_state
        prev = np.full(len(sources), self.special.bos, dtype=np.int64)
        finished = np.zeros(len(sources), dtype=np.bool_)
        columns: list[IntArray] = []
        for _ in range(max_len):
            step = self.step(prev, state, encoded, src_mask)
            state = step.new_state
            prev = np.where(finished, self.special.pad, step.log_probs.argmax(axis=-1)).astype(np.int64)
            columns.append(prev)
            finished |= prev == self.special.eos
            if finished.all():
                break
        return [cut_at_eos(row, self.special.eos) for row in np.stack(columns, axis=1).tolist()]

    def translate_ids(
        self, sources: Sequence[Sequence[int]], max_len_for: Callable[[int], int], batch_size: int = 32
    ) -> list[list[int]]:
        """Greedy outputs in input order; batches sentences of similar length."""
        order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
        outputs: list[list[int]] = [[] for _ in sources]
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            batch = [sources[i] for i in chunk]
            decoded = self.greedy_decode(batch, max_len_for(max(len(s) for s in batch)))
            for i, tokens in zip(chunk, decoded, strict=True):
                outputs[i] = tokens
        return outputs


def cut_at_eos(row: Sequence[int], eos: int) -> list[int]:
    return list(row[: row.index(eos)] if eos in row else row)
