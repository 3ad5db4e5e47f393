"""Loading bundles: what is accepted, and that every kind of damage is refused with its file and reason."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from service.runtime import BundleError, ModelRegistry, Translator, UnsupportedPairError
from tests.service.runtime.conftest import refresh_checksums, rewrite_manifest


def refusal(bundle: Path) -> str:
    """The reason load_dir records for the bundle, after checking the direct load raises the same."""
    registry = ModelRegistry.load_dir(bundle.parent)
    assert bundle.name not in registry.translators
    with pytest.raises(BundleError) as raised:
        Translator.load(bundle)
    assert registry.failures[bundle.name] == str(raised.value)
    return str(raised.value)


def test_load_dir_loads_the_bundle_with_its_identity(tiny_bundle: Path) -> None:
    registry = ModelRegistry.load_dir(tiny_bundle.parent)
    assert registry.failures == {}
    assert list(registry.translators) == ["en-de"]
    translator = registry.get("en", "de")
    manifest = json.loads((tiny_bundle / "manifest.json").read_text(encoding="utf-8"))
    assert (translator.name, translator.version) == ("en-de", manifest["version"])
    assert (translator.source_language, translator.target_language) == ("en", "de")
    assert translator.manifest == manifest
    assert registry.pairs() == [("en", "de")]


def test_unsupported_pair_lists_what_exists(tiny_bundle: Path) -> None:
    registry = ModelRegistry.load_dir(tiny_bundle.parent)
    with pytest.raises(UnsupportedPairError) as raised:
        registry.get("de", "en")
    assert raised.value.pairs == ["en-de"]
    assert isinstance(raised.value, KeyError)
    assert str(raised.value) == "no model translates de-en; available pairs: en-de"


def test_a_missing_models_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="no such models folder"):
        ModelRegistry.load_dir(tmp_path / "nowhere")


def test_an_empty_models_folder_loads_nothing(tmp_path: Path) -> None:
    registry = ModelRegistry.load_dir(tmp_path)
    assert (registry.translators, registry.failures, registry.pairs()) == ({}, {}, [])


def test_a_broken_bundle_does_not_stop_the_others(bundle_copy: Path) -> None:
    broken = bundle_copy.parent / "en-fr"
    shutil.copytree(bundle_copy, broken)
    (broken / "decoder.onnx").unlink()
    (bundle_copy.parent / ".staging-xyz").mkdir()  # hidden folders are not bundles
    (bundle_copy.parent / "README.txt").write_text("not a bundle")
    registry = ModelRegistry.load_dir(bundle_copy.parent)
    assert list(registry.translators) == ["en-de"]
    assert list(registry.failures) == ["en-fr"]


def test_a_file_with_a_wrong_checksum_is_refused(bundle_copy: Path) -> None:
    decoder = bundle_copy / "decoder.onnx"
    data = bytearray(decoder.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, different content
    decoder.write_bytes(bytes(data))
    reason = refusal(bundle_copy)
    assert reason.startswith("en-de/decoder.onnx: sha256 mismatch")


def test_a_truncated_file_is_refused_by_its_size(bundle_copy: Path) -> None:
    source_spm = bundle_copy / "source.spm"
    source_spm.write_bytes(source_spm.read_bytes()[:100])
    assert refusal(bundle_copy).startswith("en-de/source.spm: is 100 bytes; manifest.json says")


@pytest.mark.parametrize("name", ["encoder.onnx", "decoder.onnx", "source.spm", "target.spm"])
def test_a_missing_file_is_refused(bundle_copy: Path, name: str) -> None:
    (bundle_copy / name).unlink()
    assert refusal(bundle_copy) == f"en-de/{name}: missing (listed in manifest.json)"


def test_a_missing_manifest_is_refused(bundle_copy: Path) -> None:
    (bundle_copy / "manifest.json").unlink()
    assert refusal(bundle_copy) == "en-de/manifest.json: missing; a bundle folder must hold a manifest.json"


def test_a_manifest_that_is_not_json_is_refused(bundle_copy: Path) -> None:
    (bundle_copy / "manifest.json").write_text('{"format": "heed-bundle/1",', encoding="utf-8")
    assert refusal(bundle_copy).startswith("en-de/manifest.json: is not valid JSON")


def _parent(manifest: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    node = manifest
    for part in path[:-1]:
        node = node[part]
    return node


def _set(path: tuple[str, ...], value: Any) -> Any:
    return lambda manifest: _parent(manifest, path).__setitem__(path[-1], value)


def _drop(path: tuple[str, ...]) -> Any:
    return lambda manifest: _parent(manifest, path).__delitem__(path[-1])


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (_set(("format",), "heed-bundle/2"), "format is 'heed-bundle/2'; this runtime reads 'heed-bundle/1'"),
        (_drop(("decoding", "beam_size")), "missing key 'decoding.beam_size'"),
        (_drop(("special_tokens",)), "missing key 'special_tokens.pad'"),
        (_drop(("files",)), "missing key 'files'"),
        (_set(("decoding", "beam_size"), 64), "'decoding.beam_size' is 64; it must be between 1 and 16"),
        (_set(("decoding", "length_penalty"), "1.0"), "'decoding.length_penalty' must be a number"),
        (_set(("model", "dec_hidden"), True), "'model.dec_hidden' must be an integer"),
        (_set(("name",), "en-fr"), "name 'en-fr' does not match its folder 'en-de'"),
        (_set(("tokenizers", "source"), "../source.spm"), "'tokenizers.source' is '../source.spm'; bundle files must"),
        (_set(("onnx", "decoder", "inputs", "src_mask"), "int64"), "'onnx.decoder.inputs' is {"),
        (_drop(("files", "target.spm")), "'target.spm' is not listed under 'files'"),
        (_set(("files", "source.spm", "sha256"), "abc"), "'files.source.spm' must hold a lowercase hex 'sha256'"),
        (_set(("files", "../x"), {}), "'files' lists '../x'; only plain file names"),
    ],
)
def test_a_bad_manifest_is_refused_with_its_reason(bundle_copy: Path, mutate: Any, reason: str) -> None:
    rewrite_manifest(bundle_copy, mutate)
    message = refusal(bundle_copy)
    assert message.startswith("en-de/manifest.json: ")
    assert reason in message


def test_a_graph_that_breaks_the_contract_is_refused_naming_the_graph(bundle_copy: Path) -> None:
    encoder, decoder = bundle_copy / "encoder.onnx", bundle_copy / "decoder.onnx"
    encoder_bytes = encoder.read_bytes()
    encoder.write_bytes(decoder.read_bytes())  # the decoder where the encoder belongs
    decoder.write_bytes(encoder_bytes)
    refresh_checksums(bundle_copy)  # the files are consistent with the manifest; only their interface is wrong
    assert refusal(bundle_copy).startswith("en-de/encoder.onnx: inputs are ['prev_tokens', 'state', 'annotations'")


def test_a_file_that_is_not_a_graph_is_refused(bundle_copy: Path) -> None:
    (bundle_copy / "decoder.onnx").write_bytes(b"not an onnx model at all")
    refresh_checksums(bundle_copy)
    assert refusal(bundle_copy).startswith("en-de/decoder.onnx: ONNX Runtime cannot load it")


def test_a_tokenizer_of_the_wrong_size_is_refused(bundle_copy: Path) -> None:
    model = json.loads((bundle_copy / "manifest.json").read_text(encoding="utf-8"))["model"]
    found, wanted = model["src_vocab_size"], model["tgt_vocab_size"]
    assert found != wanted
    shutil.copy(bundle_copy / "source.spm", bundle_copy / "target.spm")  # the source vocabulary in the target's place
    refresh_checksums(bundle_copy)
    assert refusal(bundle_copy) == f"en-de/target.spm: has {found} pieces; the manifest's model expects {wanted}"


def test_a_file_that_is_not_a_tokenizer_is_refused(bundle_copy: Path) -> None:
    (bundle_copy / "source.spm").write_bytes(b"\x00garbage")
    refresh_checksums(bundle_copy)
    assert refusal(bundle_copy).startswith("en-de/source.spm: not a SentencePiece model")


def test_two_bundles_for_one_pair_prefer_the_plainly_named_one(bundle_copy: Path) -> None:
    other = bundle_copy.parent / "en-de-int8"
    shutil.copytree(bundle_copy, other)
    rewrite_manifest(other, _set(("name",), "en-de-int8"))
    registry = ModelRegistry.load_dir(bundle_copy.parent)
    assert sorted(registry.translators) == ["en-de", "en-de-int8"]
    assert registry.get("en", "de").name == "en-de"
    assert registry.pairs() == [("en", "de")]
