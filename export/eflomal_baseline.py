"""eflomal, the statistical aligner heed's alignments are compared with, run on a gold set.

eflomal (Östling & Tiedemann 2016; the `eflomal` package of the train extra) is trained on a parallel
corpus (by default Multi30k train of the gold set's pair) plus the gold set's own sentences, in both
directions, and its two directions are symmetrized with grow-diag-final-and (the runtime's
`service.runtime.alignment.grow_diag_final_and`). The corpus is tokenized like the Multi30k gold sets:
lowercased, Moses-punctuation-normalized, Moses-tokenized with escaping (`model.evaluate.moses_normalize`);
the gold sentences are used as they are.

eflomal has no seed option (its sampler seeds itself from /dev/urandom), so two runs can differ a little.
What makes reruns fast and identical is the cache: the gold set's two link files are kept under
`<cache dir>/<sha256 of the inputs and settings>/`, and a run whose inputs are unchanged reads them back.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from export.align_gold import GoldSet
from export.errors import ExportInputError
from model.data import read_lines
from model.evaluate import moses_normalize
from service.runtime.alignment import Link, grow_diag_final_and

REPO = Path(__file__).resolve().parents[1]
MULTI30K_RAW = REPO.parent / "shared" / "data" / "multi30k" / "raw"  # ../shared/data/multi30k/raw
SAMPLERS = 3  # eflomal's default number of independent samplers
FORWARD, BACKWARD = "gold.fwd", "gold.rev"


def default_cache_dir() -> Path:
    """Outside the repository: $XDG_CACHE_HOME/heed/align-eval, else ~/.cache/heed/align-eval."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "heed" / "align-eval"


def training_corpus(corpus_dir: Path, other_language: str) -> tuple[Path, Path]:
    """Multi30k train of the pair in a folder of its raw files: (train.en.gz, train.<other>.gz)."""
    return corpus_dir / "train.en.gz", corpus_dir / f"train.{other_language}.gz"


def _cache_key(english: Sequence[str], other: Sequence[str], gold: GoldSet, tokenize_corpus: bool) -> str:
    digest = hashlib.sha256()
    tokenization = "moses-lc-norm-tok-escape" if tokenize_corpus else "as-given"
    settings = f"eflomal {metadata.version('eflomal')} samplers {SAMPLERS} corpus {tokenization}"
    gold_lines = [*map(" ".join, gold.english), "\0", *map(" ".join, gold.other)]
    for part in (settings, *english, "\0", *other, "\0", *gold_lines):
        digest.update(part.encode("utf-8") + b"\n")
    return digest.hexdigest()


def _run_eflomal(english: list[str], other: list[str], out: Path) -> None:
    """Aligns the line pairs and writes both directions' links (English i, other j) to out/links.{fwd,rev}."""
    from eflomal import Aligner  # type: ignore[import-untyped]  # imported here: only this baseline needs it

    Aligner(n_samplers=SAMPLERS).align(
        english, other, links_filename_fwd=str(out / "links.fwd"), links_filename_rev=str(out / "links.rev")
    )
    for name in ("links.fwd", "links.rev"):
        path = out / name
        if not path.is_file() or len(path.read_text(encoding="utf-8").splitlines()) != len(english):
            raise RuntimeError(f"eflomal wrote no complete {name} (is its binary installed?)")


def _parse(line: str) -> set[Link]:
    links = set()
    for field in line.split():
        i, _, j = field.partition("-")
        links.add((int(i), int(j)))
    return links


def eflomal_alignments(
    gold: GoldSet, cache_dir: Path, corpus: tuple[Path, Path], tokenize_corpus: bool = True
) -> list[set[Link]]:
    """eflomal's grow-diag-final-and links (English i, other j) for each gold sentence pair.

    `corpus` is (English file, other-language file), plain or gzipped, raw text unless `tokenize_corpus`
    is false. Runs are cached under cache_dir.
    """
    english_file, other_file = corpus
    english, other = read_lines(english_file), read_lines(other_file)
    if len(english) != len(other):
        raise ExportInputError(f"{english_file} has {len(english)} lines but {other_file} {len(other)}")
    key = _cache_key(english, other, gold, tokenize_corpus)
    cached = cache_dir / key
    if not (cached / FORWARD).is_file() or not (cached / BACKWARD).is_file():
        if tokenize_corpus:
            english = [moses_normalize(line, "en") for line in english]
            other = [moses_normalize(line, gold.other_language) for line in other]
        _align_into_cache(
            [*english, *map(" ".join, gold.english)], [*other, *map(" ".join, gold.other)], len(gold), cached
        )
    forward = (cached / FORWARD).read_text(encoding="utf-8").splitlines()
    backward = (cached / BACKWARD).read_text(encoding="utf-8").splitlines()
    return [grow_diag_final_and(_parse(f), _parse(b)) for f, b in zip(forward, backward, strict=True)]


def _align_into_cache(english: list[str], other: list[str], gold_pairs: int, cached: Path) -> None:
    """Runs eflomal and keeps the last `gold_pairs` lines of each direction; the cache entry appears whole or not."""
    cached.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".run-", dir=cached.parent))
    try:
        _run_eflomal(english, other, work)
        for source, target in (("links.fwd", FORWARD), ("links.rev", BACKWARD)):
            lines = (work / source).read_text(encoding="utf-8").splitlines()[-gold_pairs:]
            (work / target).write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
            (work / source).unlink()
        try:
            work.rename(cached)
        except OSError:  # another run filled the entry first; theirs is as good
            if not (cached / FORWARD).is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
