"""bench.html_tags: the phrases measured, where markup puts the <b>, and the scores (pure parts, no bundle)."""

from __future__ import annotations

from pathlib import Path

from bench.html_tags import f1, phrases, proportional, wrapped
from export.align_gold import GoldSet


def test_wrapped_reads_back_the_target_tokens_inside_the_element() -> None:
    source, target = ["a", "big", "dog", "&", "<cat>"], ["ein", "großer", "Hund", "&", "<Katze>"]
    links = {(0, 0), (1, 1), (2, 2), (3, 3), (4, 4)}
    assert wrapped(source, (1, 3), target, links) == (1, 3)
    assert wrapped(source, (4, 5), target, links) == (4, 5)
    assert wrapped(source, (2, 3), ["Hund", "großer", "ein"], {(0, 2), (1, 1), (2, 0)}) == (0, 1)


def test_phrases_skip_punctuation_and_unlinked_tokens_and_span_their_sure_links() -> None:
    gold = GoldSet("g", Path("g"), "de", [["a", "dog", "."]], [["ein", "Hund", "."]], [{(1, 1), (2, 2)}],
                   [{(1, 1), (2, 2)}])  # fmt: skip
    assert list(phrases(gold)) == [(0, (0, 2), (1, 2)), (0, (1, 2), (1, 2))]


def test_scores() -> None:
    assert f1((1, 3), (1, 3)) == 1.0 and f1((0, 1), (1, 2)) == 0.0 and f1((0, 2), (1, 2)) == 2 / 3
    assert proportional(["a"] * 4, (2, 3), ["b"] * 8) == (4, 6)
