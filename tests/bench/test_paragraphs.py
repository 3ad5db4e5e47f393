"""bench.paragraphs: paragraphs of 3-8 sentences, and a real run over the tiny bundle on its own corpus, where the
sentence-by-sentence translation of joined training sentences is exact."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from bench.paragraphs import group, main, paragraph_sizes
from tests.tiny_corpus import PAIRS


def test_paragraph_sizes_are_3_to_8_and_cover_every_sentence() -> None:
    sizes = paragraph_sizes(1014)
    assert sum(sizes) == 1014
    assert all(3 <= size <= 8 for size in sizes[:-1]) and 1 <= sizes[-1] <= 8
    assert group(["a.", "b.", "c.", "d."], [3, 1]) == ["a. b. c.", "d."]


def test_a_run_over_the_tiny_bundle_scores_after_as_the_sentences_alone(tiny_bundle: Path, tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    for index, language in enumerate(("en", "de")):
        with gzip.open(tmp_path / "raw" / f"val.{language}.gz", "wt", encoding="utf-8") as file:
            file.write("\n".join(pair[index] for pair in PAIRS) + "\n")
    out = tmp_path / "out"
    assert main(["--models-dir", str(tiny_bundle.parent), "--data", str(tmp_path), "--out", str(out)]) == 0
    (result,) = json.loads((out / "paragraphs-val.json").read_text())
    assert result["pair"] == "en-de" and result["rows_after"] == len(PAIRS)
    assert result["after"]["comparable"] == result["sentences_alone"]["comparable"] == pytest.approx(100.0)
    assert result["before"]["comparable"] < 100.0
    assert "| en-de |" in (out / "paragraphs-val.md").read_text()
