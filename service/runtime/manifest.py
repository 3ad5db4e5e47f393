"""The bundle contract (heed-bundle/1) and the checks a bundle folder passes before anything is loaded.

A bundle is a folder `<src>-<tgt>/` holding `manifest.json`, `encoder.onnx`, `decoder.onnx`,
`source.spm` and `target.spm`. `read_manifest` parses the manifest, checks that every key the
runtime relies on is there with the right type, that the ONNX interface it declares is the
contract's, and that every file it lists exists with the recorded size and sha256.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.runtime.errors import BundleError

BUNDLE_FORMAT = "heed-bundle/1"
MANIFEST_FILE = "manifest.json"
MAX_BEAM_SIZE = 16

# name -> numpy dtype name, in the order the graphs take and give them
ENCODER_INPUTS = {"src_ids": "int64", "src_lengths": "int64"}
ENCODER_OUTPUTS = {"annotations": "float32", "keys": "float32", "init_state": "float32"}
DECODER_INPUTS = {
    "prev_tokens": "int64",
    "state": "float32",
    "annotations": "float32",
    "keys": "float32",
    "src_mask": "bool",
}
DECODER_OUTPUTS = {"log_probs": "float32", "new_state": "float32", "attention": "float32"}

# How a bundle's weights are stored and computed ("quantization" in the manifest; null: float32 throughout).
# INT8_WEIGHTS: int8 weights (per output channel) and uint8 embedding tables behind DequantizeLinear; ONNX
#   Runtime folds them to float32 at load (session_options), so every product is float32 and the answer does
#   not depend on the CPU's int8 kernels or on what else is in the batch.
# INT8_DYNAMIC: the older scheme, activations quantized to uint8 at run time with one scale per call and
#   multiplied by int8 weights with MatMulInteger. Its results depend on the batch (the scale is the batch's)
#   and on the CPU: without VNNI, ONNX Runtime's u8 x s8 kernels add products pairwise in 16 bits, which
#   saturates. Still loaded, with a warning where this CPU saturates (service.runtime.cpu).
INT8_WEIGHTS = "int8-weights"
INT8_DYNAMIC = "int8"
QUANTIZATIONS = (None, INT8_WEIGHTS, INT8_DYNAMIC)

_SHA256 = re.compile(r"[0-9a-f]{64}")
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class GraphEntry:
    file: str
    inputs: dict[str, str]
    outputs: dict[str, str]


@dataclass(frozen=True)
class SpecialTokens:
    pad: int
    unk: int
    bos: int
    eos: int


@dataclass(frozen=True)
class DecodingDefaults:
    beam_size: int
    length_penalty: float
    max_length_ratio: float
    max_length_offset: int


@dataclass(frozen=True)
class ModelShape:
    """The model sizes the runtime checks the graphs and tokenizers against."""

    src_vocab_size: int
    tgt_vocab_size: int
    enc_hidden: int
    dec_hidden: int


@dataclass(frozen=True)
class Manifest:
    folder: Path
    raw: dict[str, Any]
    name: str
    version: str
    source_language: str
    target_language: str
    special_tokens: SpecialTokens
    model: ModelShape
    encoder: GraphEntry
    decoder: GraphEntry
    source_tokenizer: str
    target_tokenizer: str
    decoding: DecodingDefaults
    quantization: str | None  # one of QUANTIZATIONS

    def path(self, file: str) -> Path:
        return self.folder / file


class _Reader:
    """Typed access to the parsed manifest; every failure names the key path."""

    def __init__(self, manifest_path: Path, raw: dict[str, Any]) -> None:
        self.manifest_path = manifest_path
        self.raw = raw

    def fail(self, reason: str) -> BundleError:
        return BundleError(self.manifest_path, reason)

    def value(self, key: str) -> Any:
        node: Any = self.raw
        walked: list[str] = []
        for part in key.split("."):
            if not isinstance(node, dict):
                raise self.fail(f"'{'.'.join(walked)}' must be an object")
            if part not in node:
                raise self.fail(f"missing key '{key}'")
            node = node[part]
            walked.append(part)
        return node

    def text(self, key: str) -> str:
        value = self.value(key)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"'{key}' must be a non-empty string")
        return value

    def integer(self, key: str, minimum: int = 0, maximum: int | None = None) -> int:
        value = self.value(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"'{key}' must be an integer")
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
            raise self.fail(f"'{key}' is {value}; it must be {bound}")
        return value

    def number(self, key: str, minimum: float = 0.0) -> float:
        value = self.value(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(f"'{key}' must be a number")
        if value < minimum:
            raise self.fail(f"'{key}' is {value}; it must be at least {minimum}")
        return float(value)

    def mapping(self, key: str) -> dict[str, Any]:
        value = self.value(key)
        if not isinstance(value, dict):
            raise self.fail(f"'{key}' must be an object")
        return value

    def file_name(self, key: str) -> str:
        name = self.text(key)
        if Path(name).name != name or name in {".", ".."}:
            raise self.fail(f"'{key}' is {name!r}; bundle files must be plain names inside the bundle folder")
        return name

    def graph(self, key: str, inputs: dict[str, str], outputs: dict[str, str]) -> GraphEntry:
        entry = GraphEntry(self.file_name(f"{key}.file"), self.mapping(f"{key}.inputs"), self.mapping(f"{key}.outputs"))
        for side, declared, contract in (("inputs", entry.inputs, inputs), ("outputs", entry.outputs, outputs)):
            if declared != contract:
                raise self.fail(f"'{key}.{side}' is {declared}; the {BUNDLE_FORMAT} contract is {contract}")
        return entry


def _load_json(manifest_path: Path) -> dict[str, Any]:
    if not manifest_path.is_file():
        raise BundleError(manifest_path, "missing; a bundle folder must hold a manifest.json")
    try:
        raw = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise BundleError(manifest_path, f"cannot be read ({error})") from None
    except json.JSONDecodeError as error:
        raise BundleError(manifest_path, f"is not valid JSON ({error})") from None
    if not isinstance(raw, dict):
        raise BundleError(manifest_path, "must hold a JSON object")
    return raw


def _parse(folder: Path, reader: _Reader) -> Manifest:
    found_format = reader.raw.get("format")
    if found_format != BUNDLE_FORMAT:
        raise reader.fail(f"format is {found_format!r}; this runtime reads {BUNDLE_FORMAT!r}")
    for key in ("created_at", "files"):
        reader.value(key)
    quantization = reader.value("quantization")
    if quantization not in QUANTIZATIONS:
        raise reader.fail(f"'quantization' is {quantization!r}; this runtime reads {list(QUANTIZATIONS)}")
    name = reader.text("name")
    if name != folder.name:
        raise reader.fail(f"name {name!r} does not match its folder {folder.name!r}")
    return Manifest(
        folder=folder,
        raw=reader.raw,
        name=name,
        version=reader.text("version"),
        source_language=reader.text("source_language"),
        target_language=reader.text("target_language"),
        special_tokens=SpecialTokens(*(reader.integer(f"special_tokens.{k}") for k in ("pad", "unk", "bos", "eos"))),
        model=ModelShape(
            *(reader.integer(f"model.{k}", 1) for k in ("src_vocab_size", "tgt_vocab_size", "enc_hidden", "dec_hidden"))
        ),
        encoder=reader.graph("onnx.encoder", ENCODER_INPUTS, ENCODER_OUTPUTS),
        decoder=reader.graph("onnx.decoder", DECODER_INPUTS, DECODER_OUTPUTS),
        source_tokenizer=reader.file_name("tokenizers.source"),
        target_tokenizer=reader.file_name("tokenizers.target"),
        decoding=DecodingDefaults(
            beam_size=reader.integer("decoding.beam_size", 1, MAX_BEAM_SIZE),
            length_penalty=reader.number("decoding.length_penalty"),
            max_length_ratio=reader.number("decoding.max_length_ratio"),
            max_length_offset=reader.integer("decoding.max_length_offset"),
        ),
        quantization=quantization,
    )


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _verify_file(reader: _Reader, folder: Path, name: str, entry: Any) -> None:
    if (
        not isinstance(entry, dict)
        or not isinstance(entry.get("sha256"), str)
        or not _SHA256.fullmatch(entry["sha256"])
    ):
        raise reader.fail(f"'files.{name}' must hold a lowercase hex 'sha256'")
    expected_bytes = entry.get("bytes")
    if isinstance(expected_bytes, bool) or not isinstance(expected_bytes, int):
        raise reader.fail(f"'files.{name}' must hold an integer 'bytes'")
    path = folder / name
    if not path.is_file():
        raise BundleError(path, "missing (listed in manifest.json)")
    size = path.stat().st_size
    if size != expected_bytes:
        raise BundleError(path, f"is {size} bytes; manifest.json says {expected_bytes} (truncated or replaced?)")
    actual = sha256_of(path)
    if actual != entry["sha256"]:
        raise BundleError(
            path, f"sha256 mismatch: manifest.json says {entry['sha256'][:12]}…, the file has {actual[:12]}…"
        )


def _verify_files(reader: _Reader, manifest: Manifest) -> None:
    files = reader.mapping("files")
    needed = (manifest.encoder.file, manifest.decoder.file, manifest.source_tokenizer, manifest.target_tokenizer)
    for name in needed:
        if name not in files:
            raise reader.fail(f"'{name}' is not listed under 'files', so its checksum cannot be verified")
    for name, entry in files.items():
        if Path(name).name != name or name == MANIFEST_FILE:
            raise reader.fail(f"'files' lists {name!r}; only plain file names other than {MANIFEST_FILE} may be listed")
        _verify_file(reader, manifest.folder, name, entry)


def read_manifest(folder: str | Path) -> Manifest:
    """Parses and checks `folder/manifest.json` and verifies every file it lists; raises BundleError."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BundleError(folder, "no such bundle folder")
    manifest_path = folder / MANIFEST_FILE
    reader = _Reader(manifest_path, _load_json(manifest_path))
    manifest = _parse(folder, reader)
    _verify_files(reader, manifest)
    return manifest
