"""Greedy search, beam search and forced decoding over the one-step decoder graph, in numpy.

All three batch every live hypothesis of every sentence into one decoder call per step: row r of
the decoder batch is one hypothesis, `sentence_of_row[r]` says whose encoder output it reads.
Rows of a sentence stay contiguous and in sentence order. A hypothesis that emits "</s>" leaves the
batch, so later steps shrink; a sentence is done when none of its hypotheses is left.

Every hypothesis carries its history as a `_Trace`: a linked list of (token, attention row) that
points to the trace of the hypothesis it extends. Choosing a candidate extends the trace of the
candidate's parent row (its backpointer), so reordering the beam carries each hypothesis' own
attention along with its tokens; the attention returned for a hypothesis is exactly the rows the
decoder produced on the steps that built it.

Beam search keeps at most `beam_size` hypotheses per sentence, finished ones included: at each step
it takes the `beam_size - finished` best extensions (by summed log-probability) of the sentence's
live rows; those ending in "</s>" are set aside, the others stay in the beam. With beam_size 1 this is
greedy search exactly. Finished hypotheses are ranked by length-normalized score
    score = sum of log-probabilities / len ** length_penalty,   len counting the final "</s>".

Lengths: a hypothesis may hold at most `max_length` pieces before "</s>"; at that point "</s>" is the
only choice left (with its real log-probability). Padding and BOS are never chosen.
Ties between equal scores go to the lower vocabulary id and the earlier row.

Dropping: beam and greedy search take an optional `wanted`, asked before every decoder step which of the
live sentences are still wanted. The rows of a sentence no longer wanted (its request timed out, its client
left) leave the batch at that step, so work nobody will read stops within one step; such a sentence comes
back with no hypothesis at all (an empty list, or None from greedy search).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from service.runtime.graphs import BoolArray, DecoderGraph, DecoderOutput, EncoderGraph, FloatArray, Int64Array
from service.runtime.manifest import SpecialTokens

IndexArray = npt.NDArray[np.intp]
Wanted = Callable[[IndexArray], BoolArray]  # sentence indices -> whether each is still wanted


@dataclass(frozen=True)
class Decoded:
    """One finished hypothesis."""

    token_ids: list[int]  # the last one is EOS
    log_prob: float  # summed over token_ids
    score: float  # log_prob / len(token_ids) ** length_penalty
    attention: FloatArray  # (len(token_ids), source length incl. EOS)


@dataclass(frozen=True, slots=True)
class _Trace:
    token: int
    attention: FloatArray  # (source length,)
    previous: _Trace | None


@dataclass(frozen=True)
class EncodedBatch:
    annotations: FloatArray  # (B, S, 2H)
    keys: FloatArray  # (B, S, K)
    init_state: FloatArray  # (B, D)
    mask: BoolArray  # (B, S)
    lengths: Int64Array  # (B,), EOS included


MAX_PADDING_SHARE = 0.2  # of an encoder call's cells; past it, the batch is split into calls of similar lengths


def encode_batch(encoder: EncoderGraph, sources: Sequence[Sequence[int]], pad_id: int) -> EncodedBatch:
    """Encodes source ids (each ending in EOS) in as few calls as keep padding under MAX_PADDING_SHARE.

    The encoder's cost grows with the padded width, so one call over a short and a long sentence pays for
    the short one at the long one's length. Padding positions come out as exact zeros whatever the call
    (annotations are masked, keys are a bias-free projection of them), so the calls' outputs are placed into
    one zero-filled batch that equals what a single padded call returns.
    """
    lengths = np.array([len(ids) for ids in sources], dtype=np.int64)
    width = int(lengths.max())
    mask = np.arange(width)[None, :] < lengths[:, None]
    groups = _similar_lengths(lengths)
    if len(groups) == 1:  # one call covers the batch as it is: nothing to place
        out = encoder.run(*_padded(sources, pad_id))
        return EncodedBatch(out.annotations, out.keys, out.init_state, mask, lengths)
    parts = [(rows, encoder.run(*_padded([sources[r] for r in rows], pad_id))) for rows in groups]
    first = parts[0][1]
    annotations = np.zeros((len(sources), width, first.annotations.shape[2]), dtype=first.annotations.dtype)
    keys = np.zeros((len(sources), width, first.keys.shape[2]), dtype=first.keys.dtype)
    init_state = np.empty((len(sources), first.init_state.shape[1]), dtype=first.init_state.dtype)
    for rows, out in parts:
        part_width = out.annotations.shape[1]
        annotations[rows, :part_width] = out.annotations
        keys[rows, :part_width] = out.keys
        init_state[rows] = out.init_state
    return EncodedBatch(annotations, keys, init_state, mask, lengths)


def _padded(sources: Sequence[Sequence[int]], pad_id: int) -> tuple[Int64Array, Int64Array]:
    lengths = np.array([len(ids) for ids in sources], dtype=np.int64)
    src_ids = np.full((len(sources), int(lengths.max())), pad_id, dtype=np.int64)
    for row, ids in enumerate(sources):
        src_ids[row, : len(ids)] = ids
    return src_ids, lengths


def _similar_lengths(lengths: Int64Array) -> list[IndexArray]:
    """Row groups, shortest first, each padded to its longest row with at most MAX_PADDING_SHARE padding."""
    order = np.argsort(lengths, kind="stable")
    groups: list[list[int]] = []
    real = 0
    for row in order.tolist():
        length = int(lengths[row])
        if groups and (len(groups[-1]) + 1) * length * (1.0 - MAX_PADDING_SHARE) <= real + length:
            groups[-1].append(row)
            real += length
        else:
            groups.append([row])
            real = length
    return [np.array(sorted(group), dtype=np.intp) for group in groups]


class _DecoderBatch:
    """Runs decoder steps for rows of hypotheses, gathering their sentences' encoder outputs.

    The gathered arrays are reused while the rows' sentences stay the same, and are cut to the
    longest live source, so finished long sentences stop costing anything.
    """

    def __init__(self, decoder: DecoderGraph, encoded: EncodedBatch) -> None:
        self.decoder = decoder
        self.encoded = encoded
        self._sentences: IndexArray | None = None
        self._inputs: tuple[FloatArray, FloatArray, BoolArray] | None = None

    def step(self, sentence_of_row: IndexArray, prev_tokens: Int64Array, state: FloatArray) -> DecoderOutput:
        annotations, keys, mask = self._gather(sentence_of_row)
        return self.decoder.run(prev_tokens, state, annotations, keys, mask)

    def _gather(self, sentence_of_row: IndexArray) -> tuple[FloatArray, FloatArray, BoolArray]:
        if self._inputs is None or self._sentences is None or not np.array_equal(self._sentences, sentence_of_row):
            width = int(self.encoded.lengths[sentence_of_row].max())
            self._inputs = (
                np.ascontiguousarray(self.encoded.annotations[sentence_of_row, :width]),
                np.ascontiguousarray(self.encoded.keys[sentence_of_row, :width]),
                np.ascontiguousarray(self.encoded.mask[sentence_of_row, :width]),
            )
            self._sentences = sentence_of_row
        return self._inputs


def selectable_scores(log_probs: FloatArray, special: SpecialTokens, at_limit: BoolArray) -> FloatArray:
    """Log-probabilities with never-chosen tokens at -inf; rows at the length limit may only end."""
    scores = log_probs.copy()
    scores[:, [special.pad, special.bos]] = -np.inf
    if at_limit.any():
        eos_scores = scores[at_limit, special.eos]
        scores[at_limit] = -np.inf
        scores[at_limit, special.eos] = eos_scores
    return scores


def row_top_k(scores: FloatArray, k: int) -> tuple[IndexArray, FloatArray]:
    """Each row's k best tokens and their scores, best first, equal scores in token order; `scores` is consumed.

    Repeated argmax: for the handful of candidates a beam needs, k vectorized passes over (R, V) cost far
    less than a partition, and argmax's first-index rule gives the tie order for free.
    """
    rows = np.arange(scores.shape[0])
    k = min(k, scores.shape[1])
    tokens = np.empty((scores.shape[0], k), dtype=np.intp)
    values = np.empty((scores.shape[0], k), dtype=np.float32)
    for rank in range(k):
        best = scores.argmax(axis=1)
        tokens[:, rank] = best
        values[:, rank] = scores[rows, best]
        scores[rows, best] = -np.inf
    return tokens, values


def _finish(trace: _Trace, log_prob: float, length_penalty: float) -> Decoded:
    tokens: list[int] = []
    rows: list[FloatArray] = []
    node: _Trace | None = trace
    while node is not None:
        tokens.append(node.token)
        rows.append(node.attention)
        node = node.previous
    tokens.reverse()
    rows.reverse()
    score = log_prob / len(tokens) ** length_penalty
    return Decoded(tokens, log_prob, score, np.stack(rows).astype(np.float32, copy=False))


def _all_finished(results: list[Decoded | None]) -> list[Decoded]:
    done = [result for result in results if result is not None]
    if len(done) != len(results):  # every row ends by the length limit at the latest
        raise RuntimeError("a sentence left the decoding loop without a finished hypothesis")
    return done


def greedy_search(
    decoder: DecoderGraph,
    encoded: EncodedBatch,
    special: SpecialTokens,
    max_lengths: Sequence[int],
    length_penalty: float,
    wanted: Wanted | None = None,
) -> list[Decoded | None]:
    """The most probable next piece at every step, for every sentence at once; None for a dropped sentence."""
    limits = np.asarray(max_lengths)

    def pick(out: DecoderOutput, sentences: IndexArray, step: int) -> tuple[Int64Array, BoolArray]:
        choice = selectable_scores(out.log_probs, special, limits[sentences] <= step).argmax(axis=1)
        return choice.astype(np.int64), choice == special.eos

    return _single_path(decoder, encoded, special, len(max_lengths), length_penalty, pick, wanted)


@dataclass
class _Beam:
    """The live rows of a beam search step: row r extends `traces[r]` with summed log-prob `totals[r]`."""

    sentences: IndexArray
    prev: Int64Array
    state: FloatArray
    totals: npt.NDArray[np.float64]
    traces: list[_Trace | None]

    def keep(self, rows: IndexArray) -> _Beam:
        return _Beam(
            self.sentences[rows], self.prev[rows], self.state[rows], self.totals[rows], [self.traces[r] for r in rows]
        )


def _wanted_rows(wanted: Wanted | None, sentences: IndexArray) -> IndexArray | None:
    """The rows to keep when some sentence is no longer wanted; None when all are."""
    if wanted is None or not sentences.size:
        return None
    keep = wanted(sentences)
    return None if keep.all() else np.flatnonzero(keep)


def beam_search(
    decoder: DecoderGraph,
    encoded: EncodedBatch,
    special: SpecialTokens,
    max_lengths: Sequence[int],
    length_penalty: float,
    beam_size: int,
    n_best: int,
    wanted: Wanted | None = None,
) -> list[list[Decoded]]:
    """The `n_best` best of `beam_size` finished hypotheses per sentence, best first ([] for a dropped one)."""
    batch = _DecoderBatch(decoder, encoded)
    limits = np.asarray(max_lengths)
    count = len(max_lengths)
    beam = _Beam(
        np.arange(count),
        np.full(count, special.bos, dtype=np.int64),
        encoded.init_state,
        np.zeros(count),
        [None] * count,
    )
    finished: list[list[Decoded]] = [[] for _ in range(count)]
    step = 0
    while beam.sentences.size:
        kept = _wanted_rows(wanted, beam.sentences)
        if kept is not None:
            dropped = set(beam.sentences.tolist()) - set(beam.sentences[kept].tolist())
            beam = beam.keep(kept)
            for sentence in dropped:
                finished[sentence] = []
            if not beam.sentences.size:
                break
        out = batch.step(beam.sentences, beam.prev, beam.state)
        selectable = selectable_scores(out.log_probs, special, limits[beam.sentences] <= step)
        # a sentence's best extensions are among its rows' beam_size best, so only those are ranked
        tokens, values = row_top_k(selectable, beam_size)
        candidates = _Candidates(tokens, beam.totals[:, None] + values, selectable.shape[1])
        beam = _advance(beam, out, candidates, encoded.lengths, finished, special.eos, beam_size, length_penalty)
        step += 1
    return [sorted(done, key=lambda d: -d.score)[:n_best] for done in finished]


@dataclass(frozen=True)
class _Candidates:
    """Row r's best extensions: tokens[r, j] with summed log-probability totals[r, j]."""

    tokens: IndexArray  # (R, k)
    totals: npt.NDArray[np.float64]  # (R, k)
    vocab: int

    def best(self, start: int, end: int, count: int) -> list[tuple[int, int, float]]:
        """The `count` best finite (row, token, total) of rows start:end, ties to the earlier row, then token."""
        tokens, totals = self.tokens[start:end], self.totals[start:end]
        flat_index = (np.arange(start, end)[:, None] * self.vocab + tokens).ravel()
        order = np.lexsort((flat_index, -totals.ravel()))[:count]
        width = tokens.shape[1]
        picked = [(start + int(i) // width, int(tokens.flat[i]), float(totals.flat[i])) for i in order]
        return [(row, token, total) for row, token, total in picked if np.isfinite(total)]


def _advance(
    beam: _Beam,
    out: DecoderOutput,
    candidates: _Candidates,
    source_lengths: Int64Array,
    finished: list[list[Decoded]],
    eos: int,
    beam_size: int,
    length_penalty: float,
) -> _Beam:
    """Picks each sentence's best extensions; finished ones go to `finished`, the rest form the next beam."""
    parents: list[int] = []
    tokens: list[int] = []
    totals: list[float] = []
    traces: list[_Trace | None] = []
    starts = np.flatnonzero(np.r_[True, beam.sentences[1:] != beam.sentences[:-1]])
    for start, end in zip(starts, [*starts[1:], beam.sentences.size], strict=True):
        sentence = int(beam.sentences[start])
        for parent, token, total in candidates.best(int(start), int(end), beam_size - len(finished[sentence])):
            trace = _Trace(token, out.attention[parent, : source_lengths[sentence]], beam.traces[parent])
            if token == eos:
                finished[sentence].append(_finish(trace, total, length_penalty))
            else:
                parents.append(parent)
                tokens.append(token)
                totals.append(total)
                traces.append(trace)
    rows = np.asarray(parents, dtype=np.intp)
    return _Beam(
        beam.sentences[rows], np.asarray(tokens, dtype=np.int64), out.new_state[rows], np.asarray(totals), traces
    )


def forced_decode(
    decoder: DecoderGraph,
    encoded: EncodedBatch,
    special: SpecialTokens,
    targets: Sequence[Sequence[int]],
    length_penalty: float,
) -> list[Decoded]:
    """Teacher-forces each target (ids ending in EOS): its log-probability and the attention on the way."""

    def pick(out: DecoderOutput, sentences: IndexArray, step: int) -> tuple[Int64Array, BoolArray]:
        forced = np.array([targets[sentence][step] for sentence in sentences], dtype=np.int64)
        return forced, np.array([step + 1 == len(targets[sentence]) for sentence in sentences], dtype=bool)

    return _all_finished(_single_path(decoder, encoded, special, len(targets), length_penalty, pick))


def _single_path(
    decoder: DecoderGraph,
    encoded: EncodedBatch,
    special: SpecialTokens,
    count: int,
    length_penalty: float,
    pick: Callable[[DecoderOutput, IndexArray, int], tuple[Int64Array, BoolArray]],
    wanted: Wanted | None = None,
) -> list[Decoded | None]:
    """One hypothesis per sentence: `pick` chooses each row's token and says which rows end with it."""
    batch = _DecoderBatch(decoder, encoded)
    sentences: IndexArray = np.arange(count)
    prev = np.full(count, special.bos, dtype=np.int64)
    state, totals = encoded.init_state, np.zeros(count)
    traces: list[_Trace | None] = [None] * count
    results: list[Decoded | None] = [None] * count
    step = 0
    dropped: set[int] = set()
    while sentences.size:
        kept = _wanted_rows(wanted, sentences)
        if kept is not None:
            dropped.update(set(sentences.tolist()) - set(sentences[kept].tolist()))
            sentences, prev, state, totals = sentences[kept], prev[kept], state[kept], totals[kept]
            traces = [traces[row] for row in kept]
            if not sentences.size:
                break
        out = batch.step(sentences, prev, state)
        tokens, ends = pick(out, sentences, step)
        totals = totals + out.log_probs[np.arange(sentences.size), tokens]
        keep: list[int] = []
        for row, sentence in enumerate(sentences):
            trace = _Trace(int(tokens[row]), out.attention[row, : encoded.lengths[sentence]], traces[row])
            if ends[row]:
                results[sentence] = _finish(trace, float(totals[row]), length_penalty)
            else:
                keep.append(row)
                traces[row] = trace
        rows = np.asarray(keep, dtype=np.intp)
        sentences, prev, state, totals = sentences[rows], tokens[rows], out.new_state[rows], totals[rows]
        traces = [traces[row] for row in keep]
        step += 1
    if not dropped:
        _all_finished(results)  # raises when a sentence left the loop without a hypothesis
    return results
