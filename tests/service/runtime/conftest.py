"""Fixtures for the runtime tests: the real tiny bundle loaded in ONNX Runtime, and its PyTorch twin."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.tiny_corpus import PAIRS

MutateManifest = Callable[[dict[str, Any]], None]


def parity_sentences() -> list[str]:
    """The 20 tiny sources plus 45 deterministic recombinations and variations of their words."""
    sources = [source for source, _ in PAIRS]
    subjects = [" ".join(s.split()[:2]) for s in sources]  # "A man", "Two dogs", ...
    predicates = [" ".join(s.split()[2:]) for s in sources]  # "is riding a bike.", ...
    mixed = [f"{subjects[i]} {predicates[(7 * i + 3) % len(sources)]}" for i in range(len(sources))]
    lowered = [s.lower().rstrip(".") for s in sources[:10]]
    joined = [f"{sources[i]} {sources[(i + 5) % len(sources)]}" for i in range(0, 20, 2)]
    fragments = ["A man.", "The dog is running.", "Two girls", "swimming in the lake", "red shirt"]
    sentences = sources + mixed + lowered + joined + fragments
    assert len(set(sentences)) == len(sentences) >= 50
    return sentences


@pytest.fixture(scope="session")
def translator(tiny_bundle: Path) -> Any:
    from service.runtime import Translator

    return Translator.load(tiny_bundle)


@pytest.fixture(scope="session")
def torch_model(tiny_checkpoint: Path) -> Any:
    from model.checkpoint import load_checkpoint

    return load_checkpoint(tiny_checkpoint)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rewrite_manifest(bundle: Path, mutate: MutateManifest) -> None:
    path = bundle / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    mutate(manifest)
    path.write_text(json.dumps(manifest), encoding="utf-8")


def refresh_checksums(bundle: Path) -> None:
    """Records the files as they are now, so only the check under test can object."""

    def update(manifest: dict[str, Any]) -> None:
        for name in manifest["files"]:
            manifest["files"][name] = {"sha256": sha256(bundle / name), "bytes": (bundle / name).stat().st_size}

    rewrite_manifest(bundle, update)


@pytest.fixture
def bundle_copy(tiny_bundle: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny bundle at tmp_path/artifacts/en-de, safe to tamper with."""
    target = tmp_path / "artifacts" / tiny_bundle.name
    shutil.copytree(tiny_bundle, target)
    return target
