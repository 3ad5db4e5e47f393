"""Fixtures for the export tests: tiny models for every score function, and bundle helpers."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from model.checkpoint import LoadedCheckpoint, load_checkpoint
from tests.conftest import train_tiny

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def tiny_loaded(tiny_checkpoint: Path) -> LoadedCheckpoint:
    return load_checkpoint(tiny_checkpoint)


@pytest.fixture(scope="session")
def score_checkpoints(
    tiny_checkpoint: Path, tiny_corpus: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """best.pt per score function: the shared additive model, and dot/general models trained for a few epochs.

    TINY_MODEL_ARGS has dec_hidden == 2 * enc_hidden, which the dot score needs. Parity does not
    need a good model, only a real one.
    """
    checkpoints = {"additive": tiny_checkpoint}
    for score in ("dot", "general"):
        out = tmp_path_factory.mktemp(f"tiny-{score}")
        checkpoints[score] = train_tiny(tiny_corpus, out, "--epochs", "4", "--score", score)
    return checkpoints


@pytest.fixture
def copy_bundle(tmp_path: Path) -> Callable[[Path], Path]:
    """A private copy of a bundle (as artifacts/en-de under tmp_path), safe to tamper with."""

    def copy(bundle: Path) -> Path:
        target = tmp_path / "artifacts" / bundle.name
        shutil.copytree(bundle, target)
        return target

    return copy
