"""The cost model's arithmetic over the tiny bundle's real tokenizer: what a text costs, how a request is cut
into batches, and the message of a request over the budget."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from service.app.cost import STEP_COST_ROWS, TooMuchWorkError, check_budget, estimate_work, plan_batches
from service.runtime import Translator
from tests.tiny_corpus import PAIRS


@pytest.fixture(scope="module")
def translator(tiny_bundle: Path) -> Translator:
    return Translator.load(tiny_bundle)


def test_a_text_costs_beam_rows_for_its_output_limit_plus_one_steps(translator: Any) -> None:
    text = PAIRS[0][0]
    pieces = translator.count_source_tokens(text)
    estimate = estimate_work(translator, [text], 4, None, 256)
    steps = 2 * pieces + 10 + 1  # the manifest's rule, then "</s>"
    assert (estimate.row_steps, estimate.steps) == (4 * steps, steps)
    assert estimate.total == (4 + STEP_COST_ROWS) * steps
    assert estimate_work(translator, [text], 4, None, 5).steps == 6, "the cap bounds the automatic limit"
    assert estimate_work(translator, [text], 4, 300, 5).steps == 301, "an explicit max_length is the limit"


def test_a_source_counts_only_the_pieces_the_model_reads(translator: Any) -> None:
    huge = " ".join(str(number) for number in range(2000))
    assert estimate_work(translator, [huge], 1, None, 10_000).steps == 2 * 257 + 10 + 1


def test_light_requests_are_cut_by_sentences_and_heavy_ones_into_slices() -> None:
    assert plan_batches([10] * 5, None, 2) == [[0, 1], [2, 3], [4]]
    assert plan_batches([10] * 5, 100, 2) == [[0, 1], [2, 3], [4]], "within one slice"
    assert plan_batches([60, 50, 30, 70, 10], 100, 32) == [[0, 2, 4], [1], [3]], "first fit, in order"
    assert plan_batches([500, 20], 100, 32) == [[0], [1]], "a text over the slice is a slice of its own"
    assert plan_batches([60, 50, 30], 200, 32, light_work=100) == [[0, 1, 2]], "heavy: one slice of 200"
    assert plan_batches([60, 50, 30], 100, 32, light_work=200) == [[0, 1, 2]], "light: batches, not slices"
    assert plan_batches([60, 50, 30, 70], 150, 32, light_work=100) == [[0, 1, 2], [3]]


def test_the_refusal_names_the_need_the_limit_and_the_excess(translator: Any) -> None:
    estimate = estimate_work(translator, [PAIRS[0][0]] * 3, 16, None, 256)
    with pytest.raises(TooMuchWorkError) as refused:
        check_budget(estimate, 100)
    message = str(refused.value)
    assert f"needs {estimate.total:,} decoder row-steps" in message
    assert f"the limit is 100 per request, exceeded by {estimate.total - 100:,}" in message
    check_budget(estimate, estimate.total)  # exactly at the limit is allowed
