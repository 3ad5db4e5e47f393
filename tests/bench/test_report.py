"""Percentiles, the metrics reader, ratios, target checks and the written reports."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from bench.promtext import HistogramTotals, histogram_totals
from bench.report import (
    HEED,
    HEED_UNBATCHED,
    PYTORCH,
    Scenario,
    Target,
    check_targets,
    ratios,
    render_markdown,
    write_reports,
)
from bench.stats import LatencySummary, percentile, rounded


def test_percentiles_interpolate_like_numpy() -> None:
    values = [random.Random(7).expovariate(1.0) for _ in range(501)]
    for q in (0, 1, 50, 95, 99, 99.9, 100):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert percentile([5.0], 99) == 5.0
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_latency_summary_is_in_milliseconds_and_empty_is_null() -> None:
    summary = LatencySummary.of([0.010, 0.020, 0.030])
    assert (summary.p50, summary.mean, summary.max) == pytest.approx((20.0, 20.0, 30.0))
    assert LatencySummary.of([]).to_json() == {"p50": None, "p95": None, "p99": None, "mean": None, "max": None}


def exposition(observations: dict[str, list[float]]) -> str:
    registry = CollectorRegistry()
    histogram = Histogram("heed_batch_size", "Sentences per batch.", ["model"], registry=registry, buckets=(1, 8, 64))
    for model, values in observations.items():
        for value in values:
            histogram.labels(model=model).observe(value)
    return generate_latest(registry).decode()


def test_the_batch_size_histogram_is_read_per_model_and_differenced() -> None:
    before = histogram_totals(exposition({"en-de": [1, 3], "en-fr": [50]}), "heed_batch_size", {"model": "en-de"})
    assert before == HistogramTotals(total=4.0, count=2.0)
    after = histogram_totals(
        exposition({"en-de": [1, 3, 8, 8, 2], "en-fr": [50, 50]}), "heed_batch_size", {"model": "en-de"}
    )
    assert after.minus(before).mean == 6.0
    assert histogram_totals(exposition({"en-de": [1], "en-fr": [5]}), "heed_batch_size").mean == 3.0
    assert histogram_totals("", "heed_batch_size").mean is None


def scenario(system: str, beam_size: int, clients: int, requests: int, **extra: Any) -> Scenario:
    fields: dict[str, Any] = {
        "window_seconds": 10.0, "errors": 0, "target_words": requests * 12, "target_tokens": requests * 15,
        "latency": LatencySummary.of([0.010] * 98 + [0.040, 0.060]),
    }  # fmt: skip
    return Scenario(system, beam_size, clients, requests=requests, **{**fields, **extra})


def measured_run() -> list[Scenario]:
    return [
        scenario(HEED, 1, 32, 2000),  # 200 sentences/s, 2,400 words/s
        scenario(HEED_UNBATCHED, 1, 32, 400),  # batched ÷ unbatched 5x
        scenario(PYTORCH, 1, 32, 1000),  # heed ÷ PyTorch 2x
        scenario(HEED, 4, 32, 1000),
        scenario(HEED_UNBATCHED, 4, 32, 250),  # exactly 4x: passes
        scenario(PYTORCH, 4, 32, 250),
        scenario(HEED, 1, 1, 300),
        scenario(PYTORCH, 1, 1, 100),
        scenario(HEED, 4, 1, 150),  # p50 10 ms, p99 about 40 ms
        scenario(PYTORCH, 4, 1, 150),  # 1x
    ]


def test_targets_are_checked_against_the_measured_values() -> None:
    targets = {t.name: t for t in check_targets(measured_run(), 2.5, 310_000_000, "bundles loaded: en-de")}
    assert len(targets) == 11
    status = {name: t.status for name, t in targets.items()}
    assert status["batched ÷ unbatched throughput, 32 clients, greedy"] == "PASS"
    assert targets["batched ÷ unbatched throughput, 32 clients, greedy"].measured == pytest.approx(5.0)
    assert status["batched ÷ unbatched throughput, 32 clients, beam 4"] == "PASS"
    assert status["heed ÷ PyTorch throughput, 32 clients, greedy"] == "FAIL"
    assert status["heed ÷ PyTorch throughput, 32 clients, beam 4"] == "PASS"
    assert status["heed ÷ PyTorch throughput, 1 client, greedy"] == "PASS"
    assert status["heed ÷ PyTorch throughput, 1 client, beam 4"] == "FAIL"
    assert targets["latency p50, 1 client, beam 4"].measured == pytest.approx(10.0)
    assert status["latency p50, 1 client, beam 4"] == "PASS"
    assert status["latency p99, 1 client, beam 4"] == "PASS"
    assert targets["target words/s, 32 clients, greedy"].measured == pytest.approx(2400.0)
    assert status["server peak RSS, both bundles loaded"] == "FAIL"  # 310 MB
    assert targets["server peak RSS, both bundles loaded"].note == "bundles loaded: en-de"
    assert status["process start to /readyz 200"] == "PASS"


def test_a_target_the_run_did_not_measure_says_so() -> None:
    only_one_client = [s for s in measured_run() if s.clients == 1]
    targets = {t.name: t for t in check_targets(only_one_client, None, None)}
    assert targets["heed ÷ PyTorch throughput, 32 clients, greedy"].status == "NOT MEASURED"
    assert targets["target words/s, 32 clients, greedy"].status == "NOT MEASURED"
    assert targets["process start to /readyz 200"].status == "NOT MEASURED"
    assert Target("x", "<=", 1.0, "s", float("nan")).status == "NOT MEASURED"


def test_ratios_cover_every_load_and_leave_missing_systems_empty() -> None:
    rows = {(r["beam_size"], r["clients"]): r for r in ratios(measured_run())}
    assert set(rows) == {(1, 1), (1, 32), (4, 1), (4, 32)}
    assert rows[(1, 32)]["heed_over_pytorch"] == pytest.approx(2.0)
    assert rows[(1, 32)]["batched_over_unbatched"] == pytest.approx(5.0)
    assert rows[(1, 1)]["batched_over_unbatched"] is None


def report_for(scenarios: list[Scenario]) -> dict[str, Any]:
    targets = check_targets(scenarios, 1.2, 200_000_000, "bundles loaded: en-de, en-fr")
    bundle = {"name": "en-de", "version": "20250101-00000000", "quantization": None, "parameters": 7_698_240}
    return {
        "date": "2025-01-01", "host": "box", "mode": "full", "command": "python -m bench --full",
        "plan": {"warmup_seconds": 3.0, "duration_seconds": 20.0},
        "machine": {"cpu": "Some CPU", "cpus": 2, "cpus_usable": 2, "memory_bytes": 2**34,
                    "load_average_start": [0.1, 0.1, 0.1], "load_average_end": [1.9, 0.5, 0.2]},
        "model": bundle, "served_bundles": [bundle, {**bundle, "name": "en-fr"}],
        "baseline": {"description": "PyTorch eager"}, "client": "one sentence per request",
        "cost": {"mean_source_tokens": 15.1, "decoder_flops_per_target_token": 8.97e6,
                 "model_flops_per_target_token": 1.1e7, "attainable_flops_per_second": 5e10, "matmul_size": 2048,
                 "matmul_repeats": 5, "note": "useful FLOPs"},
        "startup": {"seconds_to_ready": [1.2], "median_seconds": 1.2, "ready_rss_bytes": 150_000_000},
        "memory": {HEED: {"rss_bytes": 180_000_000, "peak_rss_bytes": 200_000_000}},
        "agreement": [{"decoding": "greedy", "sentences": 100, "identical": 99}],
        "scenarios": [s.to_json(5e10) for s in scenarios],
        "ratios": ratios(scenarios),
        "targets": [t.to_json() for t in targets],
    }  # fmt: skip


def test_the_markdown_report_shows_every_scenario_ratio_and_target() -> None:
    scenarios = measured_run()
    text = render_markdown(report_for(scenarios))
    assert "| heed, batching on | greedy | 32 | 200.0 | 2,400 | 10.0 |" in text
    assert "| greedy | 32 | 2.00 | 5.00 |" in text
    assert (
        "| server peak RSS, both bundles loaded | ≤ 300 MB | 200.00 MB (bundles loaded: en-de, en-fr) | PASS |" in text
    )
    assert "| heed ÷ PyTorch throughput, 32 clients, greedy | ≥ 3 x | 2.00 x | FAIL |" in text
    assert "99 of 100 sentences identically" in text
    assert text.count("\n| heed, batching on |") == 4


def test_the_markdown_report_says_when_the_baseline_weights_were_dequantized() -> None:
    report = report_for(measured_run())
    assert "dequantized" not in render_markdown(report)
    description = "PyTorch eager, the same weights, dequantized to float32 from int8 bundle en-de-int8"
    report["baseline"] = {"description": description, "weights": "int8 dequantized to float32"}
    text = render_markdown(report)
    assert f"Baseline: {description}." in text
    assert "- the baseline's weights were dequantized from an int8 bundle (int8 dequantized to float32)" in text


def test_reports_are_written_as_strict_json_and_markdown(tmp_path: Path) -> None:
    report = report_for(measured_run())
    report["scenarios"][0]["sentences_per_second"] = float("nan")  # JSON has no NaN: it must become null
    json_path, markdown_path = write_reports(report, tmp_path / "results", "2025-01-01-box")
    assert json_path.name == "2025-01-01-box.json" and markdown_path.name == "2025-01-01-box.md"

    def no_constants(name: str) -> None:
        raise AssertionError(f"{name} in the JSON report")

    written = json.loads(json_path.read_text(encoding="utf-8"), parse_constant=no_constants)
    assert written["scenarios"][0]["sentences_per_second"] is None
    assert written["targets"] == rounded(report["targets"])
    assert markdown_path.read_text(encoding="utf-8").startswith("# heed benchmark: 2025-01-01 on box")
