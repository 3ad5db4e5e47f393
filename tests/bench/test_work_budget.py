"""bench.work_budget: the documents it builds, and a run end to end over the tiny bundle against a real server,
where every request is answered as the cost model says it must be."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.work_budget import caption_paragraphs, detokenized, prose
from tests.tiny_corpus import PAIRS

REPO = Path(__file__).resolve().parents[2]


def test_tokenized_gold_lines_read_as_prose() -> None:
    line = "the commission 's proposal , however , is late ; is n't it ?"
    assert detokenized(line) == "The commission's proposal, however, is late; isn't it?"
    assert detokenized("we agree") == "We agree."


def test_documents_fill_the_text_limit_without_passing_it() -> None:
    sentences = [source for source, _ in PAIRS] * 40
    paragraphs = caption_paragraphs(sentences, 1000)
    assert 900 < len(paragraphs) <= 1000
    assert all(len(paragraph.split(". ")) <= 3 for paragraph in paragraphs.split("\n\n"))
    text = prose(["the house rose .", "we agree"] * 100, 500)
    assert 480 < len(text) <= 500 and text.startswith("The house rose. We agree. The house")


def test_documents_and_the_worst_admitted_requests_are_answered_as_the_budget_says(
    tiny_bundle: Path, tmp_path: Path, document_sources: tuple[Path, Path]
) -> None:
    captions, long_lines = document_sources
    out = tmp_path / "work.json"
    command = [
        sys.executable, "-m", "bench.work_budget", "--models-dir", str(tiny_bundle.parent), "--model", "en-de",
        "--captions", str(captions), "--prose", str(long_lines), "--out", str(out),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(out.read_text(encoding="utf-8"))
    budget = report["max_request_work"]
    assert len(report["documents"]) == 6
    for document in report["documents"]:
        assert 4500 < document["characters"] <= 5000 and document["sentences"] > 30, document
        assert document["status"] == (200 if document["estimate"] <= budget else 413), document
        assert 0 < document["decoded"] <= document["estimate"], "the estimate bounds what decoding takes"
    for shape in report["worst_admitted"]:  # the meter may stop only what could pass the decoding limit
        assert shape["estimate"] <= budget, shape
        metered = shape["estimate"] > report["max_decoding_work"]
        assert shape["status"] == 200 or (shape["status"] == 413 and metered), shape
    alignment = report["worst_alignment"]
    assert alignment["status"] == 200 and alignment["pairs"] >= 1, alignment
    assert alignment["estimate"] <= min(budget, report["max_decoding_work"])
    assert report["peak_rss_mib"] > 0
