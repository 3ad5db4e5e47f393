"""Score a bundle as it is served and record the scores in its manifest.

    python -m export.report --bundle artifacts/en-de \\
        --set val=../shared/data/multi30k/raw/val.en.gz,../shared/data/multi30k/raw/val.de.gz \\
        --set test_2016_flickr=...test_2016_flickr.en.gz,...test_2016_flickr.de.gz [--beam-size N]

Translates each set with the serving runtime (service.runtime, beam search at the bundle's default
beam size unless --beam-size says otherwise), scores it with model.evaluate (both BLEU scores), and
measures how sharp the attention is: the mean, over target tokens, of the largest attention weight
in the token's row ("</s>" rows excluded, since they attend to the end of the source by design).
The scores go into manifest.json under metrics[<set name>]; no checksummed file changes.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from export.errors import ExportError, ExportInputError
from export.manifest import update_metrics
from model.cli import OneLineParser, UsageError
from model.data import CorpusError, read_parallel
from model.evaluate import score
from service.runtime import BundleError, Translation, Translator

CHUNK = 64  # sentences per translate_batch call


@dataclass(frozen=True)
class SetReport:
    name: str
    sentences: int
    beam_size: int
    cased_bleu: float
    comparable_bleu: float
    attention_max_mean: float  # mean over target tokens of the row's largest weight

    def metrics(self) -> dict[str, float]:
        return {
            "cased_bleu": round(self.cased_bleu, 2),
            "comparable_bleu": round(self.comparable_bleu, 2),
            "attention_max_mean": round(self.attention_max_mean, 4),
            "beam_size": float(self.beam_size),
            "sentences": float(self.sentences),
        }


def attention_sharpness(translations: Sequence[Translation]) -> float:
    """Mean of each target token's largest attention weight, "</s>" rows left out."""
    maxima = [t.attention[:-1].max(axis=1) for t in translations if t.attention.shape[0] > 1]
    return float(np.concatenate(maxima).mean()) if maxima else 0.0


def translate_all(translator: Translator, sources: Sequence[str], beam_size: int) -> list[Translation]:
    results: list[Translation] = []
    for start in range(0, len(sources), CHUNK):
        results += translator.translate_batch(sources[start : start + CHUNK], beam_size=beam_size)
    return results


def report_set(translator: Translator, name: str, src: str, ref: str, beam_size: int) -> SetReport:
    try:
        pairs = read_parallel(src, ref)
    except CorpusError as error:
        raise ExportInputError(str(error)) from None
    translations = translate_all(translator, [s for s, _ in pairs], beam_size)
    scores = score([t.text for t in translations], [r for _, r in pairs], translator.target_language)
    return SetReport(
        name, len(pairs), beam_size, scores.cased_bleu, scores.comparable_bleu, attention_sharpness(translations)
    )


def parse_set(value: str) -> tuple[str, str, str]:
    name, _, files = value.partition("=")
    src, _, ref = files.partition(",")
    if not (name and src and ref):
        raise ExportInputError(f"--set takes NAME=SOURCE,REFERENCE, got {value!r}")
    return name, src, ref


def main(argv: Sequence[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m export.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", required=True, help="bundle folder, e.g. artifacts/en-de")
    parser.add_argument("--set", action="append", required=True, dest="sets", help="NAME=SOURCE,REFERENCE")
    parser.add_argument("--beam-size", type=int, default=None, help="default: the bundle's")
    parser.add_argument("--dry-run", action="store_true", help="print the scores, leave the manifest alone")
    try:
        args = parser.parse_args(argv)
        translator = Translator.load(Path(args.bundle))
        beam_size = args.beam_size or translator.default_beam_size
        reports = [report_set(translator, *parse_set(value), beam_size) for value in args.sets]
        if not args.dry_run:
            update_metrics(args.bundle, {r.name: r.metrics() for r in reports})
    except (ExportError, BundleError, UsageError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for r in reports:
        print(json.dumps({"set": r.name, **r.metrics()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
