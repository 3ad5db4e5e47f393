"""Splitting a text into paragraphs and sentences without losing a character.

Every sentence is a (start, end) span of the original text, trimmed of whitespace. Everything between them (spaces,
`\\n`, `\\r\\n`, blank lines, the text's leading and trailing whitespace) is kept as it was, so that
`Segmentation.reassemble` puts translated sentences back into the input's layout. Line breaks are always
boundaries (a subtitle or poem line is its own segment); blank lines also start a new paragraph.

Within a line, sentences are found by sentence-splitter: the Moses sentence splitter's rules (Koehn and Schroeder),
with each language's non-breaking prefixes ("Dr.", "e.g.", "z. B.", "p. ex.") shipped in the package for 24
languages, Czech included; nothing is downloaded. It was chosen by `python -m bench.text_tools segment`
(bench/results/text-tools.md) over pysbd, syntok and a punctuation regex, on paragraphs of 3-8 consecutive Multi30k
validation sentences in en, de and fr and on hand-written sentences full of abbreviations, decimals, ellipses and
quotes:

- On Multi30k paragraphs every candidate is near perfect (boundary F1 0.996-1.000); the hand-written ones decide.
- There the Moses splitter has the best mean boundary F1 (en 0.938, de 0.917, fr 0.952; pysbd 0.941, 0.960, 0.833;
  syntok 0.968, 0.846, 0.750; the regex 0.889, 0.786, 0.833). pysbd splits French after "p." of "p. ex.", "av."
  and "Dr.", and does not know Czech at all.
- It is 2-4 times faster than pysbd (about 1-2 ms per 1000 characters).

Its known misses, kept in the benchmark: no boundary after "etc." or a closing German quote followed by a new
sentence, and a false one after "Hauptstr." before a number. Languages it has no list for use its English rules.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sentence_splitter import SentenceSplitter

# Line breaks as Python's str.splitlines knows them, with \r\n as one break.
_LINE_BREAK = re.compile(r"\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
_MOSES_LANGUAGES = frozenset(
    {"ca", "cs", "da", "de", "el", "en", "es", "fi", "fr", "hu", "is", "it", "lt", "lv", "nl", "no", "pl", "pt", "ro",
     "ru", "sk", "sl", "sv", "tr"}
)  # fmt: skip

Splitter = Callable[[str], list[str]]


@dataclass(frozen=True)
class Sentence:
    start: int
    end: int
    paragraph: int  # 0 for the first paragraph; blank lines start the next


@dataclass(frozen=True)
class Segmentation:
    text: str
    sentences: tuple[Sentence, ...]

    def texts(self) -> list[str]:
        return [self.text[sentence.start : sentence.end] for sentence in self.sentences]

    def gaps(self) -> list[str]:
        """The text around the sentences: before the first, between each two, after the last (one more than them)."""
        edges = [0, *(edge for sentence in self.sentences for edge in (sentence.start, sentence.end)), len(self.text)]
        return [self.text[edges[index] : edges[index + 1]] for index in range(0, len(edges), 2)]

    def reassemble(self, outputs: Sequence[str]) -> str:
        """The text with each sentence replaced by its output, every gap kept as it was."""
        return self.layout(outputs)[0]

    def layout(self, outputs: Sequence[str]) -> tuple[str, list[tuple[int, int]]]:
        """The reassembled text, and the (start, end) of each output in it."""
        if len(outputs) != len(self.sentences):
            raise ValueError(f"{len(outputs)} outputs for {len(self.sentences)} sentences")
        gaps = self.gaps()
        parts = [gaps[0]]
        spans = []
        cursor = len(gaps[0])
        for output, gap in zip(outputs, gaps[1:], strict=True):
            parts += [output, gap]
            spans.append((cursor, cursor + len(output)))
            cursor += len(output) + len(gap)
        return "".join(parts), spans


def piece_spans(text: str, pieces: Sequence[str]) -> list[tuple[int, int]]:
    """Where a splitter's pieces lie in `text`, matched by their non-whitespace characters, so that a splitter that
    trims or collapses whitespace still maps back exactly. A splitter that changed any other character is not
    trusted: the whole text is then one span."""
    visible = [index for index, char in enumerate(text) if not char.isspace()]
    if not visible:
        return []
    whole = [(visible[0], visible[-1] + 1)]
    spans = []
    taken = 0
    for piece in pieces:
        chars = [char for char in piece if not char.isspace()]
        if not chars:
            continue
        if taken + len(chars) > len(visible) or any(
            text[visible[taken + offset]] != char for offset, char in enumerate(chars)
        ):
            return whole
        spans.append((visible[taken], visible[taken + len(chars) - 1] + 1))
        taken += len(chars)
    return spans if taken == len(visible) else whole


@functools.cache
def splitter_for(language: str) -> Splitter:
    """The sentence splitter used for a language (see the module docstring for the choice)."""
    code = language.lower().split("-")[0].split("_")[0]
    splitter = SentenceSplitter(language=code if code in _MOSES_LANGUAGES else "en")
    split: Splitter = splitter.split
    return split


def _lines(text: str) -> list[tuple[int, int]]:
    """(start, end) of every line, without its line break."""
    lines = []
    start = 0
    for match in _LINE_BREAK.finditer(text):
        lines.append((start, match.start()))
        start = match.end()
    lines.append((start, len(text)))
    return lines


def segment(text: str, language: str, splitter: Splitter | None = None) -> Segmentation:
    """The text's sentences, line by line; `splitter` (default: splitter_for(language)) splits within a line."""
    split = splitter or splitter_for(language)
    sentences: list[Sentence] = []
    paragraph = 0
    blank_since_last = False
    for line_start, line_end in _lines(text):
        line = text[line_start:line_end]
        if not line.strip():
            blank_since_last = True
            continue
        if blank_since_last and sentences:
            paragraph += 1
        blank_since_last = False
        for start, end in piece_spans(line, split(line.strip())):
            sentences.append(Sentence(line_start + start, line_start + end, paragraph))
    return Segmentation(text, tuple(sentences))


# Where a sentence too long for the model may be cut, best first: after a clause's punctuation, then at any space.
_CLAUSE_END = re.compile(r"[,;:]\s+|\s+[\u2013\u2014-]\s+")
_SPACE = re.compile(r"\s+")


def _longest_fitting(text: str, start: int, ends: Sequence[int], fits: Callable[[str], bool]) -> int | None:
    """The largest end in `ends` (ascending, all > start) whose part text[start:end] fits; None if none does.
    Pieces grow with the characters, so a binary search finds it."""
    low, high, best = 0, len(ends) - 1, None
    while low <= high:
        middle = (low + high) // 2
        if fits(text[start : ends[middle]].strip()):
            best, low = ends[middle], middle + 1
        else:
            high = middle - 1
    return best


def _cut(text: str, start: int, fits: Callable[[str], bool]) -> int:
    """Where the part of `text` from `start` ends: at the latest clause end that fits, else the latest space, else
    the most characters that fit (at least one, so every part makes progress)."""
    for pattern in (_CLAUSE_END, _SPACE):
        ends = [match.start() if pattern is _SPACE else match.end() for match in pattern.finditer(text, start)]
        found = _longest_fitting(text, start, [end for end in ends if end > start], fits)
        if found is not None:
            return found
    found = _longest_fitting(text, start, list(range(start + 1, len(text))), fits)
    return found if found is not None else start + 1


def _parts(text: str, fits: Callable[[str], bool]) -> list[tuple[int, int]]:
    """(start, end) of consecutive parts of `text` (a trimmed sentence), each fitting, whitespace between them left
    out; the parts and the gaps between them give back the whole text."""
    parts = []
    start = 0
    while not fits(text[start:]):
        end = _cut(text, start, fits)
        trimmed = len(text[start:end].rstrip())
        parts.append((start, start + max(trimmed, 1)))
        start = end + (len(text[end:]) - len(text[end:].lstrip()))
    parts.append((start, len(text)))
    return parts


def fit(segmentation: Segmentation, fits: Callable[[str], bool]) -> Segmentation:
    """The segmentation with every sentence that does not fit (too many pieces for the model to read) cut into
    parts that do: after clause punctuation where it can, else at a space, else inside a word. Nothing of the
    text is left out, and reassembling puts the parts' outputs back with the whitespace between them."""
    sentences: list[Sentence] = []
    for sentence in segmentation.sentences:
        text = segmentation.text[sentence.start : sentence.end]
        if fits(text):
            sentences.append(sentence)
            continue
        for start, end in _parts(text, fits):
            sentences.append(Sentence(sentence.start + start, sentence.start + end, sentence.paragraph))
    return Segmentation(segmentation.text, tuple(sentences))
