"""How right a bundle's word alignments are: AER, precision and recall on gold alignments, beside eflomal's.

    python -m export.align_eval --bundle artifacts/en-de \\
        --gold ../shared/data/alignment-gold/multi30k-val.en-de [--gold ...] [--no-eflomal] [--write]

For each gold set (see export/align_gold.py for the files and the scores), the gold translation of
every sentence is teacher-forced through the bundle exactly as POST /v1/align does
(`Translator.force_decode`), fed as Moses-detokenized text and mapped back onto the gold tokens by
character offsets (export/gold_text.py). The attention is merged into one weight per gold token pair
(`service.runtime.alignment.link_weights`) and every extraction method of the runtime is scored, the
threshold method at the runtime's DEFAULT_THRESHOLD unless --threshold says otherwise; --thresholds
adds one row per listed threshold, to choose it. eflomal's grow-diag-final-and alignment of the same
sentences (export/eflomal_baseline.py) is scored in the same run unless --no-eflomal.

--write records the scores in the bundle's manifest.json under alignment[<gold set name>] (per method
and eflomal: AER, precision and recall in percent; the date and the command); only manifest.json
changes, after the bundle's checksums are verified.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from export.align_gold import AlignmentScores, GoldSet, read_gold, score_alignments
from export.eflomal_baseline import MULTI30K_RAW, default_cache_dir, eflomal_alignments, training_corpus
from export.errors import ExportError, ExportInputError
from export.gold_text import Recaser, Spans, gold_text, original_lines
from export.manifest import read_manifest, utc_now, verify_files, write_manifest
from model.cli import OneLineParser, UsageError
from service.runtime import BundleError, Translator
from service.runtime.alignment import (
    ALIGNMENT_METHODS,
    DEFAULT_THRESHOLD,
    AlignmentMethod,
    FloatArray,
    Link,
    align_words,
    link_weights,
    words_of_pieces,
)
from service.runtime.tokenizer import MAX_SOURCE_PIECES, MAX_TARGET_PIECES

EFLOMAL = "eflomal"


@dataclass(frozen=True)
class SentenceWeights:
    """One gold pair's link weights, (target tokens, source tokens), and whether English is the bundle's source."""

    weights: FloatArray
    english_is_source: bool


@dataclass(frozen=True)
class GoldReport:
    gold: GoldSet
    originals: int  # sentences (both sides counted) fed as their original line
    threshold: float
    rows: dict[str, AlignmentScores]  # method name (or "eflomal", "threshold@T") -> scores

    def manifest_entry(self, command: str) -> dict[str, Any]:
        methods = {name: self.rows[name].percentages() for name in ALIGNMENT_METHODS}
        entry: dict[str, Any] = {
            "sentences": len(self.gold),
            "original_text": f"{self.originals} of {2 * len(self.gold)} sentences (the rest recased)",
            "threshold": self.threshold,
            "methods": methods,
            "date": utc_now().isoformat(),
            "command": command,
        }
        if EFLOMAL in self.rows:
            entry[EFLOMAL] = self.rows[EFLOMAL].percentages()
        return entry


@dataclass(frozen=True)
class FedTexts:
    """What heed is given for each gold sentence, per side, with each gold token's character span in it."""

    english: list[tuple[str, Spans]]
    other: list[tuple[str, Spans]]
    originals: int  # sentences fed as their original line (both sides counted)


def fed_texts(gold: GoldSet, corpus_dir: Path, cache_dir: Path) -> FedTexts:
    """The original lines where the gold set names them, else recased detokenized text (export/gold_text.py)."""
    sides: list[list[tuple[str, Spans]]] = []
    originals = 0
    for language, sentences in (("en", gold.english), (gold.other_language, gold.other)):
        lines = original_lines(gold.prefix, language, corpus_dir)
        if lines is not None and len(lines) != len(gold):
            raise ExportInputError(f"{gold.prefix}.lines names {len(lines)} lines for {len(gold)} gold pairs")
        cased_corpus = corpus_dir / f"train.{language}.gz"
        recaser = Recaser.cached(cased_corpus, language, cache_dir / "recase") if cased_corpus.is_file() else None
        side = []
        for index, tokens in enumerate(sentences):
            text, spans, is_original = gold_text(tokens, language, lines[index] if lines else None, recaser)
            side.append((text, spans))
            originals += is_original
        sides.append(side)
    return FedTexts(sides[0], sides[1], originals)


def _check_same_pieces(pieces: Sequence[str], expected: Sequence[str], where: str) -> None:
    if list(pieces) != list(expected):
        raise RuntimeError(f"{where}: re-segmenting gave other pieces than forced decoding used")


def forced_weights(translator: Translator, gold: GoldSet, texts: FedTexts) -> list[SentenceWeights]:
    """Teacher-forces each gold translation (as /v1/align does) and merges its attention onto the gold tokens."""
    english_is_source = translator.source_language == "en"
    if {translator.source_language, translator.target_language} != {"en", gold.other_language}:
        raise ExportInputError(
            f"the bundle translates {translator.source_language}-{translator.target_language}; "
            f"the gold set {gold.name} is en-{gold.other_language}"
        )
    sources, targets = (texts.english, texts.other) if english_is_source else (texts.other, texts.english)
    translations = translator.force_decode([text for text, _ in sources], [text for text, _ in targets])
    result = []
    for number, (translation, (source, source_spans), (target, target_spans)) in enumerate(
        zip(translations, sources, targets, strict=True), start=1
    ):
        source_segments = translator.source_tokenizer.segment(source, MAX_SOURCE_PIECES)
        target_segments = translator.target_tokenizer.segment(target, MAX_TARGET_PIECES)
        if source_segments.truncated or target_segments.truncated:
            raise ExportInputError(f"{gold.name} pair {number} is longer than heed aligns")
        _check_same_pieces(source_segments.pieces, translation.source_tokens[:-1], gold.name)
        _check_same_pieces(target_segments.pieces, translation.target_tokens[:-1], gold.name)
        weights = link_weights(
            translation.attention,
            words_of_pieces(target_segments.spans, target_spans),
            len(target_spans),
            words_of_pieces(source_segments.spans, source_spans),
            len(source_spans),
        )
        result.append(SentenceWeights(weights, english_is_source))
    return result


def heed_alignments(
    sentences: Sequence[SentenceWeights], method: AlignmentMethod, threshold: float = DEFAULT_THRESHOLD
) -> list[set[Link]]:
    """Each sentence's links as the gold writes them: (English token i, other token j)."""
    aligned = []
    for sentence in sentences:
        links = align_words(sentence.weights, method, threshold)
        aligned.append(set(links) if sentence.english_is_source else {(j, i) for i, j in links})
    return aligned


def evaluate_gold(
    translator: Translator,
    gold: GoldSet,
    corpus_dir: Path,
    cache_dir: Path,
    threshold: float = DEFAULT_THRESHOLD,
    sweep: Sequence[float] = (),
    with_eflomal: bool = True,
) -> GoldReport:
    """Scores every method, and unless told not to eflomal's alignment, on one gold set."""
    texts = fed_texts(gold, corpus_dir, cache_dir)
    sentences = forced_weights(translator, gold, texts)
    rows: dict[str, AlignmentScores] = {
        method: score_alignments(heed_alignments(sentences, method, threshold), gold) for method in ALIGNMENT_METHODS
    }
    for value in sweep:
        rows[f"threshold@{value:g}"] = score_alignments(heed_alignments(sentences, "threshold", value), gold)
    if with_eflomal:
        corpus = training_corpus(corpus_dir, gold.other_language)
        rows[EFLOMAL] = score_alignments(eflomal_alignments(gold, cache_dir / "eflomal", corpus), gold)
    return GoldReport(gold, texts.originals, threshold, rows)


def format_report(report: GoldReport) -> str:
    fed = f"{report.originals} of {2 * len(report.gold)} sentences as their original line, the rest recased"
    lines = [f"{report.gold.name}: {len(report.gold)} pairs ({fed}; threshold {report.threshold:g})"]
    lines.append(f"  {'method':<22} {'AER':>6} {'P':>6} {'R':>6} {'links':>6}")
    for name, scores in report.rows.items():
        shown = scores.percentages()
        lines.append(
            f"  {name:<22} {shown['aer']:6.1f} {shown['precision']:6.1f} {shown['recall']:6.1f} {scores.links:6d}"
        )
    return "\n".join(lines)


def record(bundle: Path, reports: Sequence[GoldReport], command: str) -> None:
    """Writes each gold set's scores under alignment[<name>] in manifest.json, after verifying the checksums."""
    manifest = read_manifest(bundle)
    verify_files(bundle, manifest)
    section = manifest.get("alignment")
    merged = dict(section) if isinstance(section, dict) else {}
    for report in reports:
        merged[report.gold.name] = report.manifest_entry(command)
    manifest["alignment"] = merged
    write_manifest(bundle, manifest)


def _floats(text: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UsageError(f"expected comma-separated numbers, got {text!r}") from None
    if not values or any(not 0.0 <= value < 1.0 for value in values):
        raise UsageError(f"thresholds must lie in [0, 1), got {text!r}")
    return values


def main(argv: Sequence[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m export.align_eval", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", required=True, help="bundle folder, e.g. artifacts/en-de")
    parser.add_argument("--gold", action="append", required=True, help="gold set prefix, e.g. .../multi30k-val.en-de")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD, help="for the threshold method")
    parser.add_argument("--thresholds", default="", help="comma-separated thresholds to score as extra rows")
    parser.add_argument("--no-eflomal", action="store_true", help="leave out eflomal's alignment")
    parser.add_argument(
        "--corpus", type=Path, default=MULTI30K_RAW,
        help="Multi30k's raw folder: train.* for eflomal and recasing, val.* for the original lines",
    )  # fmt: skip
    parser.add_argument("--cache-dir", type=Path, default=None, help="default ~/.cache/heed/align-eval")
    parser.add_argument("--write", action="store_true", help="record the scores in the bundle's manifest.json")
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(arguments)
        sweep = _floats(args.thresholds) if args.thresholds else []
        _floats(str(args.threshold))
        translator = Translator.load(Path(args.bundle))
        cache = args.cache_dir or default_cache_dir()
        reports = [
            evaluate_gold(translator, read_gold(gold), args.corpus, cache, args.threshold, sweep, not args.no_eflomal)
            for gold in args.gold
        ]
        if args.write:
            record(Path(args.bundle), reports, "python -m export.align_eval " + shlex.join(arguments))
    except (ExportError, BundleError, UsageError, ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print("\n\n".join(format_report(report) for report in reports))
    return 0


if __name__ == "__main__":
    sys.exit(main())
