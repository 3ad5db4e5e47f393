"""Gold word alignments: reading a gold set and scoring predicted links against it (AER, precision, recall).

A gold set is a triple of line-aligned files sharing a prefix, e.g. `multi30k-val.en-de`: `PREFIX.en` and
`PREFIX.de` hold one tokenized sentence per line (tokens separated by single spaces), `PREFIX.gold` one line
per pair of links `i-j` (Sure) and `ipj` (Possible), 0-based token indices, English index first. The
language pair is read from the prefix's last dot-separated part ("en-de").

Scores (Och & Ney 2003), summed over the whole set before dividing, with A the predicted links, S the
Sure and P the Possible links (every Sure link counts as Possible too):
    AER = 1 - (|A∩S| + |A∩P|) / (|A| + |S|),  precision = |A∩P| / |A|,  recall = |A∩S| / |S|.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from export.errors import ExportInputError
from service.runtime.alignment import Link

_LINK = re.compile(r"(\d+)([-p])(\d+)")
_PAIR = re.compile(r"([a-z]{2,3})-([a-z]{2,3})")


@dataclass(frozen=True)
class GoldSet:
    """Sentences as token lists and links (English token i, other token j); `possible` includes `sure`."""

    name: str
    prefix: Path  # the files are PREFIX.en, PREFIX.<other language>, PREFIX.gold
    other_language: str  # the non-English side
    english: list[list[str]]
    other: list[list[str]]
    sure: list[set[Link]]
    possible: list[set[Link]]

    def __len__(self) -> int:
        return len(self.english)


@dataclass(frozen=True)
class AlignmentScores:
    aer: float
    precision: float
    recall: float
    links: int  # |A|, the predicted links counted

    def percentages(self) -> dict[str, float]:
        return {
            "aer": round(100 * self.aer, 2),
            "precision": round(100 * self.precision, 2),
            "recall": round(100 * self.recall, 2),
        }


def gold_languages(prefix: Path) -> tuple[str, str]:
    """("en", "de") for `.../multi30k-val.en-de`; one side must be English."""
    match = _PAIR.fullmatch(prefix.name.rsplit(".", 1)[-1])
    if not match or "en" not in match.groups() or match.group(1) == match.group(2):
        raise ExportInputError(f"{prefix}: a gold set's name ends in its language pair with English, like .en-de")
    return match.group(1), match.group(2)


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise ExportInputError(f"{path}: cannot read it ({error})") from None


def parse_links(line: str, where: str, english_length: int, other_length: int) -> tuple[set[Link], set[Link]]:
    """The (sure, possible) links of one gold line; possible includes sure."""
    sure: set[Link] = set()
    possible: set[Link] = set()
    for field in line.split():
        match = _LINK.fullmatch(field)
        if not match:
            raise ExportInputError(f"{where}: {field!r} is not a link like 3-4 (Sure) or 3p4 (Possible)")
        link = (int(match.group(1)), int(match.group(3)))
        if link[0] >= english_length or link[1] >= other_length:
            raise ExportInputError(f"{where}: link {field} points past the sentence ({english_length}, {other_length})")
        possible.add(link)
        if match.group(2) == "-":
            sure.add(link)
    return sure, possible


def read_gold(prefix: str | Path) -> GoldSet:
    """Reads PREFIX.en, PREFIX.<other> and PREFIX.gold; ExportInputError names the file and line of any fault."""
    prefix = Path(prefix)
    other_language = next(language for language in gold_languages(prefix) if language != "en")
    english_file, other_file, gold_file = (Path(f"{prefix}.{ext}") for ext in ("en", other_language, "gold"))
    english, other, gold = _lines(english_file), _lines(other_file), _lines(gold_file)
    if not len(english) == len(other) == len(gold) or not english:
        raise ExportInputError(
            f"{prefix}: the gold set's files must have the same, non-zero number of lines "
            f"({len(english)}, {len(other)}, {len(gold)})"
        )
    english_tokens = [line.split() for line in english]
    other_tokens = [line.split() for line in other]
    sure, possible = [], []
    for number, (line, en, xx) in enumerate(zip(gold, english_tokens, other_tokens, strict=True), start=1):
        if not en or not xx:
            raise ExportInputError(f"{english_file if not en else other_file}:{number}: empty sentence")
        links = parse_links(line, f"{gold_file}:{number}", len(en), len(xx))
        sure.append(links[0])
        possible.append(links[1])
    return GoldSet(prefix.name, prefix, other_language, english_tokens, other_tokens, sure, possible)


def score_alignments(predicted: Sequence[set[Link]], gold: GoldSet) -> AlignmentScores:
    """AER, precision and recall of per-sentence links (English i, other j) over the whole set."""
    if len(predicted) != len(gold):
        raise ValueError(f"{len(predicted)} predicted alignments for {len(gold)} gold sentences")
    links = with_sure = with_possible = sure = 0
    for found, gold_sure, gold_possible in zip(predicted, gold.sure, gold.possible, strict=True):
        links += len(found)
        sure += len(gold_sure)
        with_sure += len(found & gold_sure)
        with_possible += len(found & gold_possible)
    aer = 1.0 - (with_sure + with_possible) / (links + sure) if links + sure else 0.0
    precision = with_possible / links if links else 0.0
    recall = with_sure / sure if sure else 0.0
    return AlignmentScores(aer, precision, recall, links)
