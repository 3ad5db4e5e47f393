"""The bundle on disk: files, manifest contract, checksums, graph signatures, safe replacement, metrics."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import onnx
import pytest

from export.bundle import export_bundle
from export.errors import ExportInputError, ManifestError
from export.manifest import read_manifest, update_metrics, verify_files
from model.checkpoint import LoadedCheckpoint

CONTRACT_KEYS = {
    "format", "name", "version", "source_language", "target_language", "created_at", "special_tokens", "model",
    "onnx", "tokenizers", "quantization", "decoding", "files", "tools", "training", "metrics",
}  # fmt: skip
BUNDLE_FILES = {"encoder.onnx", "decoder.onnx", "source.spm", "target.spm"}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_bundle_holds_exactly_the_contract_files(tiny_bundle: Path) -> None:
    assert tiny_bundle.parent.name == "artifacts" and tiny_bundle.name == "en-de"
    assert {p.name for p in tiny_bundle.iterdir()} == BUNDLE_FILES | {"manifest.json"}
    assert not [p for p in tiny_bundle.parent.iterdir() if p.name.startswith(".")], "staging folders left behind"


def test_manifest_checksums_and_sizes_match_the_files(tiny_bundle: Path) -> None:
    manifest = json.loads((tiny_bundle / "manifest.json").read_text(encoding="utf-8"))
    assert set(manifest["files"]) == BUNDLE_FILES
    for name, recorded in manifest["files"].items():
        assert recorded == {"sha256": sha256(tiny_bundle / name), "bytes": (tiny_bundle / name).stat().st_size}
    digest = hashlib.sha256((tiny_bundle / "encoder.onnx").read_bytes() + (tiny_bundle / "decoder.onnx").read_bytes())
    assert re.fullmatch(r"\d{8}-[0-9a-f]{8}", manifest["version"])
    assert manifest["version"].endswith(digest.hexdigest()[:8])


def test_manifest_describes_model_training_and_tools(tiny_bundle: Path, tiny_loaded: LoadedCheckpoint) -> None:
    manifest = read_manifest(tiny_bundle)
    config = tiny_loaded.model.config
    assert set(manifest) == CONTRACT_KEYS
    assert manifest["format"] == "heed-bundle/1"
    assert (manifest["name"], manifest["source_language"], manifest["target_language"]) == ("en-de", "en", "de")
    created = datetime.fromisoformat(manifest["created_at"].replace("Z", "+00:00"))
    assert created.utcoffset() is not None and created.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert manifest["version"].startswith(created.strftime("%Y%m%d"))
    assert manifest["special_tokens"] == {"pad": 0, "unk": 1, "bos": 2, "eos": 3}
    assert manifest["model"] == {**config.to_dict(), "parameters": tiny_loaded.model.num_parameters()}
    assert manifest["model"]["score"] == "additive"
    assert manifest["tokenizers"] == {"source": "source.spm", "target": "target.spm"}
    assert manifest["quantization"] is None
    assert manifest["decoding"] == {"beam_size": 4, "length_penalty": 1.0, "max_length_ratio": 2.0,
                                    "max_length_offset": 10}  # fmt: skip
    assert set(manifest["tools"]) == {"torch", "onnx", "onnxruntime", "sentencepiece", "heed"}
    assert manifest["tools"]["onnx"] == onnx.__version__
    progress = tiny_loaded.progress
    assert manifest["training"] == {
        "train_args": tiny_loaded.train_args,
        "epochs": progress["epoch"],
        "best_epoch": progress["best_epoch"],
        "elapsed_seconds": round(progress["elapsed_seconds"], 1),
    }
    assert manifest["metrics"] == {"val": progress["best_scores"]}
    assert manifest["metrics"]["val"]["comparable_bleu"] == pytest.approx(100.0)


def test_tokenizers_are_the_checkpoints(tiny_bundle: Path, tiny_loaded: LoadedCheckpoint) -> None:
    assert (tiny_bundle / "source.spm").read_bytes() == tiny_loaded.src_spm_bytes
    assert (tiny_bundle / "target.spm").read_bytes() == tiny_loaded.tgt_spm_bytes


def test_graph_signatures_follow_the_contract(tiny_bundle: Path, tiny_loaded: LoadedCheckpoint) -> None:
    config = tiny_loaded.model.config
    manifest = read_manifest(tiny_bundle)
    annotations = ["batch", "src_len", 2 * config.enc_hidden]
    keys = ["batch", "src_len", config.attn_dim]
    expected = {
        "encoder": {
            "src_ids": ("int64", ["batch", "src_len"]),
            "src_lengths": ("int64", ["batch"]),
            "annotations": ("float32", annotations),
            "keys": ("float32", keys),
            "init_state": ("float32", ["batch", config.dec_hidden]),
        },
        "decoder": {
            "prev_tokens": ("int64", ["batch"]),
            "state": ("float32", ["batch", config.dec_hidden]),
            "annotations": ("float32", annotations),
            "keys": ("float32", keys),
            "src_mask": ("bool", ["batch", "src_len"]),
            "log_probs": ("float32", ["batch", config.tgt_vocab_size]),
            "new_state": ("float32", ["batch", config.dec_hidden]),
            "attention": ("float32", ["batch", "src_len"]),
        },
    }
    for graph, ports in expected.items():
        graph_model = onnx.load(str(tiny_bundle / f"{graph}.onnx"))
        assert min(e.version for e in graph_model.opset_import if e.domain == "") == manifest["onnx"]["opset"]
        values = [*graph_model.graph.input, *graph_model.graph.output]
        found = {
            v.name: (
                onnx.helper.tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type).name,
                [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim],
            )
            for v in values
        }
        assert found == ports
        inputs = {
            name: dtype for name, (dtype, _) in ports.items() if name in {v.name for v in graph_model.graph.input}
        }
        assert manifest["onnx"][graph]["inputs"] == inputs
        assert list(manifest["onnx"][graph]["inputs"]) == [v.name for v in graph_model.graph.input]
        assert list(manifest["onnx"][graph]["outputs"]) == [v.name for v in graph_model.graph.output]
        assert manifest["onnx"][graph]["file"] == f"{graph}.onnx"


def test_existing_destination_is_kept_without_force(tiny_checkpoint: Path, tiny_bundle: Path, tmp_path: Path) -> None:
    before = {p.name: sha256(p) for p in tiny_bundle.iterdir()}
    with pytest.raises(ExportInputError, match="already exists"):
        export_bundle(tiny_checkpoint, tiny_bundle)
    assert {p.name: sha256(p) for p in tiny_bundle.iterdir()} == before


def test_force_replaces_a_bundle_but_never_another_folder(
    tiny_checkpoint: Path, tiny_bundle: Path, copy_bundle: Callable[[Path], Path], tmp_path: Path
) -> None:
    bundle = copy_bundle(tiny_bundle)
    (bundle / "stale.txt").write_text("from an older export")
    exported = export_bundle(tiny_checkpoint, bundle, force=True)
    assert {p.name for p in bundle.iterdir()} == BUNDLE_FILES | {"manifest.json"}
    verify_files(bundle)
    assert exported.manifest["version"].split("-")[1] == read_manifest(tiny_bundle)["version"].split("-")[1]

    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("do not delete")
    with pytest.raises(ExportInputError, match="not a bundle"):
        export_bundle(tiny_checkpoint, precious, force=True)
    assert (precious / "thesis.tex").read_text() == "do not delete"


def test_update_metrics_touches_only_the_manifest(tiny_bundle: Path, copy_bundle: Callable[[Path], Path]) -> None:
    bundle = copy_bundle(tiny_bundle)
    before = read_manifest(bundle)
    files_before = {name: sha256(bundle / name) for name in BUNDLE_FILES}
    scores = {"cased_bleu": 38.25, "comparable_bleu": 39.5}
    updated = update_metrics(bundle, {"test_2016_flickr": scores})
    on_disk = read_manifest(bundle)
    assert updated == on_disk
    assert on_disk["metrics"] == {**before["metrics"], "test_2016_flickr": scores}
    assert {k: v for k, v in on_disk.items() if k != "metrics"} == {k: v for k, v in before.items() if k != "metrics"}
    assert {name: sha256(bundle / name) for name in BUNDLE_FILES} == files_before
    verify_files(bundle)

    update_metrics(bundle, {"val": {"cased_bleu": 1.0, "comparable_bleu": 2.0}}, replace=True)
    assert read_manifest(bundle)["metrics"] == {"val": {"cased_bleu": 1.0, "comparable_bleu": 2.0}}


@pytest.mark.parametrize("bad", [{"val": {"cased_bleu": float("nan")}}, {"val": {"cased_bleu": "high"}}, {"val": {}}])
def test_update_metrics_rejects_non_numbers(
    tiny_bundle: Path, copy_bundle: Callable[[Path], Path], bad: dict[str, dict[str, float]]
) -> None:
    bundle = copy_bundle(tiny_bundle)
    before = (bundle / "manifest.json").read_bytes()
    with pytest.raises(ManifestError):
        update_metrics(bundle, bad)
    assert (bundle / "manifest.json").read_bytes() == before


def test_update_metrics_refuses_a_bundle_whose_files_changed(
    tiny_bundle: Path, copy_bundle: Callable[[Path], Path]
) -> None:
    bundle = copy_bundle(tiny_bundle)
    with (bundle / "target.spm").open("ab") as handle:
        handle.write(b"\0")
    before = (bundle / "manifest.json").read_bytes()
    with pytest.raises(ManifestError, match=r"target\.spm does not match"):
        update_metrics(bundle, {"val": {"cased_bleu": 1.0}})
    assert (bundle / "manifest.json").read_bytes() == before


def test_read_manifest_rejects_a_folder_that_is_not_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="not a heed bundle"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text('{"format": "something-else"}')
    with pytest.raises(ManifestError, match="heed-bundle/1"):
        read_manifest(tmp_path)
