"""Checkpoint -> ONNX bundle export (`python -m export --help`).

Importing this package is cheap and torch-free: the errors and `export.manifest` (including
`update_metrics`) need neither torch nor ONNX Runtime. The exporter lives in `export.bundle`.
"""

from export.errors import (
    ExportError,
    ExportInputError,
    GraphExportError,
    ManifestError,
    ParityError,
    QuantizationError,
)
from export.manifest import read_manifest, update_metrics, verify_files

__all__ = [
    "ExportError",
    "ExportInputError",
    "GraphExportError",
    "ManifestError",
    "ParityError",
    "QuantizationError",
    "read_manifest",
    "update_metrics",
    "verify_files",
]
