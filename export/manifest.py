"""manifest.json: what a bundle holds, what made it, and how well it translates.

`update_metrics` records evaluation results after export; it rewrites only manifest.json, so
every checksummed file stays as it was (and is verified before the manifest is touched).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import tomllib
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from export.errors import ManifestError

MANIFEST_FILE = "manifest.json"
BUNDLE_FORMAT = "heed-bundle/1"
ENCODER_FILE, DECODER_FILE = "encoder.onnx", "decoder.onnx"
SOURCE_SPM, TARGET_SPM = "source.spm", "target.spm"
BUNDLE_FILES = (ENCODER_FILE, DECODER_FILE, SOURCE_SPM, TARGET_SPM)
DEFAULT_DECODING: dict[str, float | int] = {
    "beam_size": 4,
    "length_penalty": 1.0,
    "max_length_ratio": 2.0,
    "max_length_offset": 10,
}  # max_length_ratio/offset match model.decode.max_output_length

Manifest = dict[str, Any]


def file_digest(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"sha256": digest.hexdigest(), "bytes": path.stat().st_size}


def describe_files(folder: Path, names: tuple[str, ...] = BUNDLE_FILES) -> dict[str, dict[str, Any]]:
    return {name: file_digest(folder / name) for name in names}


def bundle_version(folder: Path, created: datetime) -> str:
    """<YYYYMMDD>-<first 8 hex of sha256 over encoder.onnx then decoder.onnx>."""
    digest = hashlib.sha256()
    for name in (ENCODER_FILE, DECODER_FILE):
        digest.update((folder / name).read_bytes())
    return f"{created:%Y%m%d}-{digest.hexdigest()[:8]}"


def heed_version() -> str:
    try:
        return metadata.version("heed")
    except metadata.PackageNotFoundError:  # running from a checkout
        pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
        try:
            return str(tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"])
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return "unknown"


def tool_versions() -> dict[str, str]:
    versions = {name: _installed(name) for name in ("torch", "onnx", "onnxruntime", "sentencepiece")}
    return {**versions, "heed": heed_version()}


def _installed(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown"


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def write_manifest(folder: Path, manifest: Mapping[str, Any]) -> None:
    """Atomic: readers see the old manifest or the new one, never half of one."""
    text = json.dumps(manifest, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    handle, tmp = tempfile.mkstemp(prefix=".manifest-", suffix=".json", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, folder / MANIFEST_FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_manifest(folder: Path) -> Manifest:
    path = folder / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"{folder}: no {MANIFEST_FILE}; not a heed bundle") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ManifestError(f"{path}: unreadable ({error})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        raise ManifestError(f"{path}: not a {BUNDLE_FORMAT} manifest")
    return manifest


def verify_files(folder: Path, manifest: Manifest | None = None) -> None:
    """Raises ManifestError unless every listed file exists with the recorded size and sha256."""
    manifest = read_manifest(folder) if manifest is None else manifest
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise ManifestError(f"{folder}: manifest lists no files")
    for name, recorded in files.items():
        path = folder / name
        if not path.is_file():
            raise ManifestError(f"{folder}: {name} is listed in the manifest but missing")
        if file_digest(path) != recorded:
            raise ManifestError(f"{folder}: {name} does not match its manifest checksum")


def update_metrics(folder: str | Path, metrics: Mapping[str, Mapping[str, float]], replace: bool = False) -> Manifest:
    """Records evaluation scores, e.g. {"test_2016_flickr": {"cased_bleu": 38.1, "comparable_bleu": 39.5}}.

    Merges into the existing metrics (a set's scores are replaced as a whole) unless replace is
    true. Checks the bundle's files first, so scores are never attached to a bundle that changed.
    Returns the updated manifest.
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    verify_files(folder, manifest)
    checked = {name: _checked_scores(name, scores) for name, scores in metrics.items()}
    current = manifest.get("metrics")
    merged = {} if replace or not isinstance(current, dict) else dict(current)
    merged.update(checked)
    manifest["metrics"] = merged
    write_manifest(folder, manifest)
    return manifest


def _checked_scores(name: str, scores: Mapping[str, float]) -> dict[str, float]:
    if not isinstance(name, str) or not name:
        raise ManifestError(f"metric set names must be non-empty strings, got {name!r}")
    if not isinstance(scores, Mapping) or not scores:
        raise ManifestError(f"metrics[{name!r}] must be a non-empty mapping of score names to numbers")
    checked: dict[str, float] = {}
    for key, value in scores.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ManifestError(f"metrics[{name!r}][{key!r}] must be a finite number, got {value!r}")
        checked[str(key)] = float(value)
    return checked
