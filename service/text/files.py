"""Text files cut into what is translated and what is kept byte for byte: plain text (.txt) and subtitles (.srt,
.vtt). HTML files (.html, .htm) are among the FORMATS too, but are cut by service.text.markup, not here, and so are
office documents and e-books (.docx, .pptx, .odt, .epub: binary zip containers), read by service.text.office.

A file becomes a list of pieces whose concatenation is exactly the file's text. Only the pieces marked
`translate` change; everything else (a byte-order mark, cue numbers and identifiers, timing lines, the WEBVTT
header, NOTE, STYLE and REGION blocks, blank lines, every line ending, and styling tags that open or close a cue,
such as `<i>` or `{\\an8}`) is copied unchanged.

SubRip and WebVTT share the one rule that matters here: blocks are separated by blank lines, and in a cue block
the line holding `-->` is the timing line, everything before it is the number or identifier and everything after
it is the cue's text. A block without `-->` (the WEBVTT header, NOTE, STYLE, REGION) is not a cue. Maintained
parsers (`srt`, `webvtt-py`) rebuild files from parsed cues and so normalise numbering, timings and line endings,
which is why heed cuts the text itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from service.text.office import OFFICE_FORMATS

BOM = "\ufeff"
PLAIN_TEXT = ".txt"
SUBTITLES = (".srt", ".vtt")
HTML = (".html", ".htm")
FORMATS = (PLAIN_TEXT, *SUBTITLES, *HTML, *OFFICE_FORMATS)

# Tags that open a cue's text (`<i>`, `<font color="red">`, `{\an8}`, `<v Speaker>`) or close it (`</i>`).
_LEADING_TAGS = re.compile(r"^(?:\s*(?:<[^<>\r\n]*>|\{[^{}\r\n]*\}))+")
_TRAILING_TAGS = re.compile(r"(?:(?:<[^<>\r\n]*>|\{[^{}\r\n]*\})\s*)+$")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class Piece:
    text: str
    translate: bool


def _kept(text: str) -> Piece:
    return Piece(text, translate=False)


def _content(text: str, *, tags: bool) -> list[Piece]:
    """A run of text with its surrounding whitespace (and with `tags`, the tags around it) kept and the rest to
    translate."""
    leading = _LEADING_TAGS.match(text) if tags else None
    start = leading.end() if leading else 0
    trailing = _TRAILING_TAGS.search(text, start) if tags else None
    end = trailing.start() if trailing else len(text)
    inner = text[start:end]
    core = inner.strip()
    if not core:
        return [_kept(text)]
    left = start + inner.index(core)
    right = left + len(core)
    pieces = [_kept(text[:left]), Piece(core, translate=True), _kept(text[right:])]
    return [piece for piece in pieces if piece.text]


def _line_content(line: str) -> str:
    return line.rstrip("\r\n")


def _plain_text(text: str) -> list[Piece]:
    """Each non-blank line is one text (a paragraph may hold several sentences; the pipeline splits them)."""
    pieces: list[Piece] = []
    for line in text.splitlines(keepends=True):
        content = _line_content(line)
        pieces.extend(_content(content, tags=False))
        pieces.append(_kept(line[len(content) :]))
    return pieces


def _blocks(text: str) -> list[list[str]]:
    """The lines (with their endings) grouped into blocks; each run of blank lines is a block of its own."""
    blocks: list[list[str]] = []
    for line in text.splitlines(keepends=True):
        blank = not _line_content(line).strip()
        if not blocks or blank != (not _line_content(blocks[-1][-1]).strip()):
            blocks.append([])
        blocks[-1].append(line)
    return blocks


def _cue_pieces(block: list[str]) -> list[Piece]:
    timing = next((index for index, line in enumerate(block) if "-->" in line), None)
    if timing is None or timing == len(block) - 1:
        return [_kept("".join(block))]
    head = "".join(block[: timing + 1])
    lines = block[timing + 1 :]
    last = _line_content(lines[-1])
    cue_text = "".join(lines[:-1]) + last
    return [_kept(head), *_content(cue_text, tags=True), _kept(lines[-1][len(last) :])]


def _subtitles(text: str) -> list[Piece]:
    return [piece for block in _blocks(text) for piece in _cue_pieces(block)]


def cut(text: str, extension: str) -> list[Piece]:
    """The pieces of a file's text (.txt, .srt or .vtt), in order; "".join of their texts is `text`."""
    if extension in HTML or extension in OFFICE_FORMATS:
        raise ValueError(f"{extension} files are read by service.text.markup or service.text.office")
    body = text.removeprefix(BOM)
    pieces = _plain_text(body) if extension == PLAIN_TEXT else _subtitles(body)
    if text.startswith(BOM):
        pieces.insert(0, _kept(BOM))
    return [piece for piece in pieces if piece.text]


def texts_to_translate(pieces: Sequence[Piece]) -> list[str]:
    """Each translated piece as one line of text: a cue's lines are one caption, so they are translated together."""
    return [" ".join(_LINE_BREAK.split(piece.text)) for piece in pieces if piece.translate]


def assemble(pieces: Sequence[Piece], translations: Sequence[str]) -> str:
    """The file again with the translated pieces replaced, in order, by `translations`."""
    if len(translations) != sum(piece.translate for piece in pieces):
        raise ValueError(f"{len(translations)} translations for {sum(p.translate for p in pieces)} pieces")
    replacements = iter(translations)
    return "".join(next(replacements) if piece.translate else piece.text for piece in pieces)


def translate_file_text(text: str, extension: str, translate: Callable[[list[str]], list[str]]) -> str:
    """The file translated with `translate` (texts in, translations out, same order); for tests and tools."""
    pieces = cut(text, extension)
    return assemble(pieces, translate(texts_to_translate(pieces)))
