"""Which bundles a run serves, which one the baseline is rebuilt from, and how the report says so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.bundles import SelectionError, baseline_bundle, companions, scan, stage
from bench.runner import baseline_summary


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


def test_the_baseline_uses_the_float32_bundle_of_the_pair_else_the_int8_one(models: Path) -> None:
    bundles = scan(models)
    assert baseline_bundle(bundles, bundles["en-de"]) == bundles["en-de"]
    assert baseline_bundle(bundles, bundles["en-de-int8"]).name == "en-de"
    only_int8 = scan(write_bundles(models.parent / "int8-only", ("en-de-int8", "en", "de", "int8")))
    assert baseline_bundle(only_int8, only_int8["en-de-int8"]) == only_int8["en-de-int8"]


def test_the_baseline_description_says_where_its_weights_come_from(models: Path) -> None:
    bundles = scan(models)
    float32, int8 = bundles["en-de"], bundles["en-de-int8"]
    rebuilt = baseline_summary(float32, float32, None)
    assert rebuilt["weights"] == "float32" and rebuilt["bundle"] == str(float32.path)
    assert "the same weights (rebuilt from bundle en-de and checked against its graphs)" in rebuilt["description"]
    assert "dequantized" not in rebuilt["description"]
    served_int8 = baseline_summary(float32, int8, None)["description"]
    assert "rebuilt from bundle en-de and" in served_int8
    assert "heed serves their int8 quantization, en-de-int8" in served_int8
    dequantized = baseline_summary(int8, int8, None)
    assert dequantized["weights"] == "int8 dequantized to float32" and dequantized["bundle"] == str(int8.path)
    assert "the same weights, dequantized to float32 from int8 bundle en-de-int8" in dequantized["description"]
    assert "heed serves" not in dequantized["description"]
    checkpoint = baseline_summary(int8, int8, Path("runs/en-de/best.pt"))
    assert checkpoint["weights"] == "checkpoint" and "dequantized" not in checkpoint["description"]
    assert "heed serves their int8 quantization" in checkpoint["description"]


def test_the_served_folder_links_exactly_the_chosen_bundles(models: Path, tmp_path: Path) -> None:
    bundles = scan(models)
    served = stage(tmp_path / "served", [bundles["en-de"], bundles["en-fr"]])
    assert sorted(p.name for p in served.iterdir()) == ["en-de", "en-fr"]
    assert json.loads((served / "en-fr" / "manifest.json").read_text())["name"] == "en-fr"


def test_a_missing_models_folder_is_a_selection_error(tmp_path: Path) -> None:
    with pytest.raises(SelectionError, match="does not exist"):
        scan(tmp_path / "nowhere")
