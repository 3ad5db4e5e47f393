"""The in-process runtime timing that bounds what batching can gain."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.report import render_markdown
from bench.runtime_only import RUNTIME_PARTS, RuntimeTiming, batching_gains, graph_clocks, measure_runtime
from service.runtime import Translator
from tests.bench.test_report import measured_run, report_for
from tests.tiny_corpus import PAIRS


def test_every_beam_and_batch_size_is_timed_over_all_sentences(tiny_bundle: Path) -> None:
    sentences = [source for source, _ in PAIRS[:10]]
    timings = measure_runtime(tiny_bundle, sentences, beams=(1, 3), batch_sizes=(1, 4))
    assert [(t.beam_size, t.batch_size) for t in timings] == [(1, 1), (1, 4), (3, 1), (3, 4)]
    assert all(t.sentences == 10 and t.seconds > 0 for t in timings)
    for timing in timings:
        parts = timing.parts_ms_per_sentence()
        assert list(parts) == list(RUNTIME_PARTS)
        assert all(parts[name] > 0 for name in RUNTIME_PARTS), parts  # both graphs ran, and Python around them
        assert sum(parts.values()) == pytest.approx(timing.ms_per_sentence)
    ratios = batching_gains(timings)
    assert [(r["beam_size"], r["batch_size"]) for r in ratios] == [(1, 4), (3, 4)]
    assert all(r["ratio"] > 0 and set(r["parts"]) == set(RUNTIME_PARTS) for r in ratios)


def test_the_graph_clocks_count_every_run_and_then_come_off(tiny_bundle: Path) -> None:
    translator = Translator.load(tiny_bundle)
    sentences = [source for source, _ in PAIRS[:3]]
    with graph_clocks(translator) as totals:
        translator.translate_batch(sentences, beam_size=1)
        after_one = dict(totals)
        translator.translate_batch(sentences, beam_size=1)
    assert after_one["encoder"] > 0 and after_one["decoder"] > 0
    assert totals["encoder"] > after_one["encoder"] and totals["decoder"] > after_one["decoder"]
    assert "run" not in vars(translator.encoder) and "run" not in vars(translator.decoder)
    closed = dict(totals)
    translator.translate_batch(sentences, beam_size=1)
    assert totals == closed  # no longer counting


def timing(beam: int, batch: int, seconds: float, encoder: float, decoder: float) -> RuntimeTiming:
    return RuntimeTiming(beam, batch, 100, seconds, {"encoder": encoder, "decoder": decoder})


def test_the_batching_gain_is_batch_one_over_each_larger_batch_in_all_and_per_part() -> None:
    timings = [timing(1, 1, 0.4, 0.05, 0.25), timing(1, 16, 0.1, 0.05, 0.025), timing(4, 16, 0.2, 0.05, 0.1)]
    assert timings[0].ms_per_sentence == 4.0
    assert timings[0].parts_ms_per_sentence() == pytest.approx({"encoder": 0.5, "decoder": 2.5, "python": 1.0})
    [gain] = batching_gains(timings)  # beam 4 has no batch 1
    assert (gain["beam_size"], gain["batch_size"], gain["ratio"]) == (1, 16, 4.0)
    assert gain["parts"] == pytest.approx({"encoder": 1.0, "decoder": 10.0, "python": 4.0})


def test_the_markdown_report_shows_the_runtime_alone() -> None:
    report = report_for(measured_run())
    assert "runtime alone" not in render_markdown(report)
    timings = [
        RuntimeTiming(1, 1, 64, 0.256, {"encoder": 0.064, "decoder": 0.128}),
        RuntimeTiming(1, 32, 64, 0.064, {"encoder": 0.032, "decoder": 0.016}),
    ]
    report["runtime_only"] = {
        "sentences": 64,
        "timings": [t.to_json() for t in timings],
        "batching_gain": batching_gains(timings),
        "note": "in-process",
    }
    text = render_markdown(report)
    assert "## The runtime alone (no HTTP)" in text
    assert "| greedy | 1 | 4.00 | 1.00 | 2.00 | 1.00 | – | – | – | – |" in text
    assert "| greedy | 32 | 1.00 | 0.50 | 0.25 | 0.25 | 4.00 | 2.00 | 8.00 | 4.00 |" in text
