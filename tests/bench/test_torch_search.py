"""The baseline's PyTorch search decodes exactly as heed's runtime does, on the same weights."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bench.torch_search import Decoding, beam_search, greedy_search
from tests.bench.conftest import probe_sentences

SENTENCES = probe_sentences()


def source_ids(eager: Any, text: str) -> list[int]:
    return [*eager.source_sp.encode(text), eager.model.config.eos_id]


def pieces(eager: Any, token_ids: list[int]) -> list[str]:
    return [eager.target_sp.id_to_piece(token) for token in token_ids]


def test_greedy_search_equals_the_runtimes(eager: Any, runtime_translator: Any) -> None:
    expected = runtime_translator.translate_batch(SENTENCES, beam_size=1)
    for text, translation in zip(SENTENCES, expected, strict=True):
        found = greedy_search(eager.model, source_ids(eager, text), eager.decoding)
        assert pieces(eager, found.token_ids) == translation.target_tokens, text
        assert found.score == pytest.approx(translation.score, abs=1e-4)
        np.testing.assert_allclose(found.attention.numpy(), translation.attention, atol=1e-5)


@pytest.mark.parametrize("beam_size", [2, 4])
def test_beam_search_equals_the_runtimes_every_finished_hypothesis(
    eager: Any, runtime_translator: Any, beam_size: int
) -> None:
    expected = runtime_translator.translate_batch(SENTENCES, beam_size=beam_size, n_best=beam_size)
    for text, translation in zip(SENTENCES, expected, strict=True):
        found = beam_search(eager.model, source_ids(eager, text), eager.decoding, beam_size)
        assert [pieces(eager, h.token_ids) for h in found] == [h.target_tokens for h in translation.n_best], text
        assert [h.score for h in found] == pytest.approx([h.score for h in translation.n_best], abs=1e-4)
        np.testing.assert_allclose(found[0].attention.numpy(), translation.attention, atol=1e-5)


def test_beam_of_one_is_greedy_search(eager: Any) -> None:
    for text in SENTENCES:
        ids = source_ids(eager, text)
        (beam,) = beam_search(eager.model, ids, eager.decoding, 1)
        assert beam.token_ids == greedy_search(eager.model, ids, eager.decoding).token_ids


@pytest.mark.parametrize("beam_size", [1, 4])
def test_the_length_limit_ends_hypotheses_as_the_runtime_does(
    eager: Any, runtime_translator: Any, beam_size: int
) -> None:
    at_most_two = Decoding(length_penalty=1.0, max_length_ratio=0.0, max_length_offset=2)
    expected = runtime_translator.translate_batch(SENTENCES, beam_size=beam_size, max_length=2)
    for text, translation in zip(SENTENCES, expected, strict=True):
        ids = source_ids(eager, text)
        if beam_size == 1:
            found = greedy_search(eager.model, ids, at_most_two)
        else:
            found = beam_search(eager.model, ids, at_most_two, beam_size)[0]
        assert len(found.token_ids) <= 3 and found.token_ids[-1] == eager.model.config.eos_id
        assert pieces(eager, found.token_ids) == translation.target_tokens, text


def test_the_maximum_length_follows_the_manifest_rule() -> None:
    decoding = Decoding(length_penalty=1.0, max_length_ratio=2.0, max_length_offset=10)
    assert decoding.max_length(8) == 26
    assert Decoding(max_length_ratio=1.5, max_length_offset=0).max_length(5) == 7  # int() of 7.5
    assert Decoding(max_length_ratio=0.0, max_length_offset=0).max_length(5) == 1
    assert decoding.max_length(10_000) == 1024


def test_the_baseline_translates_like_the_runtime(eager: Any, runtime_translator: Any) -> None:
    for beam_size in (1, 4):
        expected = runtime_translator.translate_batch(SENTENCES, beam_size=beam_size)
        for text, translation in zip(SENTENCES, expected, strict=True):
            item = eager.translate(text, beam_size, attention=True)
            assert item.text == translation.text
            assert item.source_tokens == translation.source_tokens
            assert item.target_tokens == translation.target_tokens
            assert np.asarray(item.attention).shape == translation.attention.shape
            assert eager.translate(text, beam_size, attention=False).attention is None
