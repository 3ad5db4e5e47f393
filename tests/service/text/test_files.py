"""Text files cut into pieces: everything but the translated text comes back byte for byte."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.text.files import Piece, assemble, cut, texts_to_translate, translate_file_text

SRT = (
    "\ufeff1\r\n00:00:01,000 --> 00:00:02,500\r\n<i>A man is riding a bike.</i>\r\n\r\n"
    "2\r\n00:00:03,000 --> 00:00:04,000 X1:40 X2:600\r\n- Two dogs are playing\r\nin the snow.\r\n\r\n"
    '3\r\n00:00:05,000 --> 00:00:06,000\r\n{\\an8}<font color="#ffff00">A woman is reading a book.</font>\r\n'
)
VTT = (
    "WEBVTT - a title\n\nNOTE a note that\nspans two lines\n\nSTYLE\n::cue { color: yellow }\n\n"
    "intro\n00:01.000 --> 00:02.000 align:start position:10%\n<v Roger>A man is riding a bike.\n\n"
    "00:02.000 --> 00:03.000\n\n"  # a cue without text stays as it is
    "00:03.000 --> 00:04.000\nTwo dogs are playing\nin the snow."
)


def upper(texts: list[str]) -> list[str]:
    return [text.upper() for text in texts]


def test_subrip_keeps_the_bom_numbers_timings_tags_and_crlf() -> None:
    assert translate_file_text(SRT, ".srt", upper) == (
        "\ufeff1\r\n00:00:01,000 --> 00:00:02,500\r\n<i>A MAN IS RIDING A BIKE.</i>\r\n\r\n"
        "2\r\n00:00:03,000 --> 00:00:04,000 X1:40 X2:600\r\n- TWO DOGS ARE PLAYING IN THE SNOW.\r\n\r\n"
        '3\r\n00:00:05,000 --> 00:00:06,000\r\n{\\an8}<font color="#ffff00">A WOMAN IS READING A BOOK.</font>\r\n'
    )


def test_a_cues_lines_are_translated_together() -> None:
    assert texts_to_translate(cut(SRT, ".srt")) == [
        "A man is riding a bike.", "- Two dogs are playing in the snow.", "A woman is reading a book.",
    ]  # fmt: skip


def test_webvtt_keeps_its_header_notes_styles_identifiers_and_cue_settings() -> None:
    translated = translate_file_text(VTT, ".vtt", upper)
    assert translated == VTT.replace("A man is riding a bike.", "A MAN IS RIDING A BIKE.").replace(
        "Two dogs are playing\nin the snow.", "TWO DOGS ARE PLAYING IN THE SNOW."
    )


def test_plain_text_is_translated_line_by_line_keeping_whitespace() -> None:
    text = "  A dog runs.\n\n\tTwo cats sleep.  \r\n\u3000\nlast"
    assert texts_to_translate(cut(text, ".txt")) == ["A dog runs.", "Two cats sleep.", "last"]
    assert translate_file_text(text, ".txt", upper) == "  A DOG RUNS.\n\n\tTWO CATS SLEEP.  \r\n\u3000\nLAST"


def test_a_wrong_number_of_translations_is_refused() -> None:
    pieces = cut("One.\nTwo.\n", ".txt")
    with pytest.raises(ValueError, match="1 translations for 2 pieces"):
        assemble(pieces, ["Eins."])


_LINE = st.text(st.sampled_from(list("ab <>{}/-:,.0123456789\t\u2028\x0c")), max_size=12)
_ENDING = st.sampled_from(["\n", "\r\n", "\r"])
_FILE = st.lists(st.tuples(_LINE, _ENDING), max_size=30).map(lambda lines: "".join(a + b for a, b in lines))


@pytest.mark.parametrize("extension", [".txt", ".srt", ".vtt"])
@given(text=st.sampled_from(["", "\ufeff"]).flatmap(lambda bom: _FILE.map(lambda body: bom + body)))
def test_any_file_comes_back_byte_for_byte_when_nothing_changes(extension: str, text: str) -> None:
    pieces = cut(text, extension)
    assert "".join(piece.text for piece in pieces) == text
    assert all(piece.text for piece in pieces)
    assert assemble(pieces, [piece.text for piece in pieces if piece.translate]) == text


# A line holding "-->" is a timing line, never a cue's text.
_CUE_TEXT = st.text(st.sampled_from(list("ab <>{}/-,.")), min_size=1, max_size=20).filter(
    lambda t: t.strip() and "-->" not in t
)


@given(cues=st.lists(st.tuples(st.integers(0, 10**6), st.lists(_CUE_TEXT, min_size=1, max_size=3), _ENDING),
                     min_size=1, max_size=10))  # fmt: skip
def test_subtitle_numbers_and_timings_survive_any_translation(cues: list[tuple[int, list[str], str]]) -> None:
    heads = [f"{number}{end}00:00:{number % 60:02},000 --> 00:01:00,000{end}" for number, _, end in cues]
    text = "".join(head + end.join(lines) + end + end for head, (_, lines, end) in zip(heads, cues, strict=True))
    translated = translate_file_text(text, ".srt", lambda texts: ["Übersetzt." for _ in texts])
    for head in heads:
        assert head in translated
    assert translated.count("-->") == len(cues)


def test_pieces_to_translate_hold_no_surrounding_whitespace() -> None:
    for piece in cut(SRT + VTT, ".srt"):
        if piece.translate:
            assert piece == Piece(piece.text.strip(), translate=True)
