"""The two BLEU scores of ../shared/data/multi30k/README.md; every BLEU the project quotes comes from here.

1. cased: sacreBLEU with its default 13a tokenizer, plain output against the raw reference.
2. comparable: both sides lowercased, Moses-punctuation-normalized and Moses-tokenized with
   escaping, then BLEU with no further tokenization; this is how the published Multi30k
   results were scored.

    python -m model.evaluate --hyp HYP --ref REF --lang de
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache

import sacrebleu
from sacremoses import MosesPunctNormalizer, MosesTokenizer

from model.data import CorpusError, read_lines


@dataclass(frozen=True)
class Scores:
    cased_bleu: float
    comparable_bleu: float

    def describe(self) -> str:
        return f"cased sacreBLEU {self.cased_bleu:.2f} | comparable (lc, Moses-tok) BLEU {self.comparable_bleu:.2f}"


@lru_cache(maxsize=8)
def _moses(lang: str) -> tuple[MosesPunctNormalizer, MosesTokenizer]:
    return MosesPunctNormalizer(lang=lang), MosesTokenizer(lang=lang)


def moses_normalize(text: str, lang: str) -> str:
    """Lowercase, normalize punctuation and tokenize as the Multi30k tok/ references were made."""
    normalizer, tokenizer = _moses(lang)
    return str(tokenizer.tokenize(normalizer.normalize(text.lower()), escape=True, return_str=True))


def cased_bleu(hyps: Sequence[str], refs: Sequence[str]) -> float:
    return float(sacrebleu.corpus_bleu(list(hyps), [list(refs)], force=True).score)


def comparable_bleu(hyps: Sequence[str], refs: Sequence[str], lang: str) -> float:
    tok_hyps = [moses_normalize(h, lang) for h in hyps]
    tok_refs = [moses_normalize(r, lang) for r in refs]
    return float(sacrebleu.corpus_bleu(tok_hyps, [tok_refs], tokenize="none", force=True).score)


def score(hyps: Sequence[str], refs: Sequence[str], lang: str) -> Scores:
    if len(hyps) != len(refs):
        raise CorpusError(f"{len(hyps)} hypotheses but {len(refs)} references")
    if not refs:
        raise CorpusError("nothing to score: the reference is empty")
    return Scores(cased_bleu(hyps, refs), comparable_bleu(hyps, refs, lang))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--hyp", required=True, help="system output, one sentence per line (plain or .gz)")
    parser.add_argument("--ref", required=True, help="raw cased reference, one sentence per line (plain or .gz)")
    parser.add_argument("--lang", required=True, help="target language code, for the Moses tokenizer")
    parser.add_argument("--json", action="store_true", help="print the scores as one JSON object")
    args = parser.parse_args(argv)
    try:
        scores = score(read_lines(args.hyp), read_lines(args.ref), args.lang)
    except CorpusError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(asdict(scores)) if args.json else scores.describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())
