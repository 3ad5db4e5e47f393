"""The in-process runtime timing that bounds what batching can gain."""

from __future__ import annotations

from pathlib import Path

from bench.report import render_markdown
from bench.runtime_only import RuntimeTiming, batching_gains, measure_runtime
from tests.bench.test_report import measured_run, report_for
from tests.tiny_corpus import PAIRS


def test_every_beam_and_batch_size_is_timed_over_all_sentences(tiny_bundle: Path) -> None:
    sentences = [source for source, _ in PAIRS[:10]]
    timings = measure_runtime(tiny_bundle, sentences, beams=(1, 3), batch_sizes=(1, 4))
    assert [(t.beam_size, t.batch_size) for t in timings] == [(1, 1), (1, 4), (3, 1), (3, 4)]
    assert all(t.sentences == 10 and t.seconds > 0 for t in timings)
    ratios = batching_gains(timings)
    assert [(r["beam_size"], r["batch_size"]) for r in ratios] == [(1, 4), (3, 4)]
    assert all(r["ratio"] > 0 for r in ratios)


def test_the_batching_gain_is_batch_one_over_each_larger_batch() -> None:
    timings = [RuntimeTiming(1, 1, 100, 0.4), RuntimeTiming(1, 16, 100, 0.1), RuntimeTiming(4, 16, 100, 0.2)]
    assert timings[0].ms_per_sentence == 4.0
    assert batching_gains(timings) == [{"beam_size": 1, "batch_size": 16, "ratio": 4.0}]  # beam 4 has no batch 1


def test_the_markdown_report_shows_the_runtime_alone() -> None:
    report = report_for(measured_run())
    assert "runtime alone" not in render_markdown(report)
    timings = [RuntimeTiming(1, 1, 64, 0.256), RuntimeTiming(1, 32, 64, 0.064)]
    report["runtime_only"] = {
        "sentences": 64,
        "timings": [t.to_json() for t in timings],
        "batching_gain": batching_gains(timings),
        "note": "in-process",
    }
    text = render_markdown(report)
    assert "## The runtime alone (no HTTP)" in text
    assert "| greedy | 1 | 4.00 | – |" in text and "| greedy | 32 | 1.00 | 4.00 |" in text
