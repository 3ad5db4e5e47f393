"""Parallel corpora, SentencePiece vocabularies and length-bucketed batches."""

from __future__ import annotations

import gzip
import io
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import sentencepiece as spm
import torch
from torch import Tensor

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3


class CorpusError(ValueError):
    """A corpus file that cannot be used, with a one-line reason."""


def read_lines(path: str | Path) -> list[str]:
    """Reads plain or gzipped UTF-8 text, one sentence per line."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"{path}: no such file")
    try:
        with path.open("rb") as raw:
            magic = raw.read(2)
        opener = gzip.open if magic == b"\x1f\x8b" else open
        with opener(path, "rt", encoding="utf-8") as handle:
            return [line.rstrip("\r\n") for line in handle]
    except (UnicodeDecodeError, OSError, EOFError) as error:
        raise CorpusError(f"{path}: cannot be read as UTF-8 text ({error})") from None


def read_parallel(src_path: str | Path, tgt_path: str | Path) -> list[tuple[str, str]]:
    """Reads two line-aligned files and drops pairs where either side is blank."""
    src_lines, tgt_lines = read_lines(src_path), read_lines(tgt_path)
    if len(src_lines) != len(tgt_lines):
        raise CorpusError(f"{src_path} has {len(src_lines)} lines but {tgt_path} has {len(tgt_lines)}")
    pairs = [(s.strip(), t.strip()) for s, t in zip(src_lines, tgt_lines, strict=True) if s.strip() and t.strip()]
    if not pairs:
        raise CorpusError(f"{src_path} and {tgt_path} hold no non-empty sentence pair")
    return pairs


def train_sentencepiece(sentences: Sequence[str], vocab_size: int, model_type: str = "unigram") -> bytes:
    """Trains a SentencePiece model in memory and returns its serialized bytes."""
    buffer = io.BytesIO()
    # hard_vocab_limit=False lets tiny corpora (tests) get a smaller vocabulary instead of an error
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences),
        model_writer=buffer,
        vocab_size=vocab_size,
        model_type=model_type,
        character_coverage=1.0,
        pad_id=PAD_ID,
        unk_id=UNK_ID,
        bos_id=BOS_ID,
        eos_id=EOS_ID,
        hard_vocab_limit=False,
        num_threads=1,  # one thread keeps the vocabulary identical from run to run
        minloglevel=2,
    )
    return buffer.getvalue()


def load_sentencepiece(model_bytes: bytes) -> spm.SentencePieceProcessor:
    return spm.SentencePieceProcessor(model_proto=model_bytes)


@dataclass
class Batch:
    src: Tensor  # (B, S) padded source ids, each ending in EOS
    src_lengths: Tensor  # (B,)
    tgt_in: Tensor  # (B, T) BOS + target ids
    tgt_out: Tensor  # (B, T) target ids + EOS
    indices: list[int]  # positions of these pairs in the corpus

    @property
    def size(self) -> int:
        return int(self.src.size(0))


def encode_corpus(
    pairs: Sequence[tuple[str, str]],
    src_sp: spm.SentencePieceProcessor,
    tgt_sp: spm.SentencePieceProcessor,
    max_len: int,
) -> list[tuple[list[int], list[int]]]:
    """Subword ids with EOS appended, truncated to max_len tokens per side."""
    src_ids = src_sp.encode([s for s, _ in pairs])
    tgt_ids = tgt_sp.encode([t for _, t in pairs])
    return [([*s[: max_len - 1], EOS_ID], [*t[: max_len - 1], EOS_ID]) for s, t in zip(src_ids, tgt_ids, strict=True)]


def pad(sequences: Sequence[Sequence[int]]) -> Tensor:
    width = max(len(seq) for seq in sequences)
    out = torch.full((len(sequences), width), PAD_ID, dtype=torch.long)
    for row, seq in enumerate(sequences):
        out[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
    return out


def collate(encoded: Sequence[tuple[list[int], list[int]]], indices: list[int]) -> Batch:
    sources = [encoded[i][0] for i in indices]
    targets = [encoded[i][1] for i in indices]
    return Batch(
        src=pad(sources),
        src_lengths=torch.tensor([len(s) for s in sources], dtype=torch.long),
        tgt_in=pad([[BOS_ID, *t[:-1]] for t in targets]),
        tgt_out=pad(targets),
        indices=indices,
    )


def length_bucketed_batches(
    encoded: Sequence[tuple[list[int], list[int]]], batch_size: int, rng: random.Random | None
) -> list[list[int]]:
    """Groups pairs of similar length into batches of at most batch_size pairs.

    With an rng the corpus is shuffled, sorted by length within pools of 50 batches
    and the batches are shuffled, so padding stays small while the order still varies
    by epoch; without one the order is by length, which is what decoding wants.
    """
    order = list(range(len(encoded)))

    def cost(i: int) -> int:
        return max(len(encoded[i][0]), len(encoded[i][1]))

    if rng is not None:
        rng.shuffle(order)
    pool_size = 50 * batch_size if rng is not None else max(1, len(order))
    batches: list[list[int]] = []
    for start in range(0, len(order), pool_size):
        pool = sorted(order[start : start + pool_size], key=cost)
        batches.extend(pool[i : i + batch_size] for i in range(0, len(pool), batch_size))
    if rng is not None:
        rng.shuffle(batches)
    return batches


def iterate_batches(
    encoded: Sequence[tuple[list[int], list[int]]], batch_size: int, rng: random.Random | None = None
) -> Iterator[Batch]:
    for indices in length_bucketed_batches(encoded, batch_size, rng):
        yield collate(encoded, indices)
