"""Subword-to-word merging and Pharaoh links, on hand-made matrices and real SentencePiece offsets."""

from __future__ import annotations

import numpy as np
import pytest

from service.runtime import Translator
from service.runtime.alignment import pharaoh, word_attention, word_spans, words_of_pieces


@pytest.mark.parametrize(
    "text",
    ["A man is riding a bike.", "  lead and trail  ", "tab\tand\nnewline", "nbsp\u00a0ideo\u3000sep\u2028x", "", "   "],
)
def test_word_spans_are_exactly_str_split(text: str) -> None:
    assert [text[b:e] for b, e in word_spans(text)] == text.split()


def test_pieces_map_to_the_words_their_characters_fall_in() -> None:
    text = "A bike."  # words "A" [0,1), "bike." [2,7)
    pieces = [(0, 0), (0, 1), (1, 2), (2, 4), (4, 6), (6, 7)]  # "▁", "A", "▁", "bi", "ke", "."
    assert words_of_pieces(pieces, word_spans(text)) == [0, 0, 1, 1, 1, 1]


def test_a_piece_covering_no_word_belongs_to_the_next_word_or_else_the_last() -> None:
    spans = word_spans("ab cd")  # [0,2) [3,5)
    assert words_of_pieces([(2, 3)], spans) == [1]  # the space between: opens "cd"
    assert words_of_pieces([(2, 2)], spans) == [1]  # empty, right after "ab"
    assert words_of_pieces([(5, 5)], spans) == [1]  # empty, at the very end
    assert words_of_pieces([(1, 1)], spans) == [0]  # empty, inside "ab"


def test_pieces_without_words_map_nowhere() -> None:
    assert words_of_pieces([(0, 0), (0, 1)], []) == [-1, -1]


def test_unknown_pieces_detokenized_with_spaces_keep_their_words(translator: Translator) -> None:
    tokenizer = translator.target_tokenizer
    unk = tokenizer.unk_id
    ein = int(tokenizer.processor.piece_to_id("▁Ein"))
    decoded = tokenizer.detokenize([ein, unk, ein])  # SentencePiece writes "<unk>" as " ⁇ "
    assert decoded.text.split() == ["Ein", "⁇", "Ein"]
    assert words_of_pieces(decoded.spans, word_spans(decoded.text)) == [0, 1, 2]


def test_real_source_offsets_keep_punctuation_on_its_word(translator: Translator) -> None:
    text = "The dog, (quickly)!  A\u200bman"
    segmentation = translator.source_tokenizer.segment(text, 256)
    words = [text[b:e] for b, e in word_spans(segmentation.text)]
    assert words == ["The", "dog,", "(quickly)!", "A\u200bman"]  # U+200B is no space to str.split()
    word_of_piece = words_of_pieces(segmentation.spans, word_spans(segmentation.text))
    assert word_of_piece == sorted(word_of_piece) and set(word_of_piece) == {0, 1, 2, 3}
    for piece, (begin, end), word in zip(segmentation.pieces, segmentation.spans, word_of_piece, strict=True):
        if text[begin:end].strip():
            assert text[begin:end].strip() in words[word], piece


def test_word_attention_sums_pieces_on_both_axes_and_drops_the_end() -> None:
    # target pieces: "▁Ein" | "▁M" "ann" | </s>; source pieces: "▁A" | "▁m" "an" | </s>
    attention = np.array(
        [
            [0.7, 0.1, 0.1, 0.1],
            [0.1, 0.4, 0.4, 0.1],
            [0.0, 0.5, 0.3, 0.2],
            [0.2, 0.2, 0.2, 0.4],  # the </s> row
        ],
        dtype=np.float32,
    )
    words = word_attention(attention, [0, 1, 1], 2, [0, 1, 1], 2)
    np.testing.assert_allclose(words, [[0.7, 0.2], [0.1, 1.6]], atol=1e-6)
    assert pharaoh(words) == "0-0 1-1"


def test_pharaoh_links_each_target_word_to_its_most_attended_source_word() -> None:
    words = np.array([[0.1, 0.2, 0.7], [0.6, 0.3, 0.1], [0.2, 0.6, 0.2], [0.0, 0.0, 0.9]], dtype=np.float32)
    assert pharaoh(words) == "2-0 0-1 1-2 2-3"


def test_pharaoh_ties_go_to_the_first_source_word_and_massless_words_get_no_link() -> None:
    words = np.array([[0.4, 0.4, 0.2], [0.0, 0.0, 0.0], [0.1, 0.3, 0.3]], dtype=np.float32)
    assert pharaoh(words) == "0-0 1-2"


def test_mass_on_the_source_end_does_not_decide_the_link() -> None:
    attention = np.array([[0.1, 0.2, 0.7], [0.1, 0.1, 0.8]], dtype=np.float32)  # source "a b </s>"
    assert pharaoh(word_attention(attention, [0], 1, [0, 1], 2)) == "1-0"


def test_translation_alignment_uses_word_level_mass(translator: Translator) -> None:
    [translation] = translator.translate_batch(["A man is riding a bike."], beam_size=1)
    target = translator.target_tokenizer.detokenize(
        [int(translator.target_tokenizer.processor.piece_to_id(p)) for p in translation.target_tokens[:-1]]
    )
    source = translator.source_tokenizer.segment(translation.source, 256)
    expected = word_attention(
        translation.attention,
        words_of_pieces(target.spans, word_spans(target.text)),
        len(translation.target_words),
        words_of_pieces(source.spans, word_spans(source.text)),
        len(translation.source_words),
    )
    assert translation.alignment == pharaoh(expected)
    assert len(translation.alignment.split()) == len(translation.target_words) == 4
