"""Which bundles a run serves: the one benchmarked, one per other language pair (for the memory target),
and the bundle the PyTorch baseline is rebuilt from: a float32 one where the pair has one, else the int8 one,
whose weights bench.rebuild dequantizes to float32."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class SelectionError(ValueError):
    """The models folder lacks what the benchmark needs; the message says what."""


@dataclass(frozen=True)
class BundleInfo:
    path: Path
    manifest: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.manifest.get("name", self.path.name))

    @property
    def pair(self) -> tuple[str, str]:
        return str(self.manifest.get("source_language")), str(self.manifest.get("target_language"))

    @property
    def quantization(self) -> str | None:
        value = self.manifest.get("quantization")
        return str(value) if value else None


def scan(models_dir: Path) -> dict[str, BundleInfo]:
    """Every sub-folder holding a readable manifest.json, by folder name."""
    if not models_dir.is_dir():
        raise SelectionError(
            f"the models folder {models_dir} does not exist; export a bundle into it first, e.g. "
            f"python -m export --checkpoint runs/en-de/best.pt --out {models_dir}/en-de"
        )
    found = {}
    for folder in sorted(p for p in models_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(manifest, dict):
            found[folder.name] = BundleInfo(folder, manifest)
    return found


def _preference(bundle: BundleInfo, quantization: str | None) -> tuple[bool, bool, str]:
    source, target = bundle.pair
    return bundle.quantization != quantization, bundle.name != f"{source}-{target}", bundle.name


def companions(bundles: dict[str, BundleInfo], chosen: BundleInfo) -> list[BundleInfo]:
    """One bundle for each language pair other than the chosen one's, same quantization preferred."""
    pairs = sorted({bundle.pair for bundle in bundles.values()} - {chosen.pair})
    return [
        min((b for b in bundles.values() if b.pair == pair), key=lambda b: _preference(b, chosen.quantization))
        for pair in pairs
    ]


def baseline_bundle(bundles: dict[str, BundleInfo], chosen: BundleInfo) -> BundleInfo:
    """The chosen bundle when it is float32, else a float32 bundle of the same pair, else the chosen (quantized)
    bundle itself, which the baseline is rebuilt from by dequantizing its weights."""
    if chosen.quantization is None:
        return chosen
    candidates = [b for b in bundles.values() if b.pair == chosen.pair and b.quantization is None]
    return min(candidates, key=lambda b: _preference(b, None)) if candidates else chosen


def stage(folder: Path, served: list[BundleInfo]) -> Path:
    """A models folder holding links to exactly the served bundles (heed serves every bundle in its folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    for bundle in served:
        (folder / bundle.path.name).symlink_to(bundle.path.resolve(), target_is_directory=True)
    return folder
