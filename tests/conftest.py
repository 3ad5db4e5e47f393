"""Session fixtures: a small real model trained once, shared by every test package."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tiny_corpus import TINY_MODEL_ARGS, write_corpus

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "multi30k"


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_corpus: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """best.pt of a small model trained until it reproduces the tiny corpus (about ten seconds)."""
    from model.train import main

    src, tgt = tiny_corpus
    out = tmp_path_factory.mktemp("tiny-run")
    args = ["--src-lang", "en", "--tgt-lang", "de", "--train-src", str(src), "--train-tgt", str(tgt)]
    args += ["--valid-src", str(src), "--valid-tgt", str(tgt), "--out", str(out), "--epochs", "60", *TINY_MODEL_ARGS]
    assert main(args) == 0
    return out / "best.pt"
