"""Checks a bundle's graphs against the PyTorch model they came from.

Float graphs (`check_parity`): on real sentences, ONNX Runtime and PyTorch encode, then each runs
its own greedy decoding chain (own states, own argmax) to the end. At every step log-probabilities,
attention and the new state must agree within `FP32_TOLERANCE` (max abs diff), attention on padding
must be exactly 0, the greedy tokens must be the same, and the finished outputs must equal
`Seq2Seq.greedy_decode`. Sentences go in batches of varying size, padded, so the check also covers
dynamic batch and source-length axes.

Quantized graphs (`check_agreement`): int8 weights move log-probabilities by far more than 1e-4, so
the criterion is the greedy agreement rate: the share of sentences whose int8 greedy output is
identical to the float graphs' output.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from export.defaults import DEFAULT_MIN_INT8_AGREEMENT, FP32_TOLERANCE
from export.errors import ParityError, QuantizationError
from export.onnx_runner import Encoded, OnnxSeq2Seq, pad_batch
from model.model import Seq2Seq

BATCH_SIZES = (1, 8, 3)  # cycled through, so one check sees batch 1, full batches and ragged ones


@dataclass
class ParityReport:
    sentences: int = 0
    decoder_steps: int = 0
    max_difference: dict[str, float] = field(default_factory=dict)
    tolerance: float = FP32_TOLERANCE

    def record(self, name: str, difference: float) -> None:
        self.max_difference[name] = max(difference, self.max_difference.get(name, 0.0))

    def describe(self) -> str:
        worst = ", ".join(f"{name} {value:.1e}" for name, value in self.max_difference.items())
        return f"{self.sentences} sentences, {self.decoder_steps} decoder steps, greedy outputs identical; {worst}"

    def summary(self) -> dict[str, Any]:
        """JSON-safe, for a manifest: {"sentences", "decoder_steps", "tolerance", "max_difference": {name: value}}."""
        return {
            "sentences": self.sentences,
            "decoder_steps": self.decoder_steps,
            "tolerance": self.tolerance,
            "max_difference": {name: float(value) for name, value in self.max_difference.items()},
        }


@dataclass(frozen=True)
class AgreementReport:
    sentences: int
    identical: int

    @property
    def rate(self) -> float:
        return self.identical / self.sentences if self.sentences else 1.0

    def describe(self) -> str:
        return f"{self.identical}/{self.sentences} greedy outputs identical ({100 * self.rate:.1f}%)"

    def summary(self) -> dict[str, int]:
        return {"sentences": self.sentences, "identical": self.identical}


def batches(count: int) -> Iterator[range]:
    start = 0
    for size in itertools.cycle(BATCH_SIZES):
        if start >= count:
            return
        yield range(start, min(count, start + size))
        start += size


def check_parity(
    model: Seq2Seq,
    runner: OnnxSeq2Seq,
    sentences: Sequence[str],
    source_ids: Sequence[Sequence[int]],
    max_len_for: Callable[[int], int],
    tolerance: float = FP32_TOLERANCE,
) -> ParityReport:
    """Raises ParityError on the first disagreement; returns the largest differences seen."""
    model.eval()
    report = ParityReport(tolerance=tolerance)
    for rows in batches(len(source_ids)):
        batch = [sentences[i] for i in rows], [source_ids[i] for i in rows]
        _BatchCheck(model, runner, *batch, tolerance, report).run(max_len_for)
    return report


class _BatchCheck:
    def __init__(
        self,
        model: Seq2Seq,
        runner: OnnxSeq2Seq,
        sentences: list[str],
        sources: list[Sequence[int]],
        tolerance: float,
        report: ParityReport,
    ) -> None:
        self.model = model
        self.runner = runner
        self.sentences = sentences
        self.tolerance = tolerance
        self.report = report
        src_ids, src_lengths = pad_batch(sources, model.config.pad_id)
        self.src_ids, self.src_lengths = src_ids, src_lengths
        self.src_mask = src_ids != model.config.pad_id

    @torch.no_grad()
    def run(self, max_len_for: Callable[[int], int]) -> None:
        src, lengths = torch.from_numpy(self.src_ids), torch.from_numpy(self.src_lengths)
        max_len = max_len_for(int(lengths.max()))
        annotations, keys, state, mask = self.model.encode(src, lengths)
        encoded = self.runner.encode(self.src_ids, self.src_lengths)
        for name, ours, theirs in (
            ("annotations", encoded.annotations, annotations),
            ("keys", encoded.keys, keys),
            ("init_state", encoded.init_state, state),
        ):
            self.compare("encoder", name, ours, theirs)
        tokens = self.decode(encoded, (annotations, keys, state, mask), max_len)
        expected, _ = self.model.greedy_decode(src, lengths, max_len)
        for sentence, got, wanted in zip(self.sentences, tokens, expected, strict=True):
            if got != wanted:
                raise ParityError(
                    "greedy decoding", "tokens", sentence=sentence, detail=f"ONNX Runtime {got} vs PyTorch {wanted}"
                )
        self.report.sentences += len(self.sentences)

    def decode(
        self, encoded: Encoded, torch_encoded: tuple[Tensor, Tensor, Tensor, Tensor], max_len: int
    ) -> list[list[int]]:
        """Both chains decode greedily side by side; returns the ONNX Runtime tokens without EOS."""
        config = self.model.config
        annotations, keys, torch_state, mask = torch_encoded
        ort_state = encoded.init_state
        batch = len(self.sentences)
        torch_prev = torch.full((batch,), config.bos_id, dtype=torch.long)
        ort_prev = np.full(batch, config.bos_id, dtype=np.int64)
        finished = np.zeros(batch, dtype=np.bool_)
        columns: list[np.ndarray] = []
        for step in range(max_len):
            log_probs, torch_state, attention = self.model.step_log_probs(
                torch_prev, torch_state, annotations, keys, mask
            )
            out = self.runner.step(ort_prev, ort_state, encoded, self.src_mask)
            ort_state = out.new_state
            self.compare("decoder", "log_probs", out.log_probs, log_probs, step)
            self.compare("decoder", "attention", out.attention, attention, step)
            self.compare("decoder", "new_state", out.new_state, torch_state, step)
            self.check_padding_attention(out.attention, step)
            torch_next = log_probs.argmax(dim=-1).numpy()
            ort_next = out.log_probs.argmax(axis=-1)
            self.check_same_tokens(ort_next, torch_next, finished, step)
            ort_prev = np.where(finished, config.pad_id, ort_next).astype(np.int64)
            torch_prev = torch.from_numpy(ort_prev.copy())
            columns.append(ort_prev)
            finished |= ort_prev == config.eos_id
            self.report.decoder_steps += 1
            if finished.all():
                break
        rows = np.stack(columns, axis=1).tolist()
        return [row[: row.index(config.eos_id)] if config.eos_id in row else row for row in rows]

    def compare(self, graph: str, name: str, ours: np.ndarray, theirs: Tensor, step: int | None = None) -> None:
        reference = theirs.detach().numpy()
        if ours.shape != reference.shape:
            raise ParityError(graph, name, step=step, detail=f"shape {ours.shape} vs {reference.shape}")
        ours_rows = ours.reshape(len(self.sentences), -1).astype(np.float64)
        reference_rows = reference.reshape(len(self.sentences), -1).astype(np.float64)
        for row in range(len(self.sentences)):
            if not (np.isfinite(ours_rows[row]).all() and np.isfinite(reference_rows[row]).all()):
                raise ParityError(graph, name, step=step, sentence=self.sentences[row], detail="non-finite values")
        per_row = np.abs(ours_rows - reference_rows).max(axis=1)
        worst = int(per_row.argmax())
        difference = float(per_row[worst])
        if difference > self.tolerance:
            raise ParityError(
                graph, name, difference=difference, tolerance=self.tolerance, step=step, sentence=self.sentences[worst]
            )
        self.report.record(f"{graph}.{name}", difference)

    def check_padding_attention(self, attention: np.ndarray, step: int) -> None:
        leaked = np.where(self.src_mask, 0.0, np.abs(attention)).max(axis=1)
        worst = int(leaked.argmax())
        if leaked[worst] != 0.0:
            raise ParityError(
                "decoder",
                "attention",
                step=step,
                sentence=self.sentences[worst],
                detail=f"padding positions get weight {leaked[worst]:.3g}, the contract says exactly 0",
            )

    def check_same_tokens(self, ours: np.ndarray, theirs: np.ndarray, finished: np.ndarray, step: int) -> None:
        differing = np.flatnonzero((ours != theirs) & ~finished)
        if differing.size:
            row = int(differing[0])
            raise ParityError(
                "decoder",
                "greedy token",
                step=step,
                sentence=self.sentences[row],
                detail=f"ONNX Runtime picked id {int(ours[row])}, PyTorch id {int(theirs[row])}",
            )


def check_agreement(
    reference: OnnxSeq2Seq,
    candidate: OnnxSeq2Seq,
    source_ids: Sequence[Sequence[int]],
    max_len_for: Callable[[int], int],
    minimum: float = DEFAULT_MIN_INT8_AGREEMENT,
) -> AgreementReport:
    """Compares greedy outputs of two bundles; raises QuantizationError below the minimum rate."""
    expected = reference.translate_ids(source_ids, max_len_for)
    got = candidate.translate_ids(source_ids, max_len_for)
    report = AgreementReport(len(source_ids), sum(a == b for a, b in zip(expected, got, strict=True)))
    if report.rate < minimum:
        raise QuantizationError(
            f"int8 greedy agreement too low: {report.describe()}, at least {100 * minimum:.1f}% required"
        )
    return report
