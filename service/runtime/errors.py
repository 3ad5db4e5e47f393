"""The two errors the runtime raises on purpose; everything else is a bug."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


class BundleError(Exception):
    """A bundle folder that cannot be served, naming the file at fault and why.

    `str(error)` reads like "en-de/decoder.onnx: sha256 mismatch (...)": the bundle folder's
    name, the file inside it, and a reason a person can act on.
    """

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.display_path}: {reason}")

    @property
    def display_path(self) -> str:
        """The file with its bundle folder in front ("en-de/manifest.json"), or the folder itself."""
        parent = self.path.parent.name
        return f"{parent}/{self.path.name}" if parent else self.path.name

    @property
    def file(self) -> str:
        return self.path.name


class UnsupportedPairError(KeyError):
    """No loaded bundle translates this language pair; `.pairs` lists the ones that exist ("en-de")."""

    def __init__(self, source: str, target: str, pairs: Iterable[str]) -> None:
        self.source = source
        self.target = target
        self.pairs = sorted(pairs)
        super().__init__(f"{source}-{target}")

    def __str__(self) -> str:  # KeyError would quote the key
        available = ", ".join(self.pairs) if self.pairs else "none"
        return f"no model translates {self.source}-{self.target}; available pairs: {available}"
