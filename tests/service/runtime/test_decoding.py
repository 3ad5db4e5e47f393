"""Decoding over real ONNX Runtime sessions, checked against the PyTorch model the bundle came from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from model.data import pad
from service.runtime import Translation, Translator
from service.runtime.search import (
    MAX_PADDING_SHARE,
    _padded,
    _similar_lengths,
    beam_search,
    encode_batch,
    greedy_search,
)
from tests.service.runtime.conftest import parity_sentences, rewrite_manifest
from tests.tiny_corpus import PAIRS

TOLERANCE = 1e-4
MAX_LEN = 60


def torch_greedy(torch_model: Any, sentences: list[str], max_len: int) -> tuple[list[list[int]], list[np.ndarray]]:
    ids = [[*s, torch_model.model.config.eos_id] for s in torch_model.src_sp.encode(sentences)]
    lengths = torch.tensor([len(s) for s in ids])
    tokens, attention = torch_model.model.greedy_decode(pad(ids), lengths, max_len)
    return tokens, [a.numpy() for a in attention]


def target_ids(translator: Translator, tokens: list[str]) -> list[int]:
    return [int(translator.target_tokenizer.processor.piece_to_id(piece)) for piece in tokens]


def torch_teacher_forced(torch_model: Any, source: str, ids: list[int]) -> tuple[float, np.ndarray]:
    """Summed log-probability of ids (ending in EOS) and the attention PyTorch computes on the way."""
    config = torch_model.model.config
    src = torch.tensor([[*torch_model.src_sp.encode(source), config.eos_id]])
    tgt_in = torch.tensor([[config.bos_id, *ids[:-1]]])
    with torch.no_grad():
        logits, attention = torch_model.model(src, torch.tensor([src.size(1)]), tgt_in)
    log_probs = torch.log_softmax(logits[0], dim=-1)
    total = float(log_probs[torch.arange(len(ids)), torch.tensor(ids)].sum())
    return total, attention[0].numpy()


def test_greedy_matches_pytorch_on_many_sentences(translator: Translator, torch_model: Any) -> None:
    sentences = parity_sentences()
    expected_tokens, expected_attention = torch_greedy(torch_model, sentences, MAX_LEN)
    translations = translator.translate_batch(sentences, beam_size=1, max_length=MAX_LEN)
    for sentence, tokens, attention, translation in zip(
        sentences, expected_tokens, expected_attention, translations, strict=True
    ):
        ids = target_ids(translator, translation.target_tokens)
        assert ids == [*tokens, 3], sentence
        assert translation.text == torch_model.tgt_sp.decode(tokens)
        assert translation.attention.shape == attention.shape
        np.testing.assert_allclose(translation.attention, attention, atol=TOLERANCE, err_msg=sentence)


def test_the_tiny_corpus_is_reproduced(translator: Translator) -> None:
    for beam_size in (1, 4):
        texts = [t.text for t in translator.translate_batch([s for s, _ in PAIRS], beam_size=beam_size)]
        assert texts == [t for _, t in PAIRS]


def test_length_limit_counts_pieces_before_the_end_and_matches_pytorch(
    translator: Translator, torch_model: Any
) -> None:
    sentences = [s for s, _ in PAIRS[:6]]
    tokens, attention = torch_greedy(torch_model, sentences, 3)  # PyTorch stops after 3 steps, without EOS
    for beam_size in (1, 3):
        for translation, expected, rows in zip(
            translator.translate_batch(sentences, beam_size=beam_size, max_length=3), tokens, attention, strict=True
        ):
            assert len(translation.target_tokens) <= 4 and translation.target_tokens[-1] == "</s>"
            if beam_size == 1:
                assert target_ids(translator, translation.target_tokens)[:3] == expected[:3]
                np.testing.assert_allclose(translation.attention[:3], rows[:3], atol=TOLERANCE)


def test_default_length_limit_follows_the_manifest(bundle_copy: Path) -> None:
    def short_outputs(manifest: dict[str, Any]) -> None:
        manifest["decoding"].update(max_length_ratio=0.0, max_length_offset=2)

    rewrite_manifest(bundle_copy, short_outputs)  # manifest.json has no checksum of its own
    limited = Translator.load(bundle_copy)
    assert limited.max_output_length(30) == 2
    for beam_size in (1, 4):
        for translation in limited.translate_batch([s for s, _ in PAIRS[:5]], beam_size=beam_size):
            assert len(translation.target_tokens) <= 3
        [longer] = limited.translate_batch([PAIRS[0][0]], beam_size=beam_size, max_length=20)
        assert longer.text == PAIRS[0][1]


def test_encoding_in_calls_of_similar_lengths_equals_one_padded_call(translator: Translator) -> None:
    sentences = parity_sentences()
    sources = [[*translator.source_tokenizer.segment(s, 256).ids, 3] for s in sentences]
    assert len(_similar_lengths(np.array([len(ids) for ids in sources]))) > 1  # lengths vary enough to be split
    encoded = encode_batch(translator.encoder, sources, 0)
    whole = translator.encoder.run(*_padded(sources, 0))
    np.testing.assert_allclose(encoded.annotations, whole.annotations, atol=1e-5)
    np.testing.assert_allclose(encoded.keys, whole.keys, atol=1e-5)
    np.testing.assert_allclose(encoded.init_state, whole.init_state, atol=1e-5)
    assert np.array_equal(encoded.mask, np.arange(encoded.mask.shape[1])[None, :] < encoded.lengths[:, None])


@pytest.mark.parametrize(
    ("lengths", "groups"),
    [([5, 5, 5], [[0, 1, 2]]), ([10], [[0]]), ([30, 4, 29, 5], [[1, 3], [0, 2]]), ([4, 8, 16], [[0], [1], [2]])],
)
def test_rows_are_grouped_by_length_within_the_padding_share(lengths: list[int], groups: list[list[int]]) -> None:
    found = _similar_lengths(np.array(lengths))
    assert [group.tolist() for group in found] == groups
    for group in found:
        widths = [lengths[row] for row in group]
        assert 1.0 - sum(widths) / (len(widths) * max(widths)) <= MAX_PADDING_SHARE


def test_beam_one_is_greedy_exactly(translator: Translator) -> None:
    sentences = parity_sentences()
    sources = [[*translator.source_tokenizer.segment(s, 256).ids, 3] for s in sentences]
    encoded = encode_batch(translator.encoder, sources, 0)
    limits = [translator.max_output_length(len(ids)) for ids in sources]
    greedy = greedy_search(translator.decoder, encoded, translator.special, limits, 1.0)
    beam = beam_search(translator.decoder, encoded, translator.special, limits, 1.0, beam_size=1, n_best=1)
    for by_greedy, [by_beam] in zip(greedy, beam, strict=True):
        assert by_beam.token_ids == by_greedy.token_ids
        assert by_beam.log_prob == by_greedy.log_prob
        assert by_beam.score == by_greedy.score
        assert np.array_equal(by_beam.attention, by_greedy.attention)


@pytest.mark.parametrize("beam_size", [2, 5, 12])
def test_beam_attention_is_what_forced_decoding_of_the_output_gives(translator: Translator, beam_size: int) -> None:
    sentences = parity_sentences()[:40]
    translations = translator.translate_batch(sentences, beam_size=beam_size, n_best=beam_size)
    reordered = 0
    for sentence, translation in zip(sentences, translations, strict=True):
        hypotheses = translation.n_best
        forced = translator.force_decode_pieces(
            [sentence] * len(hypotheses), [h.target_tokens[:-1] for h in hypotheses]
        )
        for hypothesis, check in zip(hypotheses, forced, strict=True):
            assert check.target_tokens == hypothesis.target_tokens
            np.testing.assert_allclose(hypothesis.attention, check.attention, atol=TOLERANCE, err_msg=sentence)
            assert hypothesis.score == pytest.approx(check.score, abs=TOLERANCE)
        best_first_steps = hypotheses[0].attention[:2]
        reordered += any(
            h.target_tokens[:2] != hypotheses[0].target_tokens[:2]
            and not np.allclose(h.attention[:2], best_first_steps)
            for h in hypotheses[1:]
        )
    assert reordered > 0, "no sentence had hypotheses from different beam histories; the check would be vacuous"


def test_beam_output_scores_and_attention_agree_with_pytorch(translator: Translator, torch_model: Any) -> None:
    sentences = parity_sentences()[20:35]
    translations = translator.translate_batch(sentences, beam_size=4, n_best=4)
    for sentence, translation in zip(sentences, translations, strict=True):
        for hypothesis in translation.n_best:
            ids = target_ids(translator, hypothesis.target_tokens)
            total, attention = torch_teacher_forced(torch_model, sentence, ids)
            assert hypothesis.score == pytest.approx(total / len(ids), abs=TOLERANCE)
            np.testing.assert_allclose(hypothesis.attention, attention, atol=TOLERANCE)


@pytest.mark.parametrize(("beam_size", "n_best"), [(1, 1), (3, 1), (4, 3), (8, 8), (16, 16)])
def test_n_best_count_and_order(translator: Translator, beam_size: int, n_best: int) -> None:
    translations = translator.translate_batch(parity_sentences()[:12], beam_size=beam_size, n_best=n_best)
    for translation in translations:
        scores = [h.score for h in translation.n_best]
        assert len(translation.n_best) == n_best
        assert scores == sorted(scores, reverse=True)
        assert len({tuple(h.target_tokens) for h in translation.n_best}) == n_best  # distinct hypotheses
        best = translation.n_best[0]
        assert (translation.text, translation.score, translation.target_tokens) == (
            best.text,
            best.score,
            best.target_tokens,
        )
        assert np.array_equal(translation.attention, best.attention)


def test_length_penalty_normalizes_by_length_including_the_end(translator: Translator, torch_model: Any) -> None:
    [translation] = translator.translate_batch([PAIRS[0][0]], beam_size=2)
    ids = target_ids(translator, translation.target_tokens)
    total, _ = torch_teacher_forced(torch_model, PAIRS[0][0], ids)
    assert translator.length_penalty == 1.0
    assert translation.score == pytest.approx(total / len(ids), abs=TOLERANCE)


def test_force_decode_of_a_given_translation_matches_pytorch(translator: Translator, torch_model: Any) -> None:
    sources, targets = [s for s, _ in PAIRS[:8]], [t for _, t in reversed(PAIRS[:8])]  # mostly wrong targets
    for source, target, forced in zip(sources, targets, translator.force_decode(sources, targets), strict=True):
        ids = [*torch_model.tgt_sp.encode(target), 3]
        assert target_ids(translator, forced.target_tokens) == ids
        total, attention = torch_teacher_forced(torch_model, source, ids)
        assert forced.score == pytest.approx(total / len(ids), abs=TOLERANCE)
        np.testing.assert_allclose(forced.attention, attention, atol=TOLERANCE)
        assert forced.text == target and forced.target_words == target.split()
        check_links(forced)


def test_force_decode_prefers_the_right_translation(translator: Translator) -> None:
    source = PAIRS[1][0]
    right, wrong = translator.force_decode([source, source], [PAIRS[1][1], PAIRS[5][1]])
    assert right.score > wrong.score


def test_translation_invariants(translator: Translator) -> None:
    for translation in translator.translate_batch(parity_sentences(), beam_size=3, n_best=2):
        check_invariants(translation)


def check_invariants(translation: Translation) -> None:
    assert translation.source_tokens[-1] == "</s>" and translation.target_tokens[-1] == "</s>"
    assert translation.attention.dtype == np.float32
    assert translation.attention.shape == (len(translation.target_tokens), len(translation.source_tokens))
    np.testing.assert_allclose(translation.attention.sum(axis=1), 1.0, atol=1e-5)
    assert translation.target_words == translation.text.split()
    check_links(translation)
    for hypothesis in translation.n_best:
        assert hypothesis.attention.shape == (len(hypothesis.target_tokens), len(translation.source_tokens))
        np.testing.assert_allclose(hypothesis.attention.sum(axis=1), 1.0, atol=1e-5)


def check_links(translation: Translation) -> None:
    """Distinct links between existing words, in target then source order (which links: test_alignment.py)."""
    links = [tuple(map(int, link.split("-"))) for link in translation.alignment.split()]
    assert links == sorted(set(links), key=lambda link: (link[1], link[0]))
    assert all(0 <= i < len(translation.source_words) and 0 <= j < len(translation.target_words) for i, j in links)
    assert bool(links) == bool(translation.source_words and translation.target_words)
