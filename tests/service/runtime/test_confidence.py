"""A translation's confidence: mean log-probability per piece and normalized attention entropy."""

from __future__ import annotations

import math

import numpy as np
import pytest

from service.runtime import Translator
from service.runtime.confidence import Confidence, confidence
from tests.tiny_corpus import PAIRS


def test_confidence_of_a_hand_made_hypothesis() -> None:
    attention = np.array(
        [
            [1.0, 0.0, 0.0],  # entropy 0
            [0.5, 0.5, 0.0],  # entropy ln 2
            [1 / 3, 1 / 3, 1 / 3],  # the </s> row: left out
        ],
        dtype=np.float32,
    )
    result = confidence(-3.0, attention)
    assert result.mean_log_prob == -1.0
    assert result.attention_entropy == pytest.approx(math.log(2) / 2 / math.log(3), abs=1e-6)


def test_even_attention_is_entropy_one_and_nothing_to_spread_over_is_zero() -> None:
    even = np.full((3, 4), 0.25, dtype=np.float32)
    assert confidence(-1.5, even).attention_entropy == pytest.approx(1.0, abs=1e-6)
    assert confidence(-0.5, np.ones((3, 1), dtype=np.float32)) == Confidence(-0.5 / 3, 0.0)
    assert confidence(-0.2, np.array([[0.5, 0.5]], dtype=np.float32)) == Confidence(-0.2, 0.0)  # only </s>


def test_a_translation_carries_its_unpenalized_mean_log_probability(translator: Translator) -> None:
    penalty = translator.length_penalty
    for translation in translator.translate_batch([source for source, _ in PAIRS[:6]], beam_size=2):
        pieces = len(translation.target_tokens)
        assert translation.confidence.mean_log_prob == pytest.approx(
            translation.score * pieces**penalty / pieces, abs=1e-6
        )
        assert translation.confidence == confidence(translation.score * pieces**penalty, translation.attention)
        assert 0.0 <= translation.confidence.attention_entropy <= 1.0


def test_the_right_translation_is_more_confident_than_a_wrong_one(translator: Translator) -> None:
    source = PAIRS[1][0]
    right, wrong = translator.force_decode([source, source], [PAIRS[1][1], PAIRS[5][1]])
    assert right.confidence.mean_log_prob > wrong.confidence.mean_log_prob


def test_an_empty_translation_has_nothing_to_distrust(translator: Translator) -> None:
    [empty] = translator.translate_batch(["\x00\x07"])
    assert empty.confidence == Confidence(0.0, 0.0)
