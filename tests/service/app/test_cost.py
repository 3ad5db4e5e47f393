"""The cost model's arithmetic over the tiny bundle's real tokenizer: what a text costs, how a request is cut
into batches, and the message of a request over the budget."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from service.app.batching import BatchingScheduler, DecodeOptions, WorkLimits
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
    slicing_order,
)
from service.app.metrics import Metrics
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
    assert (estimate.rows_work, estimate.steps) == (rows_work, steps)
    assert estimate.total == rows_work + STEP_COST_ROWS * steps
    assert estimate_work(translator, [text], 4, None, 5).steps == 6, "the cap bounds the automatic limit"
    assert estimate_work(translator, [text], 4, 300, 5).steps == 301, "an explicit max_length is the limit"


def test_a_source_counts_only_the_pieces_the_model_reads(translator: Any) -> None:
    huge = " ".join(str(number) for number in range(2000))
    assert estimate_work(translator, [huge], 1, None, 10_000).steps == 2 * 257 + 10 + 1


def test_light_requests_are_cut_by_sentences_and_heavy_ones_into_slices() -> None:
    assert plan_batches([10] * 5, None, 2) == [[0, 1], [2, 3], [4]]
    assert plan_batches([10] * 5, 100, 2) == [[0, 1], [2, 3], [4]], "within one slice"
    assert plan_batches([60, 50, 30, 70, 10], 100, 32) == [[4, 2, 1], [0], [3]], "first fit, cheapest first"
    assert plan_batches([500, 20], 100, 32) == [[1], [0]], "a text over the slice is a slice of its own"
    assert plan_batches([60, 50, 30], 200, 32, light_work=100) == [[2, 1, 0]], "heavy: one slice of 200"
    assert plan_batches([60, 50, 30], 100, 32, light_work=200) == [[0, 1, 2]], "light: batches, in order"
    assert plan_batches([60, 50, 30, 70], 150, 32, light_work=100) == [[2, 1, 0], [3]]
    assert slicing_order([50, 50, 10, 50]) == [2, 0, 1, 3], "equal costs keep their request order"


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
    assert TextWork(4, 10, 18).rows_work == 44, "4 rows x 10 steps x 1.1"
    assert TextWork(1, 1, 1).rows_work == 2, "rounded up"
    assert TextWork(16, 257, 256).rows_work > 2.4 * TextWork(16, 257, 1).rows_work


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


def test_the_scheduler_decodes_a_heavy_request_in_the_slices_the_estimate_priced(
    translator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The estimate's step charges (and so the meter's bound) assume the scheduler slices as plan_batches does:
    cheapest texts first, first fit. The real scheduler over the real tiny translator, its calls recorded."""
    texts = [PAIRS[5][0], PAIRS[0][0] + " " + PAIRS[1][0], PAIRS[2][0], "A dog.", PAIRS[3][0] * 2, PAIRS[4][0]]
    limits = WorkLimits(length_cap=60, request_work=10**6, slice_work=1_500, light_work=500)
    estimate = limits.estimate(translator, texts, 4, None, 32)
    assert len(estimate.batches) > 2 and estimate.batches[0] != sorted(estimate.batches[0])
    calls: list[list[str]] = []
    real = translator.translate_batch

    def recorded(batch: list[str], **options: Any) -> Any:
        calls.append(list(batch))
        return real(batch, **options)

    monkeypatch.setattr(translator, "translate_batch", recorded)

    async def translate() -> list[Any]:
        scheduler = BatchingScheduler(Metrics(), capacity=64, workers=2, max_batch_size=32, window_seconds=0.0,
                                      limits=limits)  # fmt: skip
        await scheduler.start()
        try:
            return await scheduler.translate(translator, texts, DecodeOptions(beam_size=4))
        finally:
            await scheduler.stop()

    translations = asyncio.run(translate())
    assert calls == [[texts[index] for index in batch] for batch in estimate.batches]
    assert [t.source for t in translations] == texts, "answers in request order"
