"""Corpus reading and batching."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import pytest

from model.data import CorpusError, length_bucketed_batches, read_lines, read_parallel


def test_plain_and_gzipped_files_read_the_same(tmp_path: Path) -> None:
    text = "Ein Mann.\r\nZwei Hunde.\n"
    (tmp_path / "a.txt").write_text(text, encoding="utf-8", newline="")
    with gzip.open(tmp_path / "a.txt.gz", "wt", encoding="utf-8", newline="") as handle:
        handle.write(text)
    assert read_lines(tmp_path / "a.txt") == read_lines(tmp_path / "a.txt.gz") == ["Ein Mann.", "Zwei Hunde."]


def test_pairs_with_a_blank_side_are_dropped(tmp_path: Path) -> None:
    (tmp_path / "s").write_text("a\n\nc\n")
    (tmp_path / "t").write_text("x\ny\n  \n")
    assert read_parallel(tmp_path / "s", tmp_path / "t") == [("a", "x")]


def test_non_utf8_file_is_a_corpus_error(tmp_path: Path) -> None:
    (tmp_path / "latin1").write_bytes("Straße\n".encode("latin-1"))
    with pytest.raises(CorpusError, match="UTF-8"):
        read_lines(tmp_path / "latin1")


def test_batches_cover_every_pair_once_and_group_similar_lengths() -> None:
    rng = random.Random(3)
    encoded = [([1] * rng.randint(2, 40), [1] * rng.randint(2, 40)) for _ in range(1000)]
    batches = length_bucketed_batches(encoded, batch_size=32, rng=random.Random(0))
    assert sorted(i for batch in batches for i in batch) == list(range(1000))
    assert all(len(batch) <= 32 for batch in batches)
    padding = sum(
        max(max(map(len, encoded[i])) for i in batch) * len(batch) - sum(max(map(len, encoded[i])) for i in batch)
        for batch in batches
    )
    real = sum(max(map(len, pair)) for pair in encoded)
    assert padding < 0.1 * real
    assert batches == length_bucketed_batches(encoded, batch_size=32, rng=random.Random(0))
    assert batches != length_bucketed_batches(encoded, batch_size=32, rng=random.Random(1))
