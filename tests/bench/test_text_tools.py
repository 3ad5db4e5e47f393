"""The splitter and detector benchmark's measures: gold paragraphs, boundary scores, calibration, and a real run of
the splitters on a small corpus in the Multi30k layout."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from bench.text_tools import (
    Tally,
    expected_calibration_error,
    gold_boundaries,
    main,
    paragraphs_from,
    predicted_boundaries,
)
from service.text.segment import splitter_for


def test_paragraphs_keep_only_sentences_that_end_as_sentences_do_in_runs_of_3_to_8() -> None:
    sentences = [f"Sentence {index}." for index in range(40)] + ["no final stop", "A question?"]
    paragraphs = paragraphs_from(sentences)
    joined = [sentence for paragraph in paragraphs for sentence in paragraph]
    assert "no final stop" not in joined and "A question?" in joined
    assert all(2 <= len(paragraph) <= 8 for paragraph in paragraphs)
    assert joined == [sentence for sentence in sentences if sentence != "no final stop"][: len(joined)]


def test_gold_boundaries_are_where_each_next_sentence_starts() -> None:
    text, starts = gold_boundaries(["One.", "Two two.", "Three."])
    assert text == "One. Two two. Three."
    assert starts == {5, 14}


def test_the_served_splitter_scores_perfectly_on_plain_sentences_and_a_wrong_split_costs_precision() -> None:
    text, gold = gold_boundaries(["Dr. Smith came.", "He left."])
    assert predicted_boundaries(splitter_for("en"), text) == gold
    tally = Tally()
    tally.add({4, 16}, gold)
    assert tally.scores() == {"precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3), "exact": 0.0}


def test_calibration_error_is_the_gap_between_confidence_and_accuracy() -> None:
    assert expected_calibration_error([0.95, 0.95], [True, True]) == pytest.approx(0.05)
    assert expected_calibration_error([0.9, 0.9], [True, False]) == pytest.approx(0.4)


def test_a_run_on_a_small_corpus_writes_both_tables(tmp_path: Path) -> None:
    sentences = {
        "en": "A man rides a bike. Two dogs play in the snow. A child eats an apple. A woman reads.",
        "de": "Ein Mann fährt Fahrrad. Zwei Hunde spielen im Schnee. Ein Kind isst einen Apfel. Eine Frau liest.",
        "fr": "Un homme fait du vélo. Deux chiens jouent dans la neige. Un enfant mange une pomme. Une femme lit.",
        "cs": "Muž jede na kole. Dva psi si hrají ve sněhu. Dítě jí jablko. Žena čte knihu.",
    }
    (tmp_path / "raw").mkdir()
    for language, text in sentences.items():
        lines = [sentence + "." for sentence in text.rstrip(".").split(". ")]
        with gzip.open(tmp_path / "raw" / f"val.{language}.gz", "wt", encoding="utf-8") as file:
            file.write("\n".join(lines * 3) + "\n")
    # The candidates heed does not serve with are installed for a full run only; this run measures those installed.
    assert main(["segment", "--data", str(tmp_path), "--out", str(tmp_path / "out")]) == 0
    report = json.loads((tmp_path / "out" / "text-tools-segment.json").read_text())
    assert report["segment"]["sentence-splitter (Moses)"]["en"]["multi30k"]["f1"] == 1.0
    assert "| sentence-splitter (Moses) | fr |" in (tmp_path / "out" / "text-tools-segment.md").read_text()
