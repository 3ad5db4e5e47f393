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
from service.runtime.manifest import INT8_WEIGHTS
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
    assert manifest["quantization"] == INT8_WEIGHTS and manifest["name"] == "en-de-int8"
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
    assert (manifest["name"], manifest["quantization"]) == ("en-de", INT8_WEIGHTS)
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


def _op_types(graph_file: Path) -> set[str]:
    return {node.op_type for node in onnx.load(str(graph_file)).graph.node}


def test_int8_graphs_quantize_weights_only(tiny_bundle: Path, copy_bundle: Callable[[Path], Path]) -> None:
    """No activation is quantized at run time: its scale would be the batch's, and its kernel the CPU's."""
    int8 = quantize_bundle(copy_bundle(tiny_bundle), sentences=SOURCES)
    for name in ("encoder.onnx", "decoder.onnx"):
        graph = onnx.load(str(int8.path / name)).graph
        ops = {node.op_type for node in graph.node}
        assert not ops & {"DynamicQuantizeLinear", "MatMulInteger", "DynamicQuantizeMatMul"}, name
        int8_tensors = {t.name for t in graph.initializer if t.data_type == onnx.TensorProto.INT8}
        read_by_other_ops = {name for node in graph.node if node.op_type != "DequantizeLinear" for name in node.input}
        assert int8_tensors and not int8_tensors & read_by_other_ops, name  # only ever dequantized


def _legacy_int8_bundle(fp32: Path, out: Path) -> Path:
    """What `python -m export --precision int8` wrote before weight-only int8: quantize_dynamic's graphs as they
    come, activations quantized at run time, "quantization": "int8"."""
    import shutil
    import tempfile

    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from export.manifest import describe_files, write_manifest
    from export.quantize import gemm_as_matmul

    shutil.copytree(fp32, out)
    for name in ("encoder.onnx", "decoder.onnx"):
        with tempfile.TemporaryDirectory() as scratch:
            prepared = Path(scratch) / name
            quant_pre_process(fp32 / name, prepared)
            graph_model = onnx.load(str(prepared))
            gemm_as_matmul(graph_model)
            onnx.save(graph_model, str(prepared))
            quantize_dynamic(prepared, out / name, weight_type=QuantType.QInt8, per_channel=True,
                             extra_options={"MatMulConstBOnly": True})  # fmt: skip
    manifest = read_manifest(out)
    manifest.update(quantization="int8", files=describe_files(out), metrics={"val": {"comparable_bleu": 1.0}})
    write_manifest(out, manifest)
    return out


def _int8_initializers(graph_file: Path) -> dict[str, bytes]:
    graph = onnx.load(str(graph_file)).graph
    integer_types = (onnx.TensorProto.INT8, onnx.TensorProto.UINT8)
    return {t.name: t.raw_data for t in graph.initializer if t.data_type in integer_types}


def test_upgrade_keeps_every_int8_weight_and_drops_activation_quantization(tiny_bundle: Path, tmp_path: Path) -> None:
    from export.bundle import upgrade_bundle

    legacy = _legacy_int8_bundle(tiny_bundle, tmp_path / "artifacts" / "en-de")
    old_manifest = read_manifest(legacy)
    old_weights = {name: _int8_initializers(legacy / name) for name in ("encoder.onnx", "decoder.onnx")}
    assert "MatMulInteger" in _op_types(legacy / "decoder.onnx")

    upgraded = upgrade_bundle(legacy, min_agreement=0.5)

    manifest = read_manifest(legacy)
    verify_files(legacy)
    assert manifest["quantization"] == INT8_WEIGHTS and manifest["version"] != old_manifest["version"]
    assert manifest["metrics"] == {}  # scores of the old graphs do not describe the new ones
    assert manifest["upgraded_from"]["version"] == old_manifest["version"]
    assert manifest["upgraded_from"]["metrics"] == {"val": {"comparable_bleu": 1.0}}
    assert upgraded.agreement is not None and upgraded.agreement.sentences == 8
    for name, weights in old_weights.items():
        new_weights = _int8_initializers(legacy / name)
        assert sorted(weights.values()) == sorted(new_weights.values()), name  # the very same bytes
        assert "MatMulInteger" not in _op_types(legacy / name)
    with pytest.raises(ExportInputError, match="not a run-time quantized"):
        upgrade_bundle(legacy)


def test_the_shipped_probe_graph_is_the_one_export_probe_writes() -> None:
    from export.probe import probe_graph
    from service.runtime.cpu import PROBE_FILE

    assert PROBE_FILE.read_bytes() == probe_graph().SerializeToString()
