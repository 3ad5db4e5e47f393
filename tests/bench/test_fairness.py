"""bench.fairness end to end over the tiny bundle: both phases run against a real server, the heavy requests are
as large as the work budget admits, and nothing fails."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.tiny_corpus import PAIRS

REPO = Path(__file__).resolve().parents[2]


def test_light_latency_is_measured_alone_and_beside_heavy_requests(tiny_bundle: Path, tmp_path: Path) -> None:
    sentences = tmp_path / "sentences.en"
    sentences.write_text("".join(f"{source}\n" for source, _ in PAIRS), encoding="utf-8")
    out = tmp_path / "fairness.json"
    command = [
        sys.executable, "-m", "bench.fairness", "--models-dir", str(tiny_bundle.parent), "--model", "en-de",
        "--sentences", str(sentences), "--light-clients", "2", "--heavy-clients", "1", "--duration", "1.5",
        "--out", str(out),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(out.read_text(encoding="utf-8"))
    for phase in ("light_alone", "light_beside_heavy", "heavy"):
        assert report[phase]["requests"] > 0 and report[phase]["errors"] == 0, report[phase]
        assert report[phase]["latency_ms"]["p50"] <= report[phase]["latency_ms"]["p99"]
    assert 1 <= report["heavy_texts"] < 64, "the heavy request stops where the limits refuse one more text"
    assert report["light_p50_beside_over_alone"] > 0 and report["peak_rss_mib"] > 0
