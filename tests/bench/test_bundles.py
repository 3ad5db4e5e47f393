"""Which bundles a run serves and which one the baseline is rebuilt from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.bundles import SelectionError, baseline_bundle, companions, scan, stage


def write_bundles(folder: Path, *bundles: tuple[str, str, str, str | None]) -> Path:
    for name, source, target, quantization in bundles:
        (folder / name).mkdir(parents=True)
        manifest = {"name": name, "source_language": source, "target_language": target, "quantization": quantization}
        (folder / name / "manifest.json").write_text(json.dumps(manifest))
    return folder


@pytest.fixture
def models(tmp_path: Path) -> Path:
    folder = write_bundles(
        tmp_path / "artifacts",
        ("en-de", "en", "de", None),
        ("en-de-int8", "en", "de", "int8"),
        ("en-fr", "en", "fr", None),
        ("en-fr-int8", "en", "fr", "int8"),
    )
    (folder / "notes").mkdir()  # a folder without a manifest is not a bundle
    return folder


def test_one_bundle_per_other_pair_is_served_beside_the_benchmarked_one(models: Path) -> None:
    bundles = scan(models)
    assert sorted(bundles) == ["en-de", "en-de-int8", "en-fr", "en-fr-int8"]
    assert [b.name for b in companions(bundles, bundles["en-de"])] == ["en-fr"]
    assert [b.name for b in companions(bundles, bundles["en-de-int8"])] == ["en-fr-int8"]


def test_the_baseline_uses_the_float32_bundle_of_the_pair(models: Path) -> None:
    bundles = scan(models)
    assert baseline_bundle(bundles, bundles["en-de"]) == bundles["en-de"]
    baseline = baseline_bundle(bundles, bundles["en-de-int8"])
    assert baseline is not None and baseline.name == "en-de"
    only_int8 = scan(write_bundles(models.parent / "int8-only", ("en-de-int8", "en", "de", "int8")))
    assert baseline_bundle(only_int8, only_int8["en-de-int8"]) is None


def test_the_served_folder_links_exactly_the_chosen_bundles(models: Path, tmp_path: Path) -> None:
    bundles = scan(models)
    served = stage(tmp_path / "served", [bundles["en-de"], bundles["en-fr"]])
    assert sorted(p.name for p in served.iterdir()) == ["en-de", "en-fr"]
    assert json.loads((served / "en-fr" / "manifest.json").read_text())["name"] == "en-fr"


def test_a_missing_models_folder_is_a_selection_error(tmp_path: Path) -> None:
    with pytest.raises(SelectionError, match="does not exist"):
        scan(tmp_path / "nowhere")
