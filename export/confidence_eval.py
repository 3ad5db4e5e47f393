"""How well a translation's confidence tells text like the training data from text unlike it (ROC AUC).

    python -m export.confidence_eval --bundle artifacts/en-de \\
        [--in-domain ../shared/data/multi30k/raw/test_2016_flickr.en.gz] \\
        [--out-of-domain ../shared/data/alignment-gold/hansards.en-fr.en --out-of-domain ...europarl.en-de.en]

Translates the in-domain sentences (raw text; by default Multi30k test_2016_flickr) and the out-of-domain
ones (tokenized, lowercased gold-set sentences; by default the English side of the Hansards and Europarl
gold sets) with the serving runtime at the bundle's default beam, and prints, for each confidence signal
(service/runtime/confidence.py), its mean on both sides and its ROC AUC: the chance that a random
in-domain sentence looks more trustworthy than a random out-of-domain one (higher mean log-probability,
lower attention entropy); 0.5 is no separation, 1.0 perfect.

Both sides are fed alike, so that casing or tokenization cannot give a sentence away: the in-domain
lines are lowercased and Moses-tokenized as the gold sets were, then both sides are recased and
detokenized as `export.align_eval` feeds gold sentences (export/gold_text.py). --raw-in-domain feeds the
in-domain lines as they are instead.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from export.eflomal_baseline import MULTI30K_RAW, default_cache_dir
from export.errors import ExportError
from export.gold_text import Recaser, detokenized
from export.report import translate_all
from model.cli import OneLineParser, UsageError
from model.data import read_lines
from model.evaluate import moses_normalize
from service.runtime import BundleError, Translation, Translator

GOLD = MULTI30K_RAW.parent.parent / "alignment-gold"
DEFAULT_OUT_OF_DOMAIN = (GOLD / "hansards.en-fr.en", GOLD / "europarl.en-de.en")
DEFAULT_IN_DOMAIN = MULTI30K_RAW / "test_2016_flickr.en.gz"

# each signal, read so that higher means more trustworthy
SIGNALS: dict[str, Callable[[Translation], float]] = {
    "mean_log_prob": lambda t: t.confidence.mean_log_prob,
    "attention_entropy": lambda t: -t.confidence.attention_entropy,
}


@dataclass(frozen=True)
class Separation:
    signal: str
    in_domain_mean: float
    out_of_domain_mean: float
    roc_auc: float


def roc_auc(trusted: Sequence[float], distrusted: Sequence[float]) -> float:
    """The chance that a random `trusted` score exceeds a random `distrusted` one, ties counting half."""
    higher = np.asarray(trusted, dtype=np.float64)[:, None]
    lower = np.asarray(distrusted, dtype=np.float64)[None, :]
    return float((higher > lower).mean() + 0.5 * (higher == lower).mean())


def as_gold_text(tokenized: Sequence[str], recaser: Recaser | None) -> list[str]:
    """Tokenized lowercased sentences recased and detokenized, as align_eval feeds gold sentences."""
    texts = []
    for line in tokenized:
        tokens = line.split()
        texts.append(detokenized(recaser.recase(tokens) if recaser else tokens, "en")[0])
    return texts


def of_length(texts: Sequence[str], words: str) -> list[str]:
    """The texts of MIN to MAX whitespace words ("8,20"), so that length cannot tell the sides apart."""
    low, _, high = words.partition(",")
    try:
        least, most = int(low), int(high)
    except ValueError:
        raise UsageError(f"--words takes MIN,MAX, got {words!r}") from None
    kept = [text for text in texts if least <= len(text.split()) <= most]
    if not kept:
        raise UsageError(f"no sentence has {least} to {most} words")
    return kept


def separation(in_domain: Sequence[Translation], out_of_domain: Sequence[Translation]) -> list[Separation]:
    results = []
    for name, read in SIGNALS.items():
        inside, outside = [read(t) for t in in_domain], [read(t) for t in out_of_domain]
        sign = -1.0 if name == "attention_entropy" else 1.0  # report the entropy itself, not its negation
        results.append(
            Separation(name, sign * float(np.mean(inside)), sign * float(np.mean(outside)), roc_auc(inside, outside))
        )
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m export.confidence_eval", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", required=True, help="bundle folder, e.g. artifacts/en-de")
    parser.add_argument("--in-domain", type=Path, default=DEFAULT_IN_DOMAIN, help="raw sentences, plain or .gz")
    parser.add_argument("--out-of-domain", type=Path, action="append", help="tokenized lowercased sentences")
    parser.add_argument("--raw-in-domain", action="store_true", help="feed the in-domain lines as they are")
    parser.add_argument("--recase-corpus", type=Path, default=MULTI30K_RAW / "train.en.gz", help="cased English")
    parser.add_argument("--cache-dir", type=Path, default=None, help="default ~/.cache/heed/align-eval")
    parser.add_argument("--words", default=None, help="MIN,MAX: keep only sentences of so many words, both sides")
    try:
        args = parser.parse_args(argv)
        translator = Translator.load(args.bundle)
        if translator.source_language != "en":
            raise UsageError(f"the sentences are English; the bundle translates from {translator.source_language}")
        cache = (args.cache_dir or default_cache_dir()) / "recase"
        recaser = Recaser.cached(args.recase_corpus, "en", cache) if args.recase_corpus.is_file() else None
        raw = [line for line in read_lines(args.in_domain) if line.strip()]
        inside = raw if args.raw_in_domain else as_gold_text([moses_normalize(line, "en") for line in raw], recaser)
        outside = [
            text
            for path in args.out_of_domain or DEFAULT_OUT_OF_DOMAIN
            for text in as_gold_text([line for line in read_lines(path) if line.strip()], recaser)
        ]
        if args.words:
            inside, outside = (of_length(texts, args.words) for texts in (inside, outside))
        beam = translator.default_beam_size
        results = separation(translate_all(translator, inside, beam), translate_all(translator, outside, beam))
    except (ExportError, BundleError, UsageError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for result in results:
        counts = {"in_domain": len(inside), "out_of_domain": len(outside)}
        means = {
            "in_domain_mean": round(result.in_domain_mean, 4),
            "out_of_domain_mean": round(result.out_of_domain_mean, 4),
        }
        print(json.dumps({"signal": result.signal, **counts, **means, "roc_auc": round(result.roc_auc, 4)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
