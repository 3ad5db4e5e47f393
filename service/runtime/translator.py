"""`Translator`: one loaded bundle, turning texts into `Translation`s with the attention the model used.

Lengths: the output may hold at most `max_length` pieces before "</s>". Without an explicit
`max_length` the bundle's manifest decides: int(max_length_ratio * source pieces incl. "</s>" +
max_length_offset), capped at `max_length_cap` (a service setting; MAX_OUTPUT_PIECES by default).
Explicit values are capped at MAX_OUTPUT_PIECES.

Dropping: `translate_batch(..., wanted=...)` asks `wanted(index)` before every decoder step; once it answers
False for a text, that text's rows leave the batch and it comes back as the empty translation (its caller
said it will not read it), so abandoned work stops within a decoder step.

A text that is empty or only whitespace is a ValueError. A text with nothing left once control
characters are removed (say "\\x00\\x07") translates to "" with score 0 without running the model;
its `n_best` then holds that single empty hypothesis. All methods are thread-safe: a Translator
holds no state that a call changes, and ONNX Runtime sessions may be run from several threads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from service.runtime.alignment import (
    ALIGNMENT_METHODS,
    DEFAULT_ALIGNMENT_METHOD,
    AlignmentMethod,
    align_words,
    link_weights,
    pharaoh_line,
    word_spans,
    words_of_pieces,
)
from service.runtime.confidence import Confidence, confidence
from service.runtime.errors import BundleError
from service.runtime.graphs import DecoderGraph, EncoderGraph, FloatArray, session_options
from service.runtime.manifest import MAX_BEAM_SIZE, Manifest, read_manifest
from service.runtime.search import (
    Decoded,
    IndexArray,
    Wanted,
    beam_search,
    encode_batch,
    forced_decode,
    greedy_search,
)
from service.runtime.tokenizer import (
    EOS_PIECE,
    MAX_SOURCE_PIECES,
    MAX_TARGET_PIECES,
    Segmentation,
    Tokenizer,
)

MAX_OUTPUT_PIECES = 1024
# Measured on the 2-core build machine with a full-size model (emb 256, enc 2x256, dec 512, vocab 8000) and a
# training run in the background: a decoder step took 1.0-3.3 ms (4 rows) and 9.5-14 ms (64 rows) with one
# intra-op thread, 1.0-2.9 ms and 11.9-15.6 ms with two, and 2.4-4.6 ms and 20-24 ms with two spinning threads.
# One thread per session is as fast or faster and leaves the second core to a concurrent request.
DEFAULT_INTRA_OP_THREADS = 1
DEFAULT_INTER_OP_THREADS = 1
DEFAULT_MAX_BATCH_ROWS = 256  # decoder rows (sentences x beam) per decoder call
StepWatcher = Callable[[list[int], list[int]], None]  # (texts with live rows in a decoder step, their rows)


@dataclass(frozen=True)
class Hypothesis:
    text: str
    score: float  # length-normalized log-probability (higher is better)
    target_tokens: list[str]  # subword pieces as SentencePiece spells them, last one "</s>"
    attention: FloatArray  # (len(target_tokens), len(source_tokens)); each row sums to 1


@dataclass(frozen=True)
class Translation:
    source: str  # the input text as given
    text: str  # detokenized best translation
    score: float
    source_tokens: list[str]  # subword pieces, last one "</s>"
    target_tokens: list[str]  # last one "</s>"
    attention: FloatArray  # (len(target_tokens), len(source_tokens)), rows sum to 1
    alignment: str  # Pharaoh "i-j i-j ..." (source word i, target word j), whitespace words
    source_words: list[str]
    target_words: list[str]
    n_best: list[Hypothesis]  # best first
    confidence: Confidence  # mean log-probability per piece and attention entropy (confidence.py)
    truncated: bool = False  # the source (or forced target) was cut at its piece cap
    alignment_method: AlignmentMethod = DEFAULT_ALIGNMENT_METHOD  # how `alignment` was extracted (alignment.py)


@dataclass(frozen=True)
class _Side:
    """One side of a translation: pieces, whitespace words, and which word each piece belongs to."""

    text: str
    ids: list[int]  # without EOS
    pieces: list[str]
    words: list[str]
    word_of_piece: list[int]
    truncated: bool

    @classmethod
    def of(cls, segmentation: Segmentation) -> _Side:
        spans = word_spans(segmentation.text)
        word_of_piece = words_of_pieces(segmentation.spans, spans)
        if segmentation.truncated:  # only the words the model saw
            spans = spans[: max(word_of_piece, default=-1) + 1]
        words = [segmentation.text[begin:end] for begin, end in spans]
        return cls(
            segmentation.text, segmentation.ids, segmentation.pieces, words, word_of_piece, segmentation.truncated
        )

    @property
    def tokens(self) -> list[str]:
        return [*self.pieces, EOS_PIECE]


def _check_texts(texts: Sequence[str], what: str = "text") -> list[str]:
    if isinstance(texts, str):
        raise TypeError(f"expected a sequence of {what}s, got a single string")
    checked = list(texts)
    for index, text in enumerate(checked):
        if not isinstance(text, str):
            raise TypeError(f"{what} {index} is a {type(text).__name__}, not a string")
        if not text.strip():
            raise ValueError(f"{what} {index} is empty")
    return checked


def _check_method(method: AlignmentMethod) -> None:
    if method not in ALIGNMENT_METHODS:
        raise ValueError(f"alignment_method must be one of {', '.join(ALIGNMENT_METHODS)}, got {method!r}")


def _check_int(name: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high}, got {value!r}")


def _chunk_wanted(wanted: Callable[[int], bool] | None, on_step: StepWatcher | None, chunk: list[int]) -> Wanted | None:
    """The search's per-step question over a chunk's sentence numbers (0..len(chunk)-1): `on_step` is told the
    step's texts and their live rows, then `wanted` is asked once per text."""
    if wanted is None and on_step is None:
        return None

    def still_wanted(sentences: IndexArray) -> npt.NDArray[np.bool_]:
        if on_step is not None:
            live, rows = np.unique(sentences, return_counts=True)
            on_step([chunk[int(sentence)] for sentence in live], rows.tolist())
        if wanted is None:
            return np.ones(sentences.shape, dtype=bool)
        return np.array([wanted(index) for index in chunk], dtype=bool)[sentences]

    return still_wanted


class Translator:
    """One loaded bundle. Build it with `Translator.load(folder)`."""

    def __init__(
        self,
        manifest: Manifest,
        encoder: EncoderGraph,
        decoder: DecoderGraph,
        source_tokenizer: Tokenizer,
        target_tokenizer: Tokenizer,
        max_batch_rows: int = DEFAULT_MAX_BATCH_ROWS,
    ) -> None:
        self.bundle = manifest  # the parsed, checked manifest
        self.manifest: dict[str, Any] = manifest.raw
        self.name = manifest.name
        self.version = manifest.version
        self.source_language = manifest.source_language
        self.target_language = manifest.target_language
        self.path = manifest.folder
        self.default_beam_size = manifest.decoding.beam_size
        self.length_penalty = manifest.decoding.length_penalty
        self.special = manifest.special_tokens
        self.encoder = encoder
        self.decoder = decoder
        self.source_tokenizer = source_tokenizer
        self.target_tokenizer = target_tokenizer
        self.max_batch_rows = max_batch_rows
        self._self_check()

    @classmethod
    def load(
        cls,
        folder: str | Path,
        intra_op_threads: int = DEFAULT_INTRA_OP_THREADS,
        inter_op_threads: int = DEFAULT_INTER_OP_THREADS,
        max_batch_rows: int = DEFAULT_MAX_BATCH_ROWS,
    ) -> Translator:
        """Verifies the bundle in `folder` (manifest, checksums, graph interfaces) and loads it; raises BundleError."""
        manifest = read_manifest(folder)
        options = session_options(intra_op_threads, inter_op_threads)
        model = manifest.model
        return cls(
            manifest,
            EncoderGraph(manifest.path(manifest.encoder.file), options, model),
            DecoderGraph(manifest.path(manifest.decoder.file), options, model),
            Tokenizer(manifest.path(manifest.source_tokenizer), manifest.special_tokens, model.src_vocab_size),
            Tokenizer(manifest.path(manifest.target_tokenizer), manifest.special_tokens, model.tgt_vocab_size),
            max_batch_rows,
        )

    def __repr__(self) -> str:
        return f"Translator({self.name!r}, version={self.version!r})"

    # -- public API -------------------------------------------------------------------------------

    def translate_batch(
        self,
        texts: Sequence[str],
        beam_size: int = 4,
        n_best: int = 1,
        max_length: int | None = None,
        alignment_method: AlignmentMethod = DEFAULT_ALIGNMENT_METHOD,
        *,
        max_length_cap: int = MAX_OUTPUT_PIECES,
        wanted: Callable[[int], bool] | None = None,
        on_step: StepWatcher | None = None,
    ) -> list[Translation]:
        """Translations in input order. Blocking; call it off the event loop.

        Before every decoder step, `on_step(texts, rows)` is told which texts have live rows in it and how many,
        and then `wanted(text)` is asked for each text: the rows of a text no longer wanted leave the batch at that
        step, and the text comes back untranslated (no hypotheses)."""
        _check_method(alignment_method)
        _check_int("beam_size", beam_size, 1, MAX_BEAM_SIZE)
        _check_int("n_best", n_best, 1, beam_size)
        _check_int("max_length_cap", max_length_cap, 1, MAX_OUTPUT_PIECES)
        if max_length is not None:
            _check_int("max_length", max_length, 1, MAX_OUTPUT_PIECES)
        given = _check_texts(texts)
        sources = [self._source(text) for text in given]
        results: list[Translation | None] = [None] * len(sources)
        runnable = [index for index, source in enumerate(sources) if source.ids]
        for chunk in self._chunks(runnable, sources, self.max_batch_rows // beam_size):
            if wanted is not None and not any(wanted(index) for index in chunk):
                continue
            chunk_sources = [sources[index] for index in chunk]
            limits = [max_length or self.max_output_length(len(s.ids) + 1, max_length_cap) for s in chunk_sources]
            steering = _chunk_wanted(wanted, on_step, chunk)
            searched = self._search(chunk_sources, beam_size, n_best, limits, steering)
            for index, decoded in zip(chunk, searched, strict=True):
                if decoded:  # empty: dropped, no longer wanted
                    results[index] = self._translation(given[index], sources[index], decoded, alignment_method)
        return [
            result or self._empty_translation(given[i], sources[i], alignment_method)
            for i, result in enumerate(results)
        ]

    def force_decode(
        self,
        sources: Sequence[str],
        targets: Sequence[str],
        alignment_method: AlignmentMethod = DEFAULT_ALIGNMENT_METHOD,
    ) -> list[Translation]:
        """Scores given translations: the decoder is teacher-forced over each target's pieces and "</s>".

        The result's text and words are the target's (control characters replaced by spaces, at most
        MAX_TARGET_PIECES pieces); its score and attention are the model's. This is how existing
        translations are aligned.
        """
        _check_method(alignment_method)
        source_texts, target_texts = _check_texts(sources, "source"), _check_texts(targets, "target")
        if len(source_texts) != len(target_texts):
            raise ValueError(f"{len(source_texts)} sources but {len(target_texts)} targets")
        sides = [_Side.of(self.target_tokenizer.segment(text, MAX_TARGET_PIECES)) for text in target_texts]
        return self._force(source_texts, sides, alignment_method)

    def force_decode_pieces(
        self,
        sources: Sequence[str],
        target_pieces: Sequence[Sequence[str]],
        alignment_method: AlignmentMethod = DEFAULT_ALIGNMENT_METHOD,
    ) -> list[Translation]:
        """Like force_decode, over exactly these target pieces (spelled as in `target_tokens`, "</s>" left out)."""
        _check_method(alignment_method)
        source_texts = _check_texts(sources, "source")
        if len(source_texts) != len(target_pieces):
            raise ValueError(f"{len(source_texts)} sources but {len(target_pieces)} piece lists")
        sides = []
        for pieces in target_pieces:
            if len(pieces) > MAX_TARGET_PIECES:
                raise ValueError(f"at most {MAX_TARGET_PIECES} target pieces can be scored")
            sides.append(_Side.of(self.target_tokenizer.detokenize(self.target_tokenizer.piece_ids(list(pieces)))))
        return self._force(source_texts, sides, alignment_method)

    def count_source_tokens(self, text: str) -> int:
        """len(source_tokens) the text would have without the MAX_SOURCE_PIECES cap: its pieces plus "</s>"."""
        return self.source_tokenizer.count(text) + 1

    def max_output_length(self, source_tokens: int, cap: int = MAX_OUTPUT_PIECES) -> int:
        """The manifest's length limit for a source of `source_tokens` pieces including "</s>", at most `cap`."""
        decoding = self.bundle.decoding
        limit = int(decoding.max_length_ratio * source_tokens + decoding.max_length_offset)
        return max(1, min(limit, cap, MAX_OUTPUT_PIECES))

    # -- internals --------------------------------------------------------------------------------

    def _source(self, text: str) -> _Side:
        return _Side.of(self.source_tokenizer.segment(text, MAX_SOURCE_PIECES))

    def _with_eos(self, ids: list[int]) -> list[int]:
        return [*ids, self.special.eos]

    @staticmethod
    def _chunks(indices: list[int], sides: Sequence[_Side], size: int) -> Iterator[list[int]]:
        """Indices grouped by source length, at most `size` per group, so little padding is computed."""
        ordered = sorted(indices, key=lambda index: len(sides[index].ids))
        step = max(1, size)
        for start in range(0, len(ordered), step):
            yield ordered[start : start + step]

    def _search(
        self, sources: list[_Side], beam_size: int, n_best: int, limits: list[int], wanted: Wanted | None
    ) -> list[list[Decoded]]:
        encoded = encode_batch(self.encoder, [self._with_eos(s.ids) for s in sources], self.special.pad)
        if beam_size == 1:
            greedy = greedy_search(self.decoder, encoded, self.special, limits, self.length_penalty, wanted)
            return [[decoded] if decoded is not None else [] for decoded in greedy]
        return beam_search(self.decoder, encoded, self.special, limits, self.length_penalty, beam_size, n_best, wanted)

    def _force(self, source_texts: list[str], targets: list[_Side], method: AlignmentMethod) -> list[Translation]:
        sources = [self._source(text) for text in source_texts]
        results: list[Translation | None] = [None] * len(sources)
        for chunk in self._chunks(list(range(len(sources))), sources, self.max_batch_rows):
            encoded = encode_batch(self.encoder, [self._with_eos(sources[i].ids) for i in chunk], self.special.pad)
            target_ids = [self._with_eos(targets[i].ids) for i in chunk]
            decoded = forced_decode(self.decoder, encoded, self.special, target_ids, self.length_penalty)
            for index, result in zip(chunk, decoded, strict=True):
                results[index] = self._assemble(source_texts[index], sources[index], targets[index], [result], method)
        return [result for result in results if result is not None]

    def _translation(self, text: str, source: _Side, decoded: list[Decoded], method: AlignmentMethod) -> Translation:
        best = decoded[0]
        target = _Side.of(self.target_tokenizer.detokenize(best.token_ids[:-1]))
        return self._assemble(text, source, target, decoded, method)

    def _hypothesis(self, decoded: Decoded) -> Hypothesis:
        target = self.target_tokenizer.detokenize(decoded.token_ids[:-1])
        return Hypothesis(target.text.strip(), decoded.score, [*target.pieces, EOS_PIECE], decoded.attention)

    def _assemble(
        self, text: str, source: _Side, target: _Side, decoded: list[Decoded], method: AlignmentMethod
    ) -> Translation:
        best = decoded[0]
        weights = link_weights(
            best.attention, target.word_of_piece, len(target.words), source.word_of_piece, len(source.words)
        )
        return Translation(
            source=text,
            text=target.text.strip(),
            score=best.score,
            source_tokens=source.tokens,
            target_tokens=target.tokens,
            attention=best.attention,
            alignment=pharaoh_line(align_words(weights, method)),
            source_words=source.words,
            target_words=target.words,
            n_best=[self._hypothesis(d) for d in decoded],
            confidence=confidence(best.log_prob, best.attention),
            truncated=source.truncated or target.truncated,
            alignment_method=method,
        )

    def _empty_translation(self, text: str, source: _Side, method: AlignmentMethod) -> Translation:
        attention = np.ones((1, 1), dtype=np.float32)
        return Translation(
            source=text,
            text="",
            score=0.0,
            source_tokens=source.tokens,
            target_tokens=[EOS_PIECE],
            attention=attention,
            alignment="",
            source_words=source.words,
            target_words=[],
            n_best=[Hypothesis("", 0.0, [EOS_PIECE], attention)],
            confidence=confidence(0.0, attention),  # nothing was decoded: nothing to distrust
            truncated=source.truncated,
            alignment_method=method,
        )

    def _self_check(self) -> None:
        """One encoder call and one decoder step on a two-sentence batch, so a graph that loads but
        computes the wrong thing fails at load with its file named, not on the first request."""
        sources = [[self.special.unk, self.special.eos], [self.special.eos]]
        try:
            encoded = encode_batch(self.encoder, sources, self.special.pad)
        except Exception as error:  # ORT's own exception types
            raise BundleError(self.encoder.path, f"a trial run failed: {error}") from None
        try:
            bos = np.full(2, self.special.bos, dtype=np.int64)
            out = self.decoder.run(bos, encoded.init_state, encoded.annotations, encoded.keys, encoded.mask)
        except Exception as error:
            raise BundleError(self.decoder.path, f"a trial decoding step failed: {error}") from None
        vocab = self.target_tokenizer.vocab_size
        if out.log_probs.shape != (2, vocab):
            raise BundleError(self.decoder.path, f"log_probs came out {out.log_probs.shape}, expected (2, {vocab})")
        if not np.allclose(np.exp(out.log_probs.astype(np.float64)).sum(axis=1), 1.0, atol=1e-3):
            raise BundleError(self.decoder.path, "log_probs are not log-probabilities (they do not sum to 1)")
        if out.attention.shape != (2, 2) or out.attention[1, 1] != 0.0:
            raise BundleError(self.decoder.path, "attention does not put exactly 0 on padding positions")
        if not np.allclose(out.attention.sum(axis=1), 1.0, atol=1e-4):
            raise BundleError(self.decoder.path, "attention rows do not sum to 1")
