"""Scoring a bundle as served and recording the scores in its manifest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from export.manifest import read_manifest, verify_files
from export.report import attention_sharpness, main
from model.evaluate import score
from service.runtime import Translator
from tests.tiny_corpus import PAIRS


def test_report_records_both_scores_and_attention_sharpness(
    tiny_bundle: Path, tiny_corpus: tuple[Path, Path], tmp_path: Path, capsys: object
) -> None:
    bundle = tmp_path / "en-de"
    shutil.copytree(tiny_bundle, bundle)
    src, ref = tiny_corpus
    assert main(["--bundle", str(bundle), "--set", f"val={src},{ref}", "--beam-size", "2"]) == 0
    recorded = read_manifest(bundle)["metrics"]["val"]
    verify_files(bundle)  # only manifest.json changed
    translator = Translator.load(bundle)
    translations = translator.translate_batch([s for s, _ in PAIRS], beam_size=2)
    expected = score([t.text for t in translations], [t for _, t in PAIRS], "de")
    assert recorded["comparable_bleu"] == round(expected.comparable_bleu, 2)
    assert recorded["cased_bleu"] == round(expected.cased_bleu, 2)
    assert recorded["beam_size"] == 2 and recorded["sentences"] == len(PAIRS)
    assert 0.0 < recorded["attention_max_mean"] <= 1.0
    assert recorded["attention_max_mean"] == round(attention_sharpness(translations), 4)


def test_sharpness_is_the_mean_row_maximum_without_the_end_row(tiny_bundle: Path) -> None:
    translation = Translator.load(tiny_bundle).translate_batch([PAIRS[0][0]], beam_size=1)[0]
    rows = translation.attention[:-1]
    assert attention_sharpness([translation]) == float(np.mean(rows.max(axis=1)))


def test_dry_run_and_bad_input_leave_the_manifest_alone(tiny_bundle: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "en-de"
    shutil.copytree(tiny_bundle, bundle)
    before = json.loads((bundle / "manifest.json").read_text())
    assert main(["--bundle", str(bundle), "--set", "val=missing.en,missing.de"]) == 2
    assert main(["--bundle", str(bundle), "--set", "no-files"]) == 2
    assert json.loads((bundle / "manifest.json").read_text()) == before
