"""Segmentation: exact sentence spans, every character of the layout kept, line breaks and paragraphs."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from service.text.segment import Segmentation, fit, piece_spans, segment


def spans(segmentation: Segmentation) -> list[tuple[int, int]]:
    return [(sentence.start, sentence.end) for sentence in segmentation.sentences]


def test_sentences_of_one_line_and_the_spaces_between_them() -> None:
    text = "A man rides a bike.  Two dogs play. A child eats."
    segmentation = segment(text, "en")
    assert segmentation.texts() == ["A man rides a bike.", "Two dogs play.", "A child eats."]
    assert spans(segmentation) == [(0, 19), (21, 35), (36, 49)]
    assert segmentation.gaps() == ["", "  ", " ", ""]


def test_abbreviations_decimals_ellipses_and_quotes_do_not_end_sentences() -> None:
    text = 'Dr. Smith paid 3.5 dollars, e.g. for coffee in the U.S. yesterday. "Is it?" she asked... He left.'
    assert segment(text, "en").texts() == [
        "Dr. Smith paid 3.5 dollars, e.g. for coffee in the U.S. yesterday.",
        '"Is it?" she asked...',
        "He left.",
    ]
    assert segment("Das Wachstum betrug 3,5 Prozent, z. B. im Handel. Das überraschte.", "de").texts() == [
        "Das Wachstum betrug 3,5 Prozent, z. B. im Handel.",
        "Das überraschte.",
    ]
    assert segment("La croissance, p. ex. dans le commerce, a surpris. M. Dupont est parti.", "fr").texts() == [
        "La croissance, p. ex. dans le commerce, a surpris.",
        "M. Dupont est parti.",
    ]


def test_line_breaks_are_boundaries_and_blank_lines_start_paragraphs() -> None:
    text = "  First line\r\nsecond line. Third.\r\n\r\n\n  New paragraph.\t\n"
    segmentation = segment(text, "en")
    assert segmentation.texts() == ["First line", "second line.", "Third.", "New paragraph."]
    assert [sentence.paragraph for sentence in segmentation.sentences] == [0, 0, 0, 1]
    assert segmentation.gaps() == ["  ", "\r\n", " ", "\r\n\r\n\n  ", "\t\n"]
    assert segmentation.reassemble(["1", "2", "3", "4"]) == "  1\r\n2 3\r\n\r\n\n  4\t\n"


@pytest.mark.parametrize(
    "text",
    ["", "   ", "\n\n", "One.", "  One.  ", "One.\n", "\r\nOne.\rTwo.\n\nThree.  Four!\u2028Five?", "a\u00a0b. C d."],
)
def test_reassembling_the_sentences_themselves_gives_back_the_text(text: str) -> None:
    segmentation = segment(text, "en")
    assert segmentation.reassemble(segmentation.texts()) == text
    assert all(sentence.strip() == sentence and sentence for sentence in segmentation.texts())


def test_a_text_without_words_has_no_sentences_and_keeps_its_whitespace() -> None:
    segmentation = segment(" \r\n\t", "en")
    assert segmentation.sentences == ()
    assert segmentation.gaps() == [" \r\n\t"]
    assert segmentation.reassemble([]) == " \r\n\t"


def test_a_5000_character_text_of_about_40_sentences() -> None:
    story = "tells of Dr. Brown, who walked 3.5 km to the old mill by the river with his dog."
    sentences = [f"Sentence number {index} {story}" for index in range(40)]
    paragraphs = [" ".join(sentences[start : start + 8]) for start in range(0, 40, 8)]
    text = "\n\n".join(paragraphs) + "\n"
    assert 3900 < len(text) <= 5000
    segmentation = segment(text, "en")
    assert segmentation.texts() == sentences
    assert [sentence.paragraph for sentence in segmentation.sentences] == [index // 8 for index in range(40)]
    outputs = [f"<{index}>" for index in range(40)]
    expected = "\n\n".join(" ".join(outputs[start : start + 8]) for start in range(0, 40, 8)) + "\n"
    assert segmentation.reassemble(outputs) == expected


def test_reassembling_needs_one_output_per_sentence() -> None:
    with pytest.raises(ValueError, match="1 outputs for 2 sentences"):
        segment("One. Two.", "en").reassemble(["Eins."])


def test_czech_and_unknown_languages_are_split_too() -> None:
    assert segment("Muž jede na kole. Dva psi si hrají.", "cs").texts() == ["Muž jede na kole.", "Dva psi si hrají."]
    assert segment("One. Two.", "xx-YY").texts() == ["One.", "Two."]


def test_pieces_map_back_through_collapsed_whitespace_and_a_splitter_that_changed_characters_is_not_trusted() -> None:
    assert piece_spans("a  b.   c d.", ["a b.", "c d."]) == [(0, 5), (8, 12)]
    assert piece_spans(" a b. ", ["a b."]) == [(1, 5)]
    assert piece_spans("a b. c d.", ["a b.", "C d."]) == [(0, 9)]
    assert piece_spans("a b. c d.", ["a b."]) == [(0, 9)]
    assert piece_spans("   ", []) == []


def _words_at_most(count: int) -> Callable[[str], bool]:
    return lambda text: len(text.split()) <= count


def test_a_sentence_too_long_for_the_model_is_cut_after_clauses_and_nothing_is_left_out() -> None:
    clauses = [f"the {n}th dog runs" for n in range(12)]
    text = f"  Short first. Then {', '.join(clauses)} in the park.\n\nA child eats."
    fitted = fit(segment(text, "en"), _words_at_most(10))
    assert fitted.texts() == [
        "Short first.",
        "Then the 0th dog runs, the 1th dog runs,",  # 9 words: a third clause would make 13
        "the 2th dog runs, the 3th dog runs,",
        "the 4th dog runs, the 5th dog runs,",
        "the 6th dog runs, the 7th dog runs,",
        "the 8th dog runs, the 9th dog runs,",
        "the 10th dog runs,",  # the rest, 11 words, does not fit: cut at its only clause end
        "the 11th dog runs in the park.",
        "A child eats.",
    ]
    assert fitted.reassemble(fitted.texts()) == text
    assert [sentence.paragraph for sentence in fitted.sentences] == [0] * 8 + [1]


def test_without_clauses_or_spaces_a_part_is_cut_at_a_space_or_inside_the_word() -> None:
    assert fit(segment("one two three four five six seven", "en"), _words_at_most(3)).texts() == [
        "one two three", "four five six", "seven",
    ]  # fmt: skip
    word = "x" * 25
    fitted = fit(segment(word, "en"), lambda text: len(text) <= 10)
    assert fitted.texts() == ["x" * 10, "x" * 10, "x" * 5] and fitted.gaps() == ["", "", "", ""]
    assert fitted.reassemble(fitted.texts()) == word


def test_sentences_that_fit_are_left_as_they_are() -> None:
    text = "A man rides a bike. Two dogs play."
    assert fit(segment(text, "en"), _words_at_most(10)) == segment(text, "en")
