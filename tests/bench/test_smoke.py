"""One end-to-end run of `python -m bench` over the tiny bundle, with short scenarios (no timing asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.tiny_corpus import PAIRS

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def smoke_run(
    tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[subprocess.CompletedProcess[str], Path]:
    folder = tmp_path_factory.mktemp("bench")
    sentences = folder / "sentences.en"
    sentences.write_text("".join(f"{source}\n" for source, _ in PAIRS), encoding="utf-8")
    out = folder / "results"
    command = [
        sys.executable, "-m", "bench", "--quick", "--models-dir", str(tiny_bundle.parent), "--model", "en-de",
        "--sentences", str(sentences), "--clients", "2", "--beams", "1,4", "--warmup", "0.3", "--duration", "1.5",
        "--agreement", "8", "--matmul-size", "64", "--document-clients", "2", "--out", str(out),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    return done, out


def the_report(out: Path) -> dict[str, Any]:
    (path,) = out.glob("*-quick.json")
    report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return report


def test_the_run_completes_and_writes_both_reports(smoke_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    done, out = smoke_run
    assert done.returncode == 0, done.stdout + done.stderr
    (markdown,) = out.glob("*-quick.md")
    assert markdown.stem == the_report(out)["date"] + "-" + the_report(out)["host"] + "-quick"
    assert "## Targets" in markdown.read_text(encoding="utf-8")
    assert "targets:" in done.stdout and "heed ÷ PyTorch" in done.stdout


def test_every_system_answered_every_scenario(smoke_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    report = the_report(smoke_run[1])
    scenarios = report["scenarios"]
    assert {(s["system"], s["beam_size"], s["clients"]) for s in scenarios} == {
        (system, beam, 2) for system in ("heed", "heed-unbatched", "pytorch") for beam in (1, 4)
    }
    for scenario in scenarios:
        assert scenario["errors"] == 0, scenario["error_examples"]
        assert scenario["requests"] > 0 and scenario["target_words_per_second"] > 0
        assert scenario["latency_ms"]["p50"] <= scenario["latency_ms"]["p99"]
    batches = {(s["system"], s["beam_size"]): s["mean_batch_size"] for s in scenarios}
    assert batches[("heed-unbatched", 1)] == batches[("heed-unbatched", 4)] == 1.0
    assert batches[("heed", 1)] >= 1.0 and batches[("pytorch", 1)] is None


def test_heed_and_the_baseline_translate_identically(smoke_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    agreement = the_report(smoke_run[1])["agreement"]
    assert [(a["beam_size"], a["sentences"], a["identical"]) for a in agreement] == [(1, 8, 8), (4, 8, 8)]


def test_the_document_workload_runs_on_heed_beside_the_scenarios(
    smoke_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    report = the_report(smoke_run[1])
    (pair,) = report["documents"]["pairs"]
    assert pair["pair"] == "en-de" and report["plan"]["document_clients"] == [2]
    assert [(r["mode"], r["clients"], r["errors"]) for r in pair["results"]] == [
        ("one text", 2, 0),
        ("one by one", 2, 0),
    ]
    assert {r["sentences"] for r in pair["results"]} == {pair["sentences"]} and pair["sentences"] >= 3
    (markdown,) = smoke_run[1].glob("*-quick.md")
    assert "## Documents: paragraphs of 3-8 sentences" in markdown.read_text(encoding="utf-8")
    assert "documents en-de   2 clients  one text ÷ one by one" in smoke_run[0].stdout


def test_every_target_is_reported(smoke_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    report = the_report(smoke_run[1])
    targets = {t["name"]: t for t in report["targets"]}
    assert len(targets) == 11
    assert all(t["status"] in ("PASS", "FAIL", "NOT MEASURED") for t in targets.values())
    assert targets["heed ÷ PyTorch throughput, 32 clients, greedy"]["status"] == "NOT MEASURED"  # only 2 clients ran
    rss = targets["server peak RSS, both bundles loaded"]
    assert rss["measured"] > 0 and "only this one was present" in rss["note"]
    assert targets["process start to /readyz 200"]["measured"] > 0
    assert report["cost"]["decoder_flops_per_target_token"] > 0
    assert report["served_bundles"][0]["name"] == "en-de"
    assert report["heed_settings"]["max_batch_size"] >= 1 and "batch_window_ms" in report["heed_settings"]
