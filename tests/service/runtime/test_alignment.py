"""Subword-to-word merging and Pharaoh links, on hand-made matrices and real SentencePiece offsets."""

from __future__ import annotations

import numpy as np
import pytest

from service.runtime import Translation, Translator
from service.runtime.alignment import (
    ALIGNMENT_METHODS,
    DEFAULT_ALIGNMENT_METHOD,
    AlignmentMethod,
    align_words,
    grow_diag_final_and,
    link_weights,
    pharaoh,
    pharaoh_line,
    source_argmax_links,
    target_argmax_links,
    word_attention,
    word_spans,
    words_of_pieces,
)


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


def test_link_weights_average_over_target_pieces_and_sum_over_source_pieces() -> None:
    attention = np.array(
        [
            [0.7, 0.1, 0.1, 0.1],  # "▁Ein"
            [0.1, 0.4, 0.4, 0.1],  # "▁M"
            [0.0, 0.5, 0.3, 0.2],  # "ann"
            [0.2, 0.2, 0.2, 0.4],  # the </s> row
        ],
        dtype=np.float32,
    )
    weights = link_weights(attention, [0, 1, 1], 2, [0, 1, 1], 2)
    np.testing.assert_allclose(weights, [[0.7, 0.2], [0.05, 0.8]], atol=1e-6)


# Link weights (rows: target words j, columns: source words i) whose links were worked out by hand:
#   target-argmax (rows)     (0,0) (1,1) (2,2) (3,3) (0,4) (5,5)
#   source-argmax (columns)  (0,0) (1,1) (2,2) (3,3) (4,3) (5,0)
#   grow-diag-final-and: the intersection (0,0)..(3,3) grows (4,3), next to (3,3) with source 4 unaligned;
#   (0,4) and (5,0) touch no link and join an aligned word; final-and adds (5,5), whose words are both unaligned.
HAND_WEIGHTS = np.array(
    [
        [0.55, 0.05, 0.0, 0.0, 0.05, 0.3],
        [0.1, 0.7, 0.1, 0.0, 0.1, 0.0],
        [0.0, 0.1, 0.6, 0.2, 0.1, 0.0],
        [0.0, 0.0, 0.2, 0.5, 0.3, 0.0],
        [0.3, 0.0, 0.0, 0.1, 0.25, 0.0],  # the rest of these two words' attention went to "</s>"
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.25],
    ],
    dtype=np.float32,
)


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("target-argmax", "0-0 1-1 2-2 3-3 0-4 5-5"),
        ("source-argmax", "0-0 5-0 1-1 2-2 3-3 4-3"),
        ("intersection", "0-0 1-1 2-2 3-3"),
        ("union", "0-0 5-0 1-1 2-2 3-3 4-3 0-4 5-5"),
        ("grow-diag-final-and", "0-0 1-1 2-2 3-3 4-3 5-5"),
        ("threshold", "0-0 5-0 1-1 2-2 3-3 4-3 0-4"),  # every weight above 0.28
    ],
)
def test_each_method_on_a_hand_made_matrix(method: AlignmentMethod, expected: str) -> None:
    assert pharaoh_line(align_words(HAND_WEIGHTS, method, threshold=0.28)) == expected


def test_every_method_is_tested_and_the_default_is_one_of_them() -> None:
    assert set(ALIGNMENT_METHODS) == {
        "target-argmax", "source-argmax", "intersection", "union", "grow-diag-final-and", "threshold"
    }  # fmt: skip
    assert DEFAULT_ALIGNMENT_METHOD in ALIGNMENT_METHODS


def test_the_threshold_is_strict() -> None:
    assert pharaoh_line(align_words(HAND_WEIGHTS, "threshold", threshold=0.5)) == "0-0 1-1 2-2"
    assert pharaoh_line(align_words(HAND_WEIGHTS, "threshold", threshold=0.7)) == ""


def test_an_unknown_method_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown alignment method 'diagonal'"):
        align_words(HAND_WEIGHTS, "diagonal")  # type: ignore[arg-type]


def test_final_and_adds_only_links_between_two_unaligned_words_forward_first() -> None:
    # nothing neighbours the intersection (0,0); (3,3) joins two unaligned words, (3,5) then an aligned one
    assert grow_diag_final_and({(0, 0), (3, 3)}, {(0, 0), (3, 5)}) == {(0, 0), (3, 3)}
    assert grow_diag_final_and({(0, 0), (3, 5)}, {(0, 0), (3, 3)}) == {(0, 0), (3, 5)}


def test_grow_adds_neighbours_of_which_one_word_is_unaligned() -> None:
    forward = {(0, 0), (1, 1), (2, 1)}
    backward = {(0, 0), (1, 1), (1, 2)}
    # (2,1) and (1,2) each neighbour (1,1) and bring an unaligned word; both grow in
    assert grow_diag_final_and(forward, backward) == forward | backward
    assert grow_diag_final_and(set(), set()) == set()


def test_a_link_grown_in_a_pass_is_grown_from_in_the_same_pass() -> None:
    # (1,1) grows from (0,0), then (2,1) from (1,1) while source 2 is free; (2,2) then still brings target 2
    forward = {(0, 0), (1, 1), (2, 2), (1, 3)}
    backward = {(0, 0), (1, 3), (2, 1)}
    assert grow_diag_final_and(forward, backward) == forward | backward


def test_end_of_sentence_rows_and_columns_never_make_links() -> None:
    # source "a b </s>"; target pieces: word 0, word 1, </s>. Word 0 attends only to the source's </s>.
    attention = np.array([[0.0, 0.0, 1.0], [0.3, 0.6, 0.1], [0.9, 0.05, 0.05]], dtype=np.float32)
    weights = link_weights(attention, [0, 1], 2, [0, 1], 2)
    np.testing.assert_allclose(weights, [[0.0, 0.0], [0.3, 0.6]], atol=1e-6)
    assert target_argmax_links(weights) == {(1, 1)}  # the massless word gets no link
    assert source_argmax_links(weights) == {(0, 1), (1, 1)}  # the </s> row's 0.9 on "a" counts for nothing
    for method in ALIGNMENT_METHODS:
        assert all(j == 1 and i in (0, 1) for i, j in align_words(weights, method))


def test_a_lone_word_boundary_piece_counts_for_the_next_word(translator: Translator) -> None:
    text = "A man \U0001f600 rides"  # SentencePiece writes the unknown emoji as a lone "▁" and the emoji
    segmentation = translator.source_tokenizer.segment(text, 256)
    pieces = segmentation.pieces
    lone = next(k for k, piece in enumerate(pieces[:-1]) if piece == "▁" and pieces[k + 1] == "\U0001f600")
    word_of_piece = words_of_pieces(segmentation.spans, word_spans(segmentation.text))
    assert word_of_piece[lone] == word_of_piece[lone + 1] == 2
    attention = np.zeros((2, len(pieces) + 1), dtype=np.float32)  # one target piece, then </s>
    attention[0, lone] = 0.6  # the lone "▁" column
    attention[0, -1] = 0.4
    weights = link_weights(attention, [0], 1, word_of_piece, 4)
    np.testing.assert_allclose(weights, [[0.0, 0.0, 0.6, 0.0]], atol=1e-6)


def test_a_lone_word_boundary_row_is_one_of_the_next_target_words_pieces(translator: Translator) -> None:
    tokenizer = translator.target_tokenizer
    ein, boundary = tokenizer.piece_ids(["▁Ein", "▁"])
    decoded = tokenizer.detokenize([ein, boundary, tokenizer.unk_id, ein])  # "Ein  ⁇  Ein"
    assert words_of_pieces(decoded.spans, word_spans(decoded.text)) == [0, 1, 1, 2]


def expected_links(translator: Translator, translation: Translation, method: AlignmentMethod) -> str:
    """The links recomputed from the translation's attention and the tokenizers' character offsets."""
    tokenizer = translator.target_tokenizer
    target = tokenizer.detokenize(tokenizer.piece_ids(translation.target_tokens[:-1]))
    source = translator.source_tokenizer.segment(translation.source, 256)
    weights = link_weights(
        translation.attention,
        words_of_pieces(target.spans, word_spans(target.text)),
        len(translation.target_words),
        words_of_pieces(source.spans, word_spans(source.text)),
        len(translation.source_words),
    )
    return pharaoh_line(align_words(weights, method))


@pytest.mark.parametrize("method", ALIGNMENT_METHODS)
def test_translations_and_forced_decoding_align_with_the_asked_method(
    translator: Translator, method: AlignmentMethod
) -> None:
    source, target = "A man is riding a bike.", "Ein Mann fährt Fahrrad."
    [translated] = translator.translate_batch([source], beam_size=2, alignment_method=method)
    [forced] = translator.force_decode([source], [target], alignment_method=method)
    [by_pieces] = translator.force_decode_pieces([source], [forced.target_tokens[:-1]], alignment_method=method)
    for translation in (translated, forced, by_pieces):
        assert translation.alignment_method == method
        assert translation.alignment == expected_links(translator, translation, method)
        assert translation.alignment


def test_the_default_method_is_used_when_none_is_asked(translator: Translator) -> None:
    [translation] = translator.translate_batch(["A man is riding a bike."], beam_size=1)
    assert translation.alignment_method == DEFAULT_ALIGNMENT_METHOD
    assert translation.alignment == expected_links(translator, translation, DEFAULT_ALIGNMENT_METHOD)
    [empty] = translator.translate_batch(["\x00"], alignment_method="union")
    assert (empty.alignment, empty.alignment_method) == ("", "union")


def test_the_runtime_refuses_an_unknown_method(translator: Translator) -> None:
    for call in (
        lambda: translator.translate_batch(["A man."], alignment_method="diagonal"),  # type: ignore[arg-type]
        lambda: translator.force_decode(["A man."], ["Ein Mann."], alignment_method="diagonal"),  # type: ignore[arg-type]
        lambda: translator.force_decode_pieces(["A man."], [["▁Ein"]], alignment_method="x"),  # type: ignore[arg-type]
    ):
        with pytest.raises(ValueError, match="alignment_method must be one of target-argmax, source-argmax"):
            call()


def test_target_argmax_gives_one_link_per_target_word(translator: Translator) -> None:
    [translation] = translator.translate_batch(
        ["A man is riding a bike."], beam_size=1, alignment_method="target-argmax"
    )
    assert translation.alignment == expected_links(translator, translation, "target-argmax")
    assert [int(link.split("-")[1]) for link in translation.alignment.split()] == [0, 1, 2, 3]
