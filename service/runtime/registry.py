"""`ModelRegistry`: every bundle under a models folder, by name and by language pair."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from service.runtime.errors import BundleError, UnsupportedPairError
from service.runtime.translator import (
    DEFAULT_INTER_OP_THREADS,
    DEFAULT_INTRA_OP_THREADS,
    DEFAULT_MAX_BATCH_ROWS,
    Translator,
)


@dataclass
class ModelRegistry:
    translators: dict[str, Translator] = field(default_factory=dict)  # by bundle name, "en-de"
    failures: dict[str, str] = field(default_factory=dict)  # bundle folder name -> why it was refused

    @classmethod
    def load_dir(
        cls,
        path: str | Path,
        intra_op_threads: int = DEFAULT_INTRA_OP_THREADS,
        inter_op_threads: int = DEFAULT_INTER_OP_THREADS,
        max_batch_rows: int = DEFAULT_MAX_BATCH_ROWS,
    ) -> ModelRegistry:
        """Loads every bundle subfolder of `path` (hidden ones skipped).

        A bundle that fails its checks is recorded in `.failures[folder name]` with the reason and the
        others still load. A `path` that is not a folder is a BundleError. Bundles are keyed by their
        manifest name, which must equal their folder's name.
        """
        root = Path(path)
        if not root.is_dir():
            raise BundleError(root, "no such models folder")
        registry = cls()
        for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            try:
                registry.add(Translator.load(folder, intra_op_threads, inter_op_threads, max_batch_rows))
            except BundleError as error:
                registry.failures[folder.name] = str(error)
        return registry

    def add(self, translator: Translator) -> None:
        self.translators[translator.name] = translator

    def get(self, source: str, target: str) -> Translator:
        """The bundle for a pair. Where several translate it (say "en-de" and "en-de-int8"), the one named
        exactly "<source>-<target>" wins, else the first by name; the others stay reachable by name."""
        candidates = sorted(
            (t for t in self.translators.values() if (t.source_language, t.target_language) == (source, target)),
            key=lambda t: (t.name != f"{source}-{target}", t.name),
        )
        if not candidates:
            raise UnsupportedPairError(source, target, (f"{s}-{t}" for s, t in self.pairs()))
        return candidates[0]

    def pairs(self) -> list[tuple[str, str]]:
        return sorted({(t.source_language, t.target_language) for t in self.translators.values()})
