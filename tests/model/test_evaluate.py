"""The two BLEU scores: agreement with sacrebleu and with the Multi30k tok/ references."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import pytest
import sacrebleu

from model.evaluate import comparable_bleu, moses_normalize, score
from tests.conftest import SHARED_DATA

HYPS = ["Ein Mann fährt mit dem Fahrrad die Straße entlang.", "Zwei Hunde spielen im Schnee!", "Eine Frau liest."]
REFS = ["Ein Mann fährt Fahrrad auf der Straße.", "Zwei Hunde spielen im Schnee.", "Eine Frau liest ein Buch."]


def test_cased_score_is_sacrebleu_default() -> None:
    expected = sacrebleu.corpus_bleu(HYPS, [REFS]).score
    assert score(HYPS, REFS, "de").cased_bleu == pytest.approx(expected)


def test_comparable_score_lowercases_and_moses_tokenizes_both_sides() -> None:
    tok_hyps = [
        "ein mann fährt mit dem fahrrad die straße entlang .",
        "zwei hunde spielen im schnee !",
        "eine frau liest .",
    ]
    tok_refs = [
        "ein mann fährt fahrrad auf der straße .",
        "zwei hunde spielen im schnee .",
        "eine frau liest ein buch .",
    ]
    expected = sacrebleu.corpus_bleu(tok_hyps, [tok_refs], tokenize="none").score
    assert comparable_bleu(HYPS, REFS, "de") == pytest.approx(expected)
    # case and punctuation spacing do not matter for the comparable score, but do for the cased one
    shouted = ["".join(c if c == "ß" else c.upper() for c in h) for h in HYPS]  # "ß".upper() is "SS"
    assert comparable_bleu(shouted, REFS, "de") == pytest.approx(expected)
    assert score(shouted, REFS, "de").cased_bleu < score(HYPS, REFS, "de").cased_bleu


def test_identical_output_scores_100() -> None:
    scores = score(REFS, REFS, "de")
    assert scores.cased_bleu == pytest.approx(100.0) and scores.comparable_bleu == pytest.approx(100.0)


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data/multi30k is absent on this machine")
@pytest.mark.parametrize("lang", ["en", "de", "fr"])
def test_normalization_reproduces_the_published_tokenized_references(lang: str) -> None:
    with gzip.open(SHARED_DATA / "raw" / f"test_2016_flickr.{lang}.gz", "rt", encoding="utf-8") as handle:
        raw = handle.read().splitlines()
    tok = (SHARED_DATA / "tok" / f"test_2016_flickr.lc.norm.tok.{lang}").read_text(encoding="utf-8").splitlines()
    matches = sum(moses_normalize(r, lang) == t for r, t in zip(raw, tok, strict=True))
    assert matches >= 999  # the data README: 999 of 1000 French lines, every English and German one


def test_cli_prints_both_scores(tmp_path: Path) -> None:
    hyp, ref = tmp_path / "hyp.txt", tmp_path / "ref.txt.gz"
    hyp.write_text("\n".join(HYPS) + "\n", encoding="utf-8")
    with gzip.open(ref, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(REFS) + "\n")
    result = subprocess.run(
        [sys.executable, "-m", "model.evaluate", "--hyp", str(hyp), "--ref", str(ref), "--lang", "de"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    expected = score(HYPS, REFS, "de")
    assert f"cased sacreBLEU {expected.cased_bleu:.2f}" in result.stdout
    assert f"comparable (lc, Moses-tok) BLEU {expected.comparable_bleu:.2f}" in result.stdout


def test_cli_refuses_mismatched_line_counts(tmp_path: Path) -> None:
    hyp, ref = tmp_path / "hyp.txt", tmp_path / "ref.txt"
    hyp.write_text("a\nb\n")
    ref.write_text("a\n")
    result = subprocess.run(
        [sys.executable, "-m", "model.evaluate", "--hyp", str(hyp), "--ref", str(ref), "--lang", "de"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 2 and result.stderr.strip() == "error: 2 hypotheses but 1 references"
