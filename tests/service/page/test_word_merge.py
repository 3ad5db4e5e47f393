"""The page's piece-to-word rule (static/matrix.js) against the runtime's (service/runtime/alignment.py).

The API sends pieces and words but not which piece belongs to which word, so the page works it out from the
pieces' spelling; the runtime works it out from character offsets. On every text where the page claims to know
the words (its word count equals the API's), both must agree piece by piece; where they cannot agree, the page's
count must differ, so that it says the word view is unavailable instead of showing a wrong matrix.
"""

from __future__ import annotations

from typing import Any

from service.runtime.alignment import word_spans, words_of_pieces
from service.runtime.tokenizer import Segmentation
from tests.service.app.conftest import LiveServer
from tests.service.page.conftest import BrowserPage, open_ready
from tests.tiny_corpus import PAIRS

ORDINARY = [
    "Two  dogs,   three cats!",
    " leading and trailing spaces ",
    "x 12 3,5 !! ?",
    "A 你好 man is riding 🚲 a bike.",
    "naïve café ﬁne",
    "a\u00a0b\u3000c",
]
# U+200B: SentencePiece treats it as a space, str.split() does not, so pieces and words disagree
DISAGREEING = ["A man\u200bis riding a bike."]


def runtime_words(segmentation: Segmentation) -> tuple[list[int], int]:
    spans = word_spans(segmentation.text)
    return words_of_pieces(segmentation.spans, spans), len(spans)


def page_words(page: Any, pieces: list[list[str]]) -> list[tuple[list[int], int]]:
    answers = page.evaluate(
        "async (all) => { const matrix = await import('/static/matrix.js'); "
        "return all.map(pieces => { const words = matrix.wordsOfPieces(pieces); "
        "return [words.wordOf, words.count]; }); }",
        pieces,
    )
    return [(list(word_of), int(count)) for word_of, count in answers]


def test_the_page_maps_pieces_to_words_as_the_runtime_does(server: LiveServer, desktop: BrowserPage) -> None:
    open_ready(desktop.page, server.url)
    translator = server.state.serving_models().translators["en-de"]
    source, target = translator.source_tokenizer, translator.target_tokenizer
    segmentations = [source.segment(text, 256) for text in [s for s, _ in PAIRS] + ORDINARY]
    segmentations += [target.segment(text, 512) for text in [t for _, t in PAIRS] + ORDINARY]
    # unknown pieces in the output ("<unk>", detokenized as " ⁇ "): first, inside, next to a piece without "▁"
    words = target.segment("Ein Mann fährt", 512)
    known = words.ids
    inside = next(i for i, piece in zip(words.ids, words.pieces, strict=True) if not piece.startswith("\u2581"))
    for ids in ([1, *known], [known[0], 1, *known[1:]], [known[0], 1, inside], [*known, 1], [1, 1, *known]):
        segmentations.append(target.detokenize(ids))
    assert any("<unk>" in s.pieces for s in segmentations) and any("\u2581" in s.pieces for s in segmentations)

    expected = [runtime_words(segmentation) for segmentation in segmentations]
    shown = page_words(desktop.page, [segmentation.pieces for segmentation in segmentations])
    for segmentation, want, got in zip(segmentations, expected, shown, strict=True):
        assert got == want, f"{segmentation.text!r}: pieces {segmentation.pieces}"

    for text in DISAGREEING:
        segmentation = source.segment(text, 256)
        (_, words), [(_, count)] = runtime_words(segmentation), page_words(desktop.page, [segmentation.pieces])
        assert count != words, "the page must notice it cannot match these pieces to words"
    desktop.assert_no_problems()


def test_the_word_view_says_when_it_is_unavailable(server: LiveServer, desktop: BrowserPage) -> None:
    page = desktop.page
    open_ready(page, server.url)
    page.fill('[data-testid="source-text"]', DISAGREEING[0])
    page.click('[data-testid="translate"]')
    page.wait_for_selector('[data-testid="heatmap"]')
    page.click('label[for="level-word"]')
    note = page.locator('[data-testid="word-view-unavailable"]')
    note.wait_for()
    assert "not available" in note.inner_text()
    assert page.locator('[data-testid="heatmap"]').count() == 0
    desktop.assert_no_problems()
