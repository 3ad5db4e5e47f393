"""Building bundles: checkpoint -> checked float32 bundle, float32 bundle -> checked int8 bundle.

Every bundle is written into a hidden staging folder beside its destination, checked there, and
only then renamed into place, so a failed export never leaves a half-written or unchecked bundle
where a server would load it. An existing destination is replaced only with force=True, and only
when it is a bundle (or empty). `unpublished_destination` gives a checked float32 bundle that is never
published (the source of an int8-only export) a place that is removed afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx
import sentencepiece as spm
import torch

from export.defaults import DEFAULT_CHECK_LIMIT, DEFAULT_MIN_INT8_AGREEMENT, DEFAULT_OPSET
from export.errors import ExportInputError, ManifestError
from export.graphs import GraphSpec, export_graphs
from export.manifest import (
    BUNDLE_FILES,
    BUNDLE_FORMAT,
    DECODER_FILE,
    DEFAULT_DECODING,
    ENCODER_FILE,
    MANIFEST_FILE,
    SOURCE_SPM,
    TARGET_SPM,
    Manifest,
    bundle_version,
    describe_files,
    read_manifest,
    tool_versions,
    utc_now,
    verify_files,
    write_manifest,
)
from export.onnx_runner import OnnxSeq2Seq, SpecialIds
from export.parity import AgreementReport, ParityReport, check_agreement, check_parity
from export.quantize import quantize_graph, weights_only_file
from export.sentences import BUILT_IN_SENTENCES, check_sentences, encode_sources
from model.checkpoint import CheckpointError, LoadedCheckpoint, load_checkpoint
from model.data import CorpusError, load_sentencepiece, read_parallel
from model.decode import max_output_length
from model.evaluate import Scores, score
from service.runtime.manifest import INT8_DYNAMIC, INT8_WEIGHTS

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class ExportedBundle:
    path: Path
    manifest: Manifest
    sentences: list[str]  # what the self-check translated
    check_source: str  # where those sentences came from
    parity: ParityReport | None = None  # float32 bundles
    agreement: AgreementReport | None = None  # int8 bundles


def int8_bundle_path(fp32_bundle: Path) -> Path:
    """artifacts/en-de -> artifacts/en-de-int8."""
    return fp32_bundle.with_name(f"{fp32_bundle.name}-int8")


def load_for_export(checkpoint: str | Path) -> LoadedCheckpoint:
    try:
        loaded = load_checkpoint(checkpoint)
    except CheckpointError as error:
        raise ExportInputError(str(error)) from None
    except (KeyError, TypeError, ValueError, RuntimeError) as error:  # right format tag, wrong contents
        raise ExportInputError(f"{checkpoint}: not a usable checkpoint ({type(error).__name__}: {error})") from None
    config = loaded.model.config
    for side, processor, size in (
        ("source", loaded.src_sp, config.src_vocab_size),
        ("target", loaded.tgt_sp, config.tgt_vocab_size),
    ):
        if processor.get_piece_size() != size:
            raise ExportInputError(
                f"{checkpoint}: the {side} SentencePiece model has {processor.get_piece_size()} pieces "
                f"but the model's vocabulary has {size}"
            )
    return loaded


def export_bundle(
    checkpoint: str | Path,
    out: str | Path,
    *,
    opset: int = DEFAULT_OPSET,
    check_src: str | Path | None = None,
    check_limit: int = DEFAULT_CHECK_LIMIT,
    force: bool = False,
    progress: Progress = _quiet,
) -> ExportedBundle:
    """Exports a checkpoint to a float32 bundle at out, after checking it against PyTorch."""
    out = Path(out)
    check_destination(out, force)
    loaded = load_for_export(checkpoint)
    model = loaded.model.eval()
    sentences, source = check_sentences(
        Path(check_src) if check_src is not None else None, loaded.train_args, loaded.src_lang, check_limit
    )
    with _staging(out) as folder:
        progress(f"exporting {model.num_parameters():,} parameters with opset {opset}")
        specs = export_graphs(model, folder, opset)
        (folder / SOURCE_SPM).write_bytes(loaded.src_spm_bytes)
        (folder / TARGET_SPM).write_bytes(loaded.tgt_spm_bytes)
        special = SpecialIds(pad=model.config.pad_id, bos=model.config.bos_id, eos=model.config.eos_id)
        runner = _runner(folder, specs, special)
        progress(f"checking ONNX Runtime against PyTorch on {len(sentences)} sentences from {source}")
        source_ids = encode_sources(loaded.src_sp, sentences, model.config.eos_id)
        with torch.no_grad():
            parity = check_parity(model, runner, sentences, source_ids, max_output_length)
        manifest = _fp32_manifest(folder, loaded, specs)
        write_manifest(folder, manifest)
        verify_files(folder, manifest)
        _publish(folder, out, force)
    return ExportedBundle(out, manifest, sentences, source, parity=parity)


@contextmanager
def unpublished_destination(out: str | Path) -> Iterator[Path]:
    """Where to export a bundle that is checked but never published (the float32 source of an int8-only
    export): a path inside a hidden folder beside out, removed on exit, also on failure."""
    out = Path(out)
    with _staging(out, "float32") as scratch:
        yield scratch / out.name


def quantize_bundle(
    fp32_bundle: str | Path,
    out: str | Path | None = None,
    *,
    name: str | None = None,
    sentences: Sequence[str] | None = None,
    min_agreement: float = DEFAULT_MIN_INT8_AGREEMENT,
    parity: ParityReport | None = None,
    force: bool = False,
    progress: Progress = _quiet,
) -> ExportedBundle:
    """Writes an int8 copy of a float32 bundle (by default beside it, named <name>-int8).

    name is the int8 bundle's manifest name (default: the float32 name + "-int8"). The int8 greedy
    outputs must match the float32 bundle's on at least min_agreement of the sentences (by default
    the built-in sentences of the source language). The manifest's "quantized_from" records the
    float32 bundle's name and version, its parity with PyTorch (parity, when given) and the agreement.
    """
    fp32_bundle = Path(fp32_bundle)
    out = int8_bundle_path(fp32_bundle) if out is None else Path(out)
    check_destination(out, force)
    fp32_manifest = read_manifest(fp32_bundle)
    verify_files(fp32_bundle, fp32_manifest)
    if fp32_manifest.get("quantization") is not None:
        raise ExportInputError(f"{fp32_bundle} is already quantized ({fp32_manifest['quantization']})")
    if sentences is None:
        sentences = list(BUILT_IN_SENTENCES.get(fp32_manifest["source_language"], ()))
    if not sentences:
        raise ExportInputError("no sentences to compare the int8 bundle with")
    with _staging(out) as folder:
        progress("quantizing weights to int8 (weight-only; activations stay float32)")
        agreement = _rewritten_graphs(fp32_bundle, folder, quantize_graph, sentences, min_agreement, progress)
        quantized_from = {
            "name": fp32_manifest["name"],
            "version": fp32_manifest["version"],
            "parity": parity.summary() if parity is not None else None,
            "int8_agreement": agreement.summary(),
        }
        manifest = _int8_manifest(folder, fp32_manifest, name, quantized_from)
        write_manifest(folder, manifest)
        verify_files(folder, manifest)
        _publish(folder, out, force)
    return ExportedBundle(out, manifest, list(sentences), "given sentences", agreement=agreement)


def upgrade_bundle(bundle: str | Path, *, min_agreement: float = 1.0, progress: Progress = _quiet) -> ExportedBundle:
    """Rewrites, in place, a bundle whose activations were quantized at run time ("quantization": "int8")
    as a weight-only int8 bundle with exactly the same int8 weights (export.quantize).

    The old graphs' greedy outputs on a VNNI CPU and the new graphs' must agree on at least min_agreement
    of the built-in sentences. Scores move a little (activations are no longer rounded), so the manifest's
    metrics are dropped: rerun export.report. "upgraded_from" records the old version and its scores.
    """
    bundle = Path(bundle)
    old_manifest = read_manifest(bundle)
    verify_files(bundle, old_manifest)
    if old_manifest.get("quantization") != INT8_DYNAMIC:
        raise ExportInputError(f"{bundle} is not a run-time quantized int8 bundle ({old_manifest.get('quantization')})")
    sentences = list(BUILT_IN_SENTENCES.get(old_manifest["source_language"], ()))
    with _staging(bundle, "upgrade") as folder:
        progress("rewriting the int8 graphs as weight-only int8")
        agreement = _rewritten_graphs(bundle, folder, weights_only_file, sentences, min_agreement, progress)
        manifest = _upgraded_manifest(folder, old_manifest, agreement)
        write_manifest(folder, manifest)
        verify_files(folder, manifest)
        _publish(folder, bundle, force=True)
    return ExportedBundle(bundle, manifest, sentences, "built-in sentences", agreement=agreement)


def _rewritten_graphs(
    source: Path,
    folder: Path,
    rewrite: Callable[[Path, Path], object],
    sentences: Sequence[str],
    min_agreement: float,
    progress: Progress,
) -> AgreementReport:
    """Writes source's graphs through `rewrite` into folder beside copies of its tokenizers, and checks that
    the new graphs' greedy outputs agree with the source bundle's on the sentences."""
    for file in (ENCODER_FILE, DECODER_FILE):
        rewrite(source / file, folder / file)
    for file in (SOURCE_SPM, TARGET_SPM):
        shutil.copyfile(source / file, folder / file)
    reference, src_sp, _ = open_bundle(source)
    candidate = _runner_from_manifest(folder, read_manifest(source))
    source_ids = encode_sources(src_sp, sentences, reference.special.eos)
    progress(f"comparing the new graphs' greedy outputs with {source.name}'s on {len(sentences)} sentences")
    return check_agreement(reference, candidate, source_ids, max_output_length, min_agreement)


def _upgraded_manifest(folder: Path, old: Manifest, agreement: AgreementReport) -> Manifest:
    created = utc_now()
    manifest: Manifest = json.loads(json.dumps(old))
    manifest.update(
        version=bundle_version(folder, created),
        created_at=created.isoformat().replace("+00:00", "Z"),
        quantization=INT8_WEIGHTS,
        files=describe_files(folder, BUNDLE_FILES),
        tools=tool_versions(),
        metrics={},
        upgraded_from=_json_safe(
            {
                "version": old["version"],
                "quantization": old["quantization"],
                "metrics": old.get("metrics", {}),
                "greedy_agreement": agreement.summary(),
            }
        ),
    )
    return manifest


def open_bundle(
    folder: str | Path, verify: bool = True
) -> tuple[OnnxSeq2Seq, spm.SentencePieceProcessor, spm.SentencePieceProcessor]:
    """ONNX Runtime graphs and both tokenizers of a bundle, checked against its manifest unless verify=False."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    if verify:
        verify_files(folder, manifest)
    runner = _runner_from_manifest(folder, manifest)
    tokenizers = manifest["tokenizers"]
    src_sp = load_sentencepiece((folder / tokenizers["source"]).read_bytes())
    tgt_sp = load_sentencepiece((folder / tokenizers["target"]).read_bytes())
    return runner, src_sp, tgt_sp


def translate_with_bundle(folder: str | Path, sentences: Sequence[str]) -> list[str]:
    """Greedy translations by ONNX Runtime alone, as the bundle would serve them."""
    runner, src_sp, tgt_sp = open_bundle(folder)
    source_ids = encode_sources(src_sp, sentences, runner.special.eos)
    return [tgt_sp.decode(ids) for ids in runner.translate_ids(source_ids, max_output_length)]


def score_bundle(folder: str | Path, valid_src: str | Path, valid_tgt: str | Path) -> Scores:
    """Greedy BLEU of a bundle on a parallel set, by model.evaluate.score."""
    try:
        pairs = read_parallel(valid_src, valid_tgt)
    except CorpusError as error:
        raise ExportInputError(str(error)) from None
    hyps = translate_with_bundle(folder, [source for source, _ in pairs])
    return score(hyps, [target for _, target in pairs], read_manifest(Path(folder))["target_language"])


def _runner(folder: Path, specs: tuple[GraphSpec, GraphSpec], special: SpecialIds) -> OnnxSeq2Seq:
    encoder, decoder = specs
    return OnnxSeq2Seq.load(
        folder,
        (encoder.input_dtypes(), encoder.output_dtypes()),
        (decoder.input_dtypes(), decoder.output_dtypes()),
        special,
    )


def _runner_from_manifest(folder: Path, manifest: Manifest) -> OnnxSeq2Seq:
    try:
        graphs = manifest["onnx"]
        encoder = (graphs["encoder"]["inputs"], graphs["encoder"]["outputs"])
        decoder = (graphs["decoder"]["inputs"], graphs["decoder"]["outputs"])
        special = _special_ids(manifest["special_tokens"])
    except (KeyError, TypeError) as error:
        raise ManifestError(f"{folder}: manifest lacks {error}") from None
    return OnnxSeq2Seq.load(folder, encoder, decoder, special)


def _special_ids(tokens: dict[str, Any]) -> SpecialIds:
    """From the manifest's special_tokens."""
    return SpecialIds(pad=int(tokens["pad"]), bos=int(tokens["bos"]), eos=int(tokens["eos"]))


def _graph_opset(path: Path) -> int:
    graph_model = onnx.load(str(path), load_external_data=False)
    return int(max(entry.version for entry in graph_model.opset_import if entry.domain in ("", "ai.onnx")))


def _graph_entry(spec: GraphSpec) -> dict[str, Any]:
    return {"file": spec.file, "inputs": spec.input_dtypes(), "outputs": spec.output_dtypes()}


def _fp32_manifest(folder: Path, loaded: LoadedCheckpoint, specs: tuple[GraphSpec, GraphSpec]) -> Manifest:
    created = utc_now()
    config = loaded.model.config
    best_scores = loaded.progress.get("best_scores")
    return {
        "format": BUNDLE_FORMAT,
        "name": f"{loaded.src_lang}-{loaded.tgt_lang}",
        "version": bundle_version(folder, created),
        "source_language": loaded.src_lang,
        "target_language": loaded.tgt_lang,
        "created_at": created.isoformat().replace("+00:00", "Z"),
        "special_tokens": {"pad": config.pad_id, "unk": config.unk_id, "bos": config.bos_id, "eos": config.eos_id},
        "model": {**config.to_dict(), "parameters": loaded.model.num_parameters()},
        "onnx": {
            "opset": _graph_opset(folder / ENCODER_FILE),
            "encoder": _graph_entry(specs[0]),
            "decoder": _graph_entry(specs[1]),
        },
        "tokenizers": {"source": SOURCE_SPM, "target": TARGET_SPM},
        "quantization": None,
        "decoding": dict(DEFAULT_DECODING),
        "files": describe_files(folder, BUNDLE_FILES),
        "tools": tool_versions(),
        "training": _training(loaded),
        "metrics": {"val": _json_safe(best_scores)} if isinstance(best_scores, dict) and best_scores else {},
    }


def _int8_manifest(folder: Path, fp32_manifest: Manifest, name: str | None, quantized_from: dict[str, Any]) -> Manifest:
    created = utc_now()
    manifest: Manifest = json.loads(json.dumps(fp32_manifest))
    manifest.update(
        name=f"{fp32_manifest['name']}-int8" if name is None else name,
        version=bundle_version(folder, created),
        created_at=created.isoformat().replace("+00:00", "Z"),
        quantization=INT8_WEIGHTS,
        files=describe_files(folder, BUNDLE_FILES),
        tools=tool_versions(),
        metrics={},  # the float model's scores do not describe the int8 one
        quantized_from=_json_safe(quantized_from),
    )
    manifest["onnx"]["opset"] = _graph_opset(folder / ENCODER_FILE)
    return manifest


def _training(loaded: LoadedCheckpoint) -> dict[str, Any]:
    progress = loaded.progress
    return {
        "train_args": _json_safe(loaded.train_args),
        "epochs": int(progress.get("epoch", 0)),
        "best_epoch": int(progress.get("best_epoch", 0)),
        "elapsed_seconds": round(float(progress.get("elapsed_seconds", 0.0)), 1),
    }


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def check_destination(out: Path, force: bool) -> None:
    """Raises ExportInputError unless out may be written: absent, or (with force) an old bundle or empty."""
    if not out.exists():
        return
    if not force:
        raise ExportInputError(f"{out} already exists; pass --force to replace it")
    if not out.is_dir() or (any(out.iterdir()) and not (out / MANIFEST_FILE).is_file()):
        raise ExportInputError(f"{out} exists and is not a bundle; refusing to replace it")


@contextmanager
def _staging(out: Path, label: str = "partial") -> Iterator[Path]:
    out.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f".{out.name}.{label}-", dir=out.parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # gone already when it was published


def _publish(folder: Path, out: Path, force: bool) -> None:
    """Renames the checked staging folder into place; replaces an old bundle only with force."""
    check_destination(out, force)
    folder.chmod(0o755)  # mkdtemp made it private; a server under another user must read it
    if not out.exists():
        os.rename(folder, out)
        return
    retired = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
    os.rename(out, retired)
    os.rename(folder, out)
    shutil.rmtree(retired, ignore_errors=True)
