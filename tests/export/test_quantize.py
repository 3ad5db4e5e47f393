"""int8 bundles: really quantized, contract-shaped, checked by greedy agreement with the float32 bundle."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import onnx
import pytest

from export.bundle import export_bundle, open_bundle, quantize_bundle, translate_with_bundle
from export.errors import ExportInputError, QuantizationError
from export.manifest import read_manifest, verify_files
from export.parity import check_agreement
from export.sentences import encode_sources
from model.decode import max_output_length
from tests.tiny_corpus import PAIRS

SOURCES = [source for source, _ in PAIRS]


def int8_weights(graph_file: Path) -> int:
    graph_model = onnx.load(str(graph_file))
    return sum(t.data_type == onnx.TensorProto.INT8 for t in graph_model.graph.initializer)


def test_int8_bundle_is_written_beside_the_float_one(tiny_bundle: Path, copy_bundle: Callable[[Path], Path]) -> None:
    fp32 = copy_bundle(tiny_bundle)
    fp32_manifest_bytes = (fp32 / "manifest.json").read_bytes()

    int8 = quantize_bundle(fp32, sentences=SOURCES)

    assert int8.path == fp32.with_name("en-de-int8")
    assert {p.name for p in int8.path.iterdir()} == {p.name for p in fp32.iterdir()}
    verify_files(int8.path)
    assert (fp32 / "manifest.json").read_bytes() == fp32_manifest_bytes
    fp32_manifest, manifest = read_manifest(fp32), read_manifest(int8.path)
    assert manifest["quantization"] == "int8" and manifest["name"] == "en-de-int8"
    assert manifest["metrics"] == {}
    same = ("format", "source_language", "target_language", "special_tokens", "model", "tokenizers", "decoding")
    assert {k: manifest[k] for k in same} == {k: fp32_manifest[k] for k in same}
    assert {g: manifest["onnx"][g] for g in ("encoder", "decoder")} == {
        g: fp32_manifest["onnx"][g] for g in ("encoder", "decoder")
    }
    assert manifest["version"] != fp32_manifest["version"]
    for name in ("encoder.onnx", "decoder.onnx"):
        assert int8_weights(int8.path / name) > 0 and int8_weights(fp32 / name) == 0
    assert (int8.path / "decoder.onnx").stat().st_size < 0.6 * (fp32 / "decoder.onnx").stat().st_size
    assert int8.agreement is not None and int8.agreement.sentences == 20 and int8.agreement.rate >= 0.8


def test_int8_bundle_still_translates_the_tiny_corpus(tiny_bundle: Path, copy_bundle: Callable[[Path], Path]) -> None:
    int8 = quantize_bundle(copy_bundle(tiny_bundle), min_agreement=0.5)  # on the built-in English sentences,
    # which this overfitted model never saw: near-ties there make int8 and float32 differ more often
    assert int8.agreement is not None and int8.agreement.sentences == 8
    translations = translate_with_bundle(int8.path, SOURCES)
    correct = sum(t == target for t, (_, target) in zip(translations, PAIRS, strict=True))
    assert correct >= 16, json.dumps(translations, ensure_ascii=False)


def test_low_greedy_agreement_is_a_quantization_error(
    tiny_bundle: Path, score_checkpoints: dict[str, Path], tmp_path: Path
) -> None:
    """A barely trained model stands in for a quantization that wrecked the weights."""
    other = export_bundle(score_checkpoints["dot"], tmp_path / "artifacts" / "other")
    reference, src_sp, _ = open_bundle(tiny_bundle)
    candidate, _, _ = open_bundle(other.path)
    ids = encode_sources(src_sp, SOURCES, reference.special.eos)
    with pytest.raises(QuantizationError, match=r"agreement too low: \d+/20"):
        check_agreement(reference, candidate, ids, max_output_length, minimum=0.8)
    report = check_agreement(reference, reference, ids, max_output_length, minimum=1.0)
    assert (report.identical, report.rate) == (20, 1.0)


def test_an_int8_bundle_is_not_quantized_again(tiny_bundle: Path, copy_bundle: Callable[[Path], Path]) -> None:
    int8 = quantize_bundle(copy_bundle(tiny_bundle), sentences=SOURCES)
    with pytest.raises(ExportInputError, match="already quantized"):
        quantize_bundle(int8.path)


def test_quantize_bundle_takes_the_name_and_records_what_it_was_quantized_from(
    tiny_bundle: Path, copy_bundle: Callable[[Path], Path], tmp_path: Path
) -> None:
    fp32 = copy_bundle(tiny_bundle)
    fp32_manifest = read_manifest(fp32)
    out = tmp_path / "shipped" / "en-de"

    int8 = quantize_bundle(fp32, out, name="en-de", sentences=SOURCES)

    assert int8.path == out and not fp32.with_name("en-de-int8").exists()
    manifest = read_manifest(out)
    assert (manifest["name"], manifest["quantization"]) == ("en-de", "int8")
    assert int8.agreement is not None
    assert manifest["quantized_from"] == {
        "name": "en-de",
        "version": fp32_manifest["version"],
        "parity": None,  # not given: this float32 bundle was read from disk
        "int8_agreement": {"sentences": 20, "identical": int8.agreement.identical},
    }
    beside = quantize_bundle(fp32, sentences=SOURCES)  # the default name is unchanged
    assert read_manifest(beside.path)["name"] == "en-de-int8"
    assert read_manifest(beside.path)["quantized_from"]["version"] == fp32_manifest["version"]
