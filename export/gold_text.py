"""What text heed is given for a tokenized gold sentence, and where each gold token lies in it.

Gold sentences are lowercased Moses tokens ("a man is riding a bike .", apostrophes escaped as "&apos;").
heed learned cased, untokenized text, and its SentencePiece vocabularies are cased, so it is fed what the
sentence looked like before it was lowercased and tokenized, as far as that can be known:

1. the original line, where the gold set says where it came from (`NAME.lines`: 0-based lines of
   Multi30k val, read from `val.<lang>.gz` in the given folder) and that line holds exactly the gold
   tokens (case and spacing aside);
2. else the Moses-detokenized sentence ("a man is riding a bike."), recased: each lowercase token takes
   its most frequent spelling inside sentences of a cased corpus (Multi30k train: "hund" -> "Hund"), and
   the sentence's first letter is capitalized (`Recaser`).
On the Multi30k val gold sets, step 2 alone scores within about 1 AER point of the original lines, and
feeding the lowercased detokenized text instead costs 5-8 points: casing is what matters.

Each gold token is then found in that text by its characters, in order (XML entities unescaped, case
ignored, whitespace skipped): that gives its character span, and heed's pieces map onto gold tokens by
those spans exactly as they map onto whitespace words in the runtime
(`service.runtime.alignment.words_of_pieces`). Where detokenization changed a token's characters (none of
the four gold sets has such a sentence), the tokens joined by single spaces are fed instead.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import tempfile
from collections import Counter, defaultdict
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from sacremoses import MosesDetokenizer, MosesPunctNormalizer, MosesTokenizer

from model.data import read_lines

Spans = list[tuple[int, int]]


@lru_cache(maxsize=8)
def _detokenizer(language: str) -> MosesDetokenizer:
    return MosesDetokenizer(lang=language)


def token_spans(text: str, tokens: Sequence[str]) -> Spans | None:
    """Each token's (begin, end) in `text`, matched in order by characters, case and spaces aside; None if absent."""
    spans: Spans = []
    position = 0
    for token in tokens:
        while position < len(text) and text[position].isspace():
            position += 1
        begin = position
        for char in token:
            if position >= len(text) or text[position].lower() != char.lower():
                return None
            position += 1
        if position == begin:  # an empty token has no place in the text
            return None
        spans.append((begin, position))
    return spans if not text[position:].strip() else None


class Recaser:
    """Gives lowercase tokens their most frequent spelling inside sentences (not first) of a cased corpus."""

    def __init__(self, spellings: dict[str, str]) -> None:
        self.spellings = spellings  # lowercase token -> its usual spelling, only where that is not lowercase

    @classmethod
    def learn(cls, lines: Sequence[str], language: str) -> Recaser:
        """From raw cased sentences, Moses-normalized and tokenized as the gold sets were (without lowercasing)."""
        normalizer, tokenizer = MosesPunctNormalizer(lang=language), MosesTokenizer(lang=language)
        counts: defaultdict[str, Counter[str]] = defaultdict(Counter)
        for line in lines:
            for token in tokenizer.tokenize(normalizer.normalize(line), escape=True)[1:]:
                counts[token.lower()][token] += 1
        spellings = {}
        for lower, seen in counts.items():
            usual = max(seen, key=lambda spelling: (seen[spelling], spelling == lower))  # ties stay lowercase
            if usual != lower:
                spellings[lower] = usual
        return cls(spellings)

    @classmethod
    def cached(cls, corpus: Path, language: str, cache_dir: Path) -> Recaser:
        """`learn` from a corpus file, kept as JSON under cache_dir by the file's sha256 (learning takes seconds)."""
        lines = read_lines(corpus)
        key = hashlib.sha256("\n".join([language, *lines]).encode("utf-8")).hexdigest()
        path = cache_dir / f"{language}-{key}.json"
        if path.is_file():
            return cls(json.loads(path.read_text(encoding="utf-8")))
        recaser = cls.learn(lines, language)
        cache_dir.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".json")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(recaser.spellings, out, ensure_ascii=False)
        os.replace(tmp, path)
        return recaser

    def recase(self, tokens: Sequence[str]) -> list[str]:
        """Lowercase tokens respelled, tokens with capitals kept, and the first letter of the sentence capitalized."""
        cased = [self.spellings.get(token, token) if token == token.lower() else token for token in tokens]
        if cased:
            cased[0] = cased[0][:1].upper() + cased[0][1:]
        return cased


def detokenized(tokens: Sequence[str], language: str) -> tuple[str, Spans]:
    """The Moses-detokenized sentence and each token's span in it (tokens joined by spaces if that fails)."""
    plain = [html.unescape(token) for token in tokens]
    text = str(_detokenizer(language).detokenize(list(tokens), unescape=True))
    spans = token_spans(text, plain)
    if spans is None:
        text = " ".join(plain)
        spans = token_spans(text, plain)
    if spans is None:  # only a token with whitespace inside it can fail here
        raise ValueError(f"cannot place the tokens of {text!r} in it")
    return text, spans


def gold_text(
    tokens: Sequence[str], language: str, original: str | None = None, recaser: Recaser | None = None
) -> tuple[str, Spans, bool]:
    """The text heed aligns for a gold sentence, each gold token's span in it, and whether it is the original."""
    if original is not None:
        spans = token_spans(original, [html.unescape(token) for token in tokens])
        if spans is not None:
            return original, spans, True
    text, spans = detokenized(recaser.recase(tokens) if recaser else tokens, language)
    return text, spans, False


def original_lines(gold_prefix: Path, language: str, originals_dir: Path) -> list[str] | None:
    """The original sentences of a gold set that names its lines of Multi30k val (NAME.lines); else None."""
    numbers_file = Path(f"{gold_prefix}.lines")
    source = originals_dir / f"val.{language}.gz"
    if not numbers_file.is_file() or not source.is_file():
        return None
    lines = read_lines(source)
    numbers = [int(field) for field in numbers_file.read_text(encoding="utf-8").split()]
    if any(not 0 <= number < len(lines) for number in numbers):
        raise ValueError(f"{numbers_file}: a line number lies outside {source}")
    return [lines[number] for number in numbers]
