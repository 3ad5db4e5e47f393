"""Session fixtures: a small real model trained once, shared by every test package."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tiny_corpus import TINY_MODEL_ARGS, write_corpus

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "multi30k"


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_corpus(tmp_path_factory.mktemp("corpus"))


def train_tiny(corpus: tuple[Path, Path], out: Path, *options: str) -> Path:
    """Trains a TINY_MODEL_ARGS model on the tiny corpus (validated on itself) and returns its best.pt."""
    from model.train import main

    src, tgt = corpus
    args = ["--src-lang", "en", "--tgt-lang", "de", "--train-src", str(src), "--train-tgt", str(tgt)]
    args += ["--valid-src", str(src), "--valid-tgt", str(tgt), "--out", str(out), *TINY_MODEL_ARGS, *options]
    assert main(args) == 0
    return out / "best.pt"


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_corpus: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """best.pt of a small model trained until it reproduces the tiny corpus (about ten seconds)."""
    return train_tiny(tiny_corpus, tmp_path_factory.mktemp("tiny-run"), "--epochs", "60")


@pytest.fixture(scope="session")
def conditional_checkpoint(tiny_corpus: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """best.pt of a small conditional-GRU model, trained with word dropout."""
    out = tmp_path_factory.mktemp("tiny-conditional")
    return train_tiny(tiny_corpus, out, "--epochs", "40", "--decoder", "conditional", "--word-dropout", "0.1")


@pytest.fixture(scope="session")
def tiny_bundle(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """<tmp>/artifacts/en-de: tiny_checkpoint exported and checked against PyTorch; its parent is a models dir.

    Shared by every test package: copy it before changing anything in it.
    """
    from export.bundle import export_bundle

    out = tmp_path_factory.mktemp("bundle") / "artifacts" / "en-de"
    return export_bundle(tiny_checkpoint, out).path
