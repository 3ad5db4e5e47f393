"""Odd input, bad options and concurrent callers: clear errors or sound translations, never a crash."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from service.runtime import MAX_SOURCE_PIECES, Translator
from tests.service.runtime.conftest import parity_sentences
from tests.service.runtime.test_decoding import check_invariants
from tests.tiny_corpus import PAIRS

ODD_TEXTS = [
    "A man\x00 is\x07 riding\ta bike.\r\n",  # control characters
    "😀 A man is riding a bike 🚲🏳️‍🌈",  # emoji, with a ZWJ sequence
    "Ａ ｍａｎ ｉｓ ｒｉｄｉｎｇ",  # fullwidth forms, NFKC-normalized by SentencePiece
    "A\u200bman\u00a0is\u2028riding",  # zero-width space, no-break space, line separator
    "e\u0301te\u0301 שלום مرحبا 你好",  # combining accents, right-to-left scripts, CJK
    "broken \ud800 surrogate \udfff",  # lone surrogates, as a lenient JSON decoder can produce
    "\ufeffbyte order mark and \ue000 private use",
    "The dog, (quickly)! «really?» — yes…",
]


@pytest.mark.parametrize("text", ODD_TEXTS)
@pytest.mark.parametrize("beam_size", [1, 4])
def test_odd_input_translates_soundly(translator: Translator, text: str, beam_size: int) -> None:
    [translation] = translator.translate_batch([text], beam_size=beam_size, n_best=beam_size)
    check_invariants(translation)
    assert translation.source == text
    assert len(translation.source_tokens) > 1
    assert not translation.truncated


def test_control_characters_separate_words_like_spaces(translator: Translator) -> None:
    [translation] = translator.translate_batch(["A man\x00is\triding\na bike."])
    assert translation.source_words == ["A", "man", "is", "riding", "a", "bike."]


def test_source_words_are_the_whitespace_words_of_the_input(translator: Translator) -> None:
    text = "The dog, (quickly)!  «really?»\u00a0yes"
    [translation] = translator.translate_batch([text])
    assert translation.source_words == text.split()


@pytest.mark.parametrize("text", ["\x00", "\x00\x01\x07", "\x1b\x7f\x9f"])
def test_text_with_nothing_left_after_cleaning_translates_to_nothing(translator: Translator, text: str) -> None:
    [translation] = translator.translate_batch([text], beam_size=4, n_best=2)
    assert (translation.text, translation.score, translation.alignment) == ("", 0.0, "")
    assert translation.source_tokens == ["</s>"] and translation.target_tokens == ["</s>"]
    assert translation.attention.tolist() == [[1.0]]
    assert [h.text for h in translation.n_best] == [""]


def test_a_very_long_input_is_cut_at_the_piece_cap_and_flagged(translator: Translator) -> None:
    words = [w for s, _ in PAIRS for w in s.split()]
    text = " ".join(words * 20)
    [translation] = translator.translate_batch([text], beam_size=2)
    check_invariants(translation)
    assert translation.truncated
    assert len(translation.source_tokens) == MAX_SOURCE_PIECES + 1
    assert translator.count_source_tokens(text) > MAX_SOURCE_PIECES + 1
    assert 0 < len(translation.source_words) < len(text.split())
    assert translation.source_words == text.split()[: len(translation.source_words)]


def test_a_huge_unbroken_input_is_cut_too(translator: Translator) -> None:
    [translation] = translator.translate_batch(["x" * 200_000], beam_size=1)
    assert translation.truncated and len(translation.source_tokens) == MAX_SOURCE_PIECES + 1
    assert translation.source_words == ["x" * 200_000]


def test_count_source_tokens_counts_source_tokens(translator: Translator) -> None:
    for text in parity_sentences()[:10]:
        [translation] = translator.translate_batch([text], beam_size=1)
        assert translator.count_source_tokens(text) == len(translation.source_tokens)


@pytest.mark.parametrize("text", ["", " ", "\t\n", "\u3000\u2003"])
def test_empty_or_whitespace_text_is_a_value_error(translator: Translator, text: str) -> None:
    with pytest.raises(ValueError, match="text 1 is empty"):
        translator.translate_batch(["A man.", text])
    with pytest.raises(ValueError, match="target 0 is empty"):
        translator.force_decode(["A man."], [text])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"beam_size": 0}, "beam_size must be an integer from 1 to 16, got 0"),
        ({"beam_size": 17}, "beam_size must be an integer from 1 to 16, got 17"),
        ({"beam_size": True}, "beam_size must be an integer"),
        ({"beam_size": 4, "n_best": 5}, "n_best must be an integer from 1 to 4, got 5"),
        ({"n_best": 0}, "n_best must be an integer from 1 to 4, got 0"),
        ({"max_length": 0}, "max_length must be an integer from 1 to 1024, got 0"),
        ({"max_length": 5000}, "max_length must be an integer from 1 to 1024, got 5000"),
    ],
)
def test_bad_options_are_value_errors(translator: Translator, options: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        translator.translate_batch(["A man."], **options)


def test_bad_argument_types_are_type_errors(translator: Translator) -> None:
    with pytest.raises(TypeError, match="single string"):
        translator.translate_batch("A man is riding a bike.")
    with pytest.raises(TypeError, match="text 1 is a int"):
        translator.translate_batch(["A man.", 3])  # type: ignore[list-item]


def test_no_texts_means_no_translations(translator: Translator) -> None:
    assert translator.translate_batch([]) == []
    assert translator.force_decode([], []) == []


def test_force_decode_needs_matching_lists_and_real_pieces(translator: Translator) -> None:
    with pytest.raises(ValueError, match="2 sources but 1 targets"):
        translator.force_decode(["A man.", "A dog."], ["Ein Mann."])
    with pytest.raises(ValueError, match="'▁Zebrastreifen' is not a piece of the target vocabulary"):
        translator.force_decode_pieces(["A man."], [["▁Ein", "▁Zebrastreifen"]])


def test_force_decode_of_an_empty_target_scores_the_end_alone(translator: Translator) -> None:
    [forced] = translator.force_decode_pieces(["A man is riding a bike."], [[]])
    assert forced.target_tokens == ["</s>"] and forced.text == "" and forced.alignment == ""
    assert forced.attention.shape == (1, len(forced.source_tokens))
    assert forced.score < 0


def test_batches_larger_than_one_decoder_batch_keep_their_order(tiny_bundle: Path) -> None:
    small = Translator.load(tiny_bundle, max_batch_rows=8)  # 8 sentences per greedy batch, 2 per beam-4 batch
    sentences = parity_sentences()
    one_by_one = [small.translate_batch([s], beam_size=1)[0].text for s in sentences]
    assert [t.text for t in small.translate_batch(sentences, beam_size=1)] == one_by_one
    assert [t.source for t in small.translate_batch(sentences, beam_size=4)] == sentences


def test_concurrent_callers_get_the_same_results_as_sequential_ones(translator: Translator) -> None:
    sentences = parity_sentences()
    jobs = [(sentences[i::4], 1 + i % 3) for i in range(8)]
    sequential = [translator.translate_batch(texts, beam_size=beam) for texts, beam in jobs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(lambda job: translator.translate_batch(job[0], beam_size=job[1]), jobs))
    for alone, together in zip(sequential, concurrent, strict=True):
        assert [t.text for t in alone] == [t.text for t in together]
        for a, b in zip(alone, together, strict=True):
            np.testing.assert_allclose(a.attention, b.attention, atol=1e-5)
