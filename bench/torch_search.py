"""Greedy and beam search in plain PyTorch over `Seq2Seq.step_log_probs`, one sentence at a time.

The baseline decodes by heed's rules (service/runtime/search.py), so both systems do the same work:
- never choose padding or BOS; a hypothesis holding `max_length` pieces may only end ("</s>" with its
  real log-probability);
- beam search keeps at most `beam_size` hypotheses, finished ones included: each step takes the
  `beam_size - finished` best extensions (summed log-probability) of the live hypotheses; those ending
  in "</s>" are set aside, the others stay; it stops when no hypothesis is live;
- finished hypotheses rank by sum of log-probabilities / len ** length_penalty, len counting "</s>";
- greedy search is the argmax at every step.
The beams of one sentence run as one batch of rows; nothing is batched across sentences or requests.
Exact ties between real scores (which real weights practically never produce) may be broken
differently from heed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from model.model import Seq2Seq

MAX_OUTPUT_PIECES = 1024  # service.runtime.translator.MAX_OUTPUT_PIECES


@dataclass(frozen=True)
class Decoding:
    """The manifest's decoding rules."""

    length_penalty: float = 1.0
    max_length_ratio: float = 2.0
    max_length_offset: int = 10

    def max_length(self, source_tokens: int) -> int:
        """Most pieces before "</s>" for a source of `source_tokens` pieces including "</s>"."""
        limit = int(self.max_length_ratio * source_tokens + self.max_length_offset)
        return max(1, min(limit, MAX_OUTPUT_PIECES))


@dataclass(frozen=True)
class TorchHypothesis:
    token_ids: list[int]  # the last one is EOS
    log_prob: float
    score: float  # log_prob / len(token_ids) ** length_penalty
    attention: Tensor  # (len(token_ids), source length incl. EOS)


@dataclass(frozen=True)
class _Source:
    annotations: Tensor  # (1, S, 2H)
    keys: Tensor  # (1, S, K)
    state: Tensor  # (1, D)
    mask: Tensor  # (1, S)

    def step(self, model: Seq2Seq, prev: Tensor, state: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        rows = prev.size(0)
        return model.step_log_probs(
            prev,
            state,
            self.annotations.expand(rows, -1, -1),
            self.keys.expand(rows, -1, -1),
            self.mask.expand(rows, -1),
        )


def _encode(model: Seq2Seq, source_ids: list[int]) -> _Source:
    src = torch.tensor([source_ids], dtype=torch.long)
    annotations, keys, state, mask = model.encode(src, torch.tensor([len(source_ids)], dtype=torch.long))
    return _Source(annotations, keys, state, mask)


def selectable(model: Seq2Seq, log_probs: Tensor, at_limit: bool) -> Tensor:
    """Log-probabilities with padding and BOS at -inf; at the length limit only "</s>" stays finite."""
    config = model.config
    scores = log_probs.clone()
    scores[:, [config.pad_id, config.bos_id]] = -math.inf
    if at_limit:
        eos = scores[:, config.eos_id].clone()
        scores.fill_(-math.inf)
        scores[:, config.eos_id] = eos
    return scores


def _finish(tokens: list[int], rows: list[Tensor], log_prob: float, length_penalty: float) -> TorchHypothesis:
    return TorchHypothesis(tokens, log_prob, log_prob / len(tokens) ** length_penalty, torch.stack(rows))


@torch.no_grad()
def greedy_search(model: Seq2Seq, source_ids: list[int], decoding: Decoding) -> TorchHypothesis:
    """source_ids end in EOS."""
    config = model.config
    source = _encode(model, source_ids)
    limit = decoding.max_length(len(source_ids))
    prev = torch.tensor([config.bos_id], dtype=torch.long)
    state = source.state
    tokens: list[int] = []
    rows: list[Tensor] = []
    total = 0.0
    while True:
        log_probs, state, attention = source.step(model, prev, state)
        token = int(selectable(model, log_probs, len(tokens) >= limit).argmax(dim=1))
        total += float(log_probs[0, token])
        tokens.append(token)
        rows.append(attention[0])
        if token == config.eos_id:
            return _finish(tokens, rows, total, decoding.length_penalty)
        prev = torch.tensor([token], dtype=torch.long)


@dataclass
class _Live:
    """Live hypotheses: row r has emitted tokens[r] (its last one is prev[r]) with summed log-prob totals[r]."""

    prev: Tensor  # (R,)
    state: Tensor  # (R, D)
    totals: Tensor  # (R,) float64
    tokens: list[list[int]]
    rows: list[list[Tensor]]


@torch.no_grad()
def beam_search(model: Seq2Seq, source_ids: list[int], decoding: Decoding, beam_size: int) -> list[TorchHypothesis]:
    """Every finished hypothesis, best first (at most beam_size); source_ids end in EOS."""
    if beam_size < 1:
        raise ValueError("beam_size must be at least 1")
    config = model.config
    source = _encode(model, source_ids)
    limit = decoding.max_length(len(source_ids))
    live = _Live(torch.tensor([config.bos_id]), source.state, torch.zeros(1, dtype=torch.float64), [[]], [[]])
    finished: list[TorchHypothesis] = []
    step = 0
    while live.prev.numel():
        log_probs, new_state, attention = source.step(model, live.prev, live.state)
        wanted = beam_size - len(finished)
        scores = selectable(model, log_probs, step >= limit)
        values, tokens = scores.topk(min(wanted, scores.size(1)), dim=1)  # (R, k), best first
        width = tokens.size(1)
        totals = (live.totals[:, None] + values.double()).flatten()
        order = torch.sort(totals, descending=True, stable=True).indices[:wanted].tolist()
        parents: list[int] = []
        next_tokens: list[int] = []
        next_totals: list[float] = []
        histories: list[list[int]] = []
        attention_rows: list[list[Tensor]] = []
        for flat in order:
            total = float(totals[flat])
            if not math.isfinite(total):
                continue
            parent, token = flat // width, int(tokens.view(-1)[flat])
            history, rows = [*live.tokens[parent], token], [*live.rows[parent], attention[parent]]
            if token == config.eos_id:
                finished.append(_finish(history, rows, total, decoding.length_penalty))
                continue
            parents.append(parent)
            next_tokens.append(token)
            next_totals.append(total)
            histories.append(history)
            attention_rows.append(rows)
        live = _Live(
            torch.tensor(next_tokens, dtype=torch.long),
            new_state[torch.tensor(parents, dtype=torch.long)],
            torch.tensor(next_totals, dtype=torch.float64),
            histories,
            attention_rows,
        )
        step += 1
    return sorted(finished, key=lambda hypothesis: -hypothesis.score)
