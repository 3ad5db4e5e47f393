"""bench.decoder_cost: the fit recovers a known cost law, and a run over the tiny bundle times every decoder call of
its workloads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench.decoder_cost import fastest, fit, main


def test_the_fit_recovers_the_cost_of_a_call_a_row_and_a_source_piece() -> None:
    law = (0.5e-3, 80e-6, 0.5e-6)
    calls = [(rows, width, law[0] + rows * (law[1] + width * law[2])) for rows in (1, 4, 16, 64) for width in (9, 257)]
    assert np.allclose(fit(calls), law, rtol=1e-6, atol=1e-12)


def test_each_call_keeps_its_fastest_time_over_repeated_runs() -> None:
    runs = [[(4, 9, 0.002), (2, 9, 0.001)], [(4, 9, 0.003), (2, 9, 0.0005)]]
    assert fastest(runs) == [(4, 9, 0.002), (2, 9, 0.0005)]
    with pytest.raises(RuntimeError, match="different decoder calls"):
        fastest([[(4, 9, 0.002)], [(3, 9, 0.002)]])


def test_a_run_times_every_decoder_call_of_its_workloads(
    tiny_bundle: Path, tmp_path: Path, document_sources: tuple[Path, Path]
) -> None:
    captions, long_lines = document_sources
    out = tmp_path / "cost.json"
    arguments = ["--models-dir", str(tiny_bundle.parent), "--model", "en-de", "--captions", str(captions)]
    arguments += ["--prose", str(long_lines), "--length-cap", "40", "--repeats", "2"]
    assert main([*arguments, "--out", str(out)]) == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    workloads = report["workloads"]
    assert [(w["workload"], w["beam"]) for w in workloads][:2] == [("captions", 1), ("captions", 4)]
    assert len(workloads) == 8 and all(w["calls"] > 0 and w["seconds"] > 0 for w in workloads)
    assert report["calls"] == sum(w["calls"] for w in workloads)
    numbers_at_beam_1 = next(w for w in workloads if w["workload"] == "numbers" and w["beam"] == 1)
    assert numbers_at_beam_1["calls"] <= 41, "at most the length cap and </s>"
