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
    argv = ["--bundle", str(bundle_copy), "--set", f"val={src},{tgt}", "--length-penalties", "0.5,1.5"]
    assert main([*argv, "--beam-sizes", "1,3", "--write"]) == 0

    lines = capsys.readouterr().out.splitlines()
    points = [SweepPoint(**{k: v for k, v in json.loads(line).items() if k != "set"}) for line in lines[:4]]
    assert [(p.beam_size, p.length_penalty) for p in points] == [(1, 0.5), (1, 1.5), (3, 0.5), (3, 1.5)]
    chosen = best_point(points, min_gain=0.2)  # the default
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    tuning = manifest["decoding_tuning"]
    assert tuning["chosen"] == {"beam_size": chosen.beam_size, "length_penalty": chosen.length_penalty}
    assert len(tuning["tried"]) == 4 and tuning["set"] == "val"
    assert (manifest["decoding"]["beam_size"], manifest["decoding"]["length_penalty"]) == (
        chosen.beam_size,
        chosen.length_penalty,
    )
    reloaded = Translator.load(bundle_copy)  # the bundle's checksums still hold
    assert (reloaded.default_beam_size, reloaded.length_penalty) == (chosen.beam_size, chosen.length_penalty)


def test_without_write_the_manifest_is_untouched(bundle_copy: Path, tiny_corpus: tuple[Path, Path]) -> None:
    before = (bundle_copy / "manifest.json").read_bytes()
    src, tgt = tiny_corpus
    assert main(["--bundle", str(bundle_copy), "--set", f"val={src},{tgt}", "--length-penalties", "0.7"]) == 0
    assert (bundle_copy / "manifest.json").read_bytes() == before


def test_ties_go_to_the_penalty_nearest_one_and_a_wider_beam_must_earn_its_cost() -> None:
    points = [SweepPoint(4, 0.6, 30.0, 40.001), SweepPoint(4, 1.2, 30.0, 40.0), SweepPoint(4, 1.4, 31.0, 39.0)]
    assert best_point(points).length_penalty == 1.2
    points += [SweepPoint(2, 0.6, 30.0, 40.0), SweepPoint(8, 1.0, 30.0, 40.1)]
    assert (best_point(points).beam_size, best_point(points).length_penalty) == (8, 1.0)  # 0.1 better
    assert (best_point(points, min_gain=0.2).beam_size, best_point(points, 0.2).length_penalty) == (2, 0.6)
    assert best_point([*points, SweepPoint(12, 1.0, 30.0, 40.25)], min_gain=0.2).beam_size == 12


@pytest.mark.parametrize(
    "option", [("--length-penalties", ""), ("--length-penalties", "a,b"), ("--length-penalties", "0.5,9"),
               ("--beam-sizes", "0"), ("--beam-sizes", "2.5"), ("--beam-sizes", "99")],
)  # fmt: skip
def test_bad_sweeps_exit_2(
    option: tuple[str, str], bundle_copy: Path, tiny_corpus: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    src, tgt = tiny_corpus
    assert main(["--bundle", str(bundle_copy), "--set", f"val={src},{tgt}", *option]) == 2
    assert capsys.readouterr().err.startswith("error: ")
