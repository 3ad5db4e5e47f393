"""Fixtures for the benchmark's tests: the tiny bundle (and its int8 copy) rebuilt in PyTorch and loaded in ONNX
Runtime."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from tests.tiny_corpus import PAIRS


def probe_sentences() -> list[str]:
    """The tiny corpus' sources, some recombined, cut short or joined, so that beams and lengths vary."""
    sources = [source for source, _ in PAIRS]
    pairs = zip(sources, reversed(sources), strict=True)
    halves = [f"{' '.join(a.split()[:3])} {' '.join(b.split()[3:])}" for a, b in pairs]
    joined = [f"{sources[i]} {sources[i + 1]}" for i in range(0, 8, 2)]
    return sources + halves[:10] + joined + ["A man.", "swimming in the lake", "Two girls"]


@pytest.fixture
def document_sources(tmp_path: Path) -> tuple[Path, Path]:
    """Caption and prose files from the tiny corpus for bench.work_budget and bench.decoder_cost (their --captions
    and --prose): short sentences, and long lowercased lines of two joined by a comma."""
    captions = tmp_path / "captions.en"
    captions.write_text("".join(f"{source}\n" for source, _ in PAIRS) * 20, encoding="utf-8")
    long_lines = tmp_path / "prose.en"
    joined = [f"{a.lower()} , {b.lower()}\n" for (a, _), (b, _) in itertools.pairwise(PAIRS)]
    long_lines.write_text("".join(joined) * 10, encoding="utf-8")
    return captions, long_lines


@pytest.fixture(scope="session")
def rebuilt(tiny_bundle: Path) -> Any:
    from bench.rebuild import rebuild_model

    return rebuild_model(tiny_bundle)


@pytest.fixture(scope="session")
def runtime_translator(tiny_bundle: Path) -> Any:
    from service.runtime import Translator

    return Translator.load(tiny_bundle)


@pytest.fixture(scope="session")
def eager(tiny_bundle: Path) -> Any:
    from bench.torch_server import load_translator

    return load_translator(tiny_bundle)


@pytest.fixture(scope="session")
def tiny_int8_bundle(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """<tmp>/artifacts/en-de-int8: tiny_bundle quantized as `python -m export --precision int8` does.

    The tiny model's int8 outputs may differ from its float32 ones, so no agreement is required here.
    """
    from export.bundle import quantize_bundle

    out = tmp_path_factory.mktemp("int8") / "artifacts" / "en-de-int8"
    return quantize_bundle(tiny_bundle, out, name="en-de-int8", min_agreement=0.0).path


@pytest.fixture(scope="session")
def rebuilt_int8(tiny_int8_bundle: Path) -> Any:
    from bench.rebuild import rebuild_model

    return rebuild_model(tiny_int8_bundle)
