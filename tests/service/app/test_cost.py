"""The cost model's arithmetic over the tiny bundle's real tokenizer: what a text costs, how a request is cut
into batches, and the message of a request over the budget."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from service.app.cost import (
    STEP_COST_ROWS,
    DecodingLimitError,
    DecodingMeter,
    TextWork,
    TooMuchWorkError,
    check_budget,
    estimate_work,
    plan_batches,
    row_weight,
)
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
    rows_work = -(-4 * steps * (180 + pieces) // 180)  # each row-step weighs 1 + source pieces / 180, rounded up
    assert (estimate.row_steps, estimate.steps) == (rows_work, steps)
    assert estimate.total == rows_work + STEP_COST_ROWS * steps
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
    assert f"needs {estimate.total:,} work units" in message
    assert f"the limit is 100 per request, exceeded by {estimate.total - 100:,}" in message
    check_budget(estimate, estimate.total)  # exactly at the limit is allowed


def test_a_row_step_weighs_more_the_longer_the_source_it_reads() -> None:
    assert row_weight(0) == 1.0 and row_weight(180) == 2.0
    assert TextWork(4, 10, 18).row_steps == 44, "4 rows x 10 steps x 1.1"
    assert TextWork(1, 1, 1).row_steps == 2, "rounded up"
    assert TextWork(16, 257, 256).row_steps > 2.4 * TextWork(16, 257, 1).row_steps


def test_the_meter_counts_each_step_and_stops_before_the_step_that_would_pass_its_limit() -> None:
    meter = DecodingMeter(100)
    step = STEP_COST_ROWS + 4 * row_weight(180) + 1 * row_weight(0)  # 8 + 8 + 1
    assert meter.charge([(180, 4), (0, 1)]) and meter.used == step
    assert meter.charge([(180, 4), (0, 1)]) and meter.steps == 2
    for _ in range(3):
        assert meter.charge([(180, 4), (0, 1)])
    assert meter.used == 5 * step == 85
    assert not meter.charge([(180, 4), (0, 1)]), "85 + 17 would pass 100"
    assert meter.stopped and meter.used == 85 and meter.steps == 5, "the refused step is not counted"
    assert not meter.charge([(0, 1)]), "once stopped, a request stays stopped"
    error = meter.error()
    assert isinstance(error, DecodingLimitError) and isinstance(error, TooMuchWorkError)
    assert "stopped after 5 decoder steps and 85 work units" in str(error)
    assert "the limit of 100 per request" in str(error)
