"""bench.documents: paragraphs cut as bench.paragraphs cuts them, and a real run against heed over the tiny bundle,
each paragraph sent as one text and as one request per sentence (no timing asserted)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.documents import MODES, ONE_BY_ONE, ONE_TEXT, build_paragraphs, main, rounds_of
from bench.paragraphs import group, paragraph_sizes
from bench.report import documents_section
from tests.tiny_corpus import PAIRS

SOURCES = [source for source, _ in PAIRS]


def test_paragraphs_are_the_first_runs_of_3_to_8_consecutive_sentences() -> None:
    lines = [f"Sentence number {index}." for index in range(200)]
    paragraphs = build_paragraphs(lines, 10)
    assert len(paragraphs) == 10 and all(3 <= len(p.sentences) <= 8 for p in paragraphs)
    flat = [sentence for p in paragraphs for sentence in p.sentences]
    assert flat == lines[: len(flat)]
    sizes = paragraph_sizes(len(lines))
    assert [p.text for p in paragraphs] == group(lines, sizes)[:10]


def test_a_short_last_run_is_no_paragraph() -> None:
    paragraphs = build_paragraphs(SOURCES, 100)
    assert all(len(p.sentences) >= 3 for p in paragraphs)
    assert 0 < sum(len(p.sentences) for p in paragraphs) <= len(SOURCES)
    assert build_paragraphs(SOURCES[:2], 5) == []


@pytest.mark.parametrize(("count", "rounds"), [(5, 2), (24, 2), (95, 2), (96, 4), (120, 4), (200, 8)])
def test_the_list_is_cut_into_an_even_number_of_rounds_covering_it(count: int, rounds: int) -> None:
    cut = rounds_of(count)
    assert len(cut) == rounds and [i for part in cut for i in part] == list(range(count))


@pytest.fixture(scope="module")
def documents_run(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    folder = tmp_path_factory.mktemp("documents")
    sentences = folder / "sentences.en"
    sentences.write_text("".join(f"{source}\n" for source in SOURCES), encoding="utf-8")
    out = folder / "results"
    arguments = ["--quick", "--models-dir", str(tiny_bundle.parent), "--model", "en-de", "--sentences", str(sentences)]
    assert main([*arguments, "--clients", "1,3", "--out", str(out)]) == 0
    (json_path,) = out.glob("documents-*-quick.json")
    (markdown_path,) = out.glob("documents-*-quick.md")
    return json.loads(json_path.read_text(encoding="utf-8")), markdown_path.read_text(encoding="utf-8")


def test_every_sentence_is_answered_both_ways_at_every_client_count(documents_run: tuple[dict[str, Any], str]) -> None:
    report, _ = documents_run
    (pair,) = report["documents"]["pairs"]
    expected = build_paragraphs(SOURCES, 100)
    sentences = sum(len(p.sentences) for p in expected)
    assert (pair["pair"], pair["paragraphs"], pair["sentences"], pair["rounds"]) == (
        "en-de",
        len(expected),
        sentences,
        2,
    )
    assert pair["paragraph_sizes"] == [len(p.sentences) for p in expected]
    assert [(r["clients"], r["mode"]) for r in pair["results"]] == [(c, m) for c in (1, 3) for m in MODES]
    for result in pair["results"]:
        assert result["errors"] == 0, result["error_examples"]
        assert (result["paragraphs"], result["sentences"]) == (len(expected), sentences)
        requests = len(expected) if result["mode"] == ONE_TEXT else sentences
        assert result["requests"] == requests
        assert result["sentences_per_second"] > 0 and result["seconds"] > 0 and result["mean_batch_size"] >= 1
        assert result["requests_per_second"] == pytest.approx(result["sentences_per_second"] * requests / sentences)
        for latency in (result["paragraph_latency_ms"], result["request_latency_ms"]):
            assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]


def test_one_paragraph_is_decoded_as_one_row_per_sentence(documents_run: tuple[dict[str, Any], str]) -> None:
    (pair,) = documents_run[0]["documents"]["pairs"]
    assert pair["rows"] == {ONE_TEXT: pair["sentences"], ONE_BY_ONE: pair["sentences"]}


def test_a_paragraph_sent_one_by_one_waits_for_its_slowest_sentence(documents_run: tuple[dict[str, Any], str]) -> None:
    (pair,) = documents_run[0]["documents"]["pairs"]
    for result in pair["results"]:
        paragraph, request = result["paragraph_latency_ms"], result["request_latency_ms"]
        assert paragraph["max"] >= request["max"]  # each paragraph waits for every one of its requests
        if result["mode"] == ONE_TEXT:  # one request per paragraph: each percentile of one is above the other's
            assert all(paragraph[which] >= request[which] for which in ("p50", "p95", "p99"))


def test_the_report_compares_the_two_ways(documents_run: tuple[dict[str, Any], str]) -> None:
    report, markdown = documents_run
    (pair,) = report["documents"]["pairs"]
    assert [row["clients"] for row in pair["one_text_over_one_by_one"]] == [1, 3]
    for row in pair["one_text_over_one_by_one"]:
        assert row["sentences_per_second"] > 0 and row["paragraph_p50"] > 0
    assert report["served_bundles"][0]["name"] == "en-de" and report["command"].startswith("python -m bench.documents")
    assert "## Documents: paragraphs of 3-8 sentences" in markdown
    assert "| en-de | 3 | one by one |" in markdown and "| en-de | 1 | one text |" in markdown
    assert markdown.endswith(report["documents"]["definitions"] + "\n")


def test_a_report_without_the_workload_has_no_section() -> None:
    assert documents_section(None) == [] and documents_section({"pairs": []}) == []


def test_bad_client_counts_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--clients", "0"])
    assert "at least 1" in capsys.readouterr().err
