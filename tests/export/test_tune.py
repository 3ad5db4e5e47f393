"""export.tune: the length penalty chosen on a validation set becomes the bundle's decoding default."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from export.tune import SweepPoint, best_point, main
from service.runtime import Translator


@pytest.fixture
def bundle_copy(tiny_bundle: Path, tmp_path: Path) -> Path:
    target = tmp_path / "artifacts" / tiny_bundle.name
    shutil.copytree(tiny_bundle, target)
    return target


def test_write_records_the_best_penalty_and_the_runtime_uses_it(
    bundle_copy: Path, tiny_corpus: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    src, tgt = tiny_corpus
    argv = ["--bundle", str(bundle_copy), "--set", f"val={src},{tgt}", "--length-penalties", "0.5,1.5", "--write"]
    assert main(argv) == 0

    lines = capsys.readouterr().out.splitlines()
    points = [json.loads(line) for line in lines[:2]]
    assert [p["length_penalty"] for p in points] == [0.5, 1.5]
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    tuning = manifest["decoding_tuning"]
    chosen = best_point([SweepPoint(p["length_penalty"], p["cased_bleu"], p["comparable_bleu"]) for p in points])
    assert manifest["decoding"]["length_penalty"] == tuning["chosen_length_penalty"] == chosen.length_penalty
    assert set(tuning["comparable_bleu"]) == {"0.5", "1.5"} and tuning["set"] == "val"
    assert Translator.load(bundle_copy).length_penalty == chosen.length_penalty  # checksums still hold


def test_without_write_the_manifest_is_untouched(bundle_copy: Path, tiny_corpus: tuple[Path, Path]) -> None:
    before = (bundle_copy / "manifest.json").read_bytes()
    src, tgt = tiny_corpus
    assert main(["--bundle", str(bundle_copy), "--set", f"val={src},{tgt}", "--length-penalties", "0.7"]) == 0
    assert (bundle_copy / "manifest.json").read_bytes() == before


def test_ties_go_to_the_penalty_nearest_one() -> None:
    points = [SweepPoint(0.6, 30.0, 40.001), SweepPoint(1.2, 30.0, 40.0), SweepPoint(1.4, 31.0, 39.0)]
    assert best_point(points).length_penalty == 1.2


@pytest.mark.parametrize("values", ["", "a,b", "-1", "0.5,9"])
def test_bad_penalties_exit_2(
    values: str, bundle_copy: Path, tiny_corpus: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    src, tgt = tiny_corpus
    assert main(["--bundle", str(bundle_copy), "--set", f"val={src},{tgt}", "--length-penalties", values]) == 2
    assert capsys.readouterr().err.startswith("error: ")
