"""Guard on the shipped models: each bundle in artifacts/ still scores what its manifest claims.

Translates test_2016_flickr through the serving runtime at the beam size the manifest's score was
measured with, and fails if the comparable BLEU falls more than 0.5 below the recorded number.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from export.report import report_set
from service.runtime import Translator
from tests.conftest import SHARED_DATA

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
TOLERANCE = 0.5
SHIPPED = sorted(p.parent for p in ARTIFACTS.glob("*/manifest.json"))


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data/multi30k is absent: no test set to score")
@pytest.mark.parametrize("bundle", SHIPPED, ids=lambda p: p.name)
def test_shipped_bundle_keeps_its_recorded_test_score(bundle: Path) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    recorded = manifest["metrics"]["test_2016_flickr"]
    src, tgt = manifest["source_language"], manifest["target_language"]
    raw = SHARED_DATA / "raw"
    translator = Translator.load(bundle)
    measured = report_set(
        translator, "test_2016_flickr", str(raw / f"test_2016_flickr.{src}.gz"),
        str(raw / f"test_2016_flickr.{tgt}.gz"), int(recorded["beam_size"]),
    )  # fmt: skip
    print(f"{bundle.name}: comparable BLEU {measured.comparable_bleu:.2f}, manifest {recorded['comparable_bleu']:.2f}")
    assert measured.comparable_bleu >= recorded["comparable_bleu"] - TOLERANCE
