"""HTML cut into blocks of text to translate, and put back together around their translations with every element
and attribute kept, inline elements placed on the target words that heed's word alignment links to theirs.

Parsing is lexbor's HTML5 parser (through selectolax; bench/results/html-parsers.md says why): a text that starts
with a doctype, `<html` or `<head` is a document, anything else a fragment parsed as the content of `<body>`, as
a browser reads it. The tree is copied into frozen dataclasses and serialized by this module, with the HTML
serialization algorithm's escaping (`&amp;`, `&lt;`, `&gt;`, `&nbsp;` in text; `&amp;`, `&quot;`, `&nbsp;` in
attribute values; script and style text as it was). The doctype is kept as written.

What is translated:

- Block elements and `<br>` are boundaries. A run of inline content between them (text, inline elements such as
  `<b>`, `<a>`, `<span>`, images, comments) is one block. Its plain text is its text with HTML whitespace
  collapsed to single spaces and trimmed; each inline element is a character span over it.
- An inline element that holds a block element or a `<br>` is treated as a block element itself, so blocks never
  cross it.
- Passed through untouched: `<pre>`, `<script>`, `<style>`, `<template>`, `<textarea>`, `<svg>`, `<math>`,
  media and form elements, comments, and any element with `translate="no"` or `class="notranslate"`. Inside a
  block, `<code>`, `<kbd>`, `<samp>`, `<var>` and the elements marked not to translate are kept verbatim but their
  text is part of the sentence (so the model reads a complete sentence), and they are placed like inline elements,
  on the longest run of target words linked to theirs and to no other source word, which they replace. So are
  links whose text is a single mention, hashtag or address (`<a href="...">@<span>ann</span></a>`, `#cats`,
  `https://...`): names, not words to translate.
- A block without a letter outside such verbatim elements (only numbers, punctuation or code) is kept as it was.

How inline elements are placed (`render`), one level of nesting at a time, inside the parent's target range:

1. An element's source words are the words its span overlaps (a word partly inside counts whole). Its target
   range is the contiguous run from the first to the last target word linked to any of them, clipped to the
   parent's range: crossing links cannot break nesting, and a range may hold words linked to no source word of
   the element (those between its linked words). An element over all of its parent's words gets all of the
   parent's target words; one that starts (ends) the parent's text also takes the target words at the start
   (end) of the parent's range that no source word links to.
2. An element with no linked target word inside the parent (no links, or elements without text: `<img>`,
   comments, empty elements) goes right after the target words linked to the source word before it, else right
   before those linked to the source word after it, else to the same relative position (source word boundary b
   of the parent's n source words goes to target boundary round(b * m / n) of its m target words).
3. Siblings never overlap: taken in target order (their range start, then source order), each starts no earlier
   than the previous one ended. An element with text that is left with no word takes the next free target word
   (so a link keeps something to click); if none is left it stays, empty, where it is. Nothing is dropped.
4. Children are placed the same way inside their parent's range, with their links restricted to it.
5. Punctuation that ends (starts) an element's target words but not its source text stays outside it:
   `<i>in the snow</i>.` becomes `<i>im Schnee</i>.` though "Schnee." is one word. Likewise the parts of its
   first and last source words outside it, where the target words have them: a word the model copied is split as
   in the source (`<a>@ann</a>,`, `Un<b>believ</b>able`, `<kbd>Ctrl</kbd>+<kbd>C</kbd>`). Siblings splitting a
   word the model translated: the first takes the word, the others stay, empty, right after it.
6. An element without words goes after the whitespace that follows the target word it comes after if the source
   had whitespace before it, else right after that word.

Words are whitespace-separated, as in `Translation.source_words`/`target_words`; a link (i, j) joins source word
i and target word j of the same block (`BlockTranslation`). How often this lands an element on the right words
(`python -m bench.html_tags`, bench/results/html-tags.md): `<b>` around 1-3 word phrases of the Multi30k gold
set lands exactly on the gold-aligned words 66.9% of the time with heed's alignment (source-argmax, the best of
the methods here), 35.5% by the proportional rule alignment-free tools use.

The output is well-formed and holds the input's elements with their attributes, as the parser read them. For tag
soup the parser had to repair heavily (a list item or table inside an inline element left open), the repaired
tree can serialize to HTML that parses to a different tree (as with any HTML5 serializer); the elements written are
still the input's. HTML nested more than MAX_DEPTH elements deep is refused (MarkupError).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from selectolax.lexbor import LexborHTMLParser, LexborNode

# The HTML serialization algorithm's sets (WHATWG HTML, 13.3).
VOID_ELEMENTS = frozenset(
    {"area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "img", "input", "keygen", "link",
     "meta", "param", "source", "track", "wbr"}
)  # fmt: skip
# Text inside these is written as it is; noscript is not among them because lexbor parses it with scripting off.
_RAW_TEXT_ELEMENTS = frozenset({"script", "style", "xmp", "iframe", "noembed", "noframes", "plaintext"})
# Phrasing content: these continue a block; every other element is a boundary.
INLINE_ELEMENTS = frozenset(
    {"a", "abbr", "acronym", "b", "bdi", "bdo", "big", "cite", "code", "data", "del", "dfn", "em", "font", "i",
     "ins", "kbd", "label", "mark", "nobr", "q", "rp", "rt", "ruby", "s", "samp", "small", "span", "strike",
     "strong", "sub", "sup", "time", "tt", "u", "var"}
)  # fmt: skip
# Elements that take no part in the text: kept verbatim, zero-width inside a block.
_OPAQUE_ELEMENTS = frozenset(
    {"audio", "button", "canvas", "embed", "iframe", "img", "input", "map", "math", "meter", "noscript", "object",
     "output", "picture", "pre", "progress", "script", "select", "style", "svg", "template", "textarea", "video",
     "xmp", "noembed", "noframes", "plaintext"}
)  # fmt: skip
# Inline elements kept verbatim whose text still belongs to the sentence around them.
_VERBATIM_ELEMENTS = frozenset({"code", "kbd", "samp", "var"})
_DOCUMENT_START = re.compile(r"^\ufeff?\s*(?:<!--.*?-->\s*)*<(?:!doctype|html[\s>/]|head[\s>/])", re.I | re.S)
_DOCTYPE = re.compile(r"<!doctype[^>]*>", re.I)
_HTML_WHITESPACE = " \t\n\f\r"
_PUNCTUATION = ".,;:!?\u2026\"'\u00bb\u00ab\u201c\u201d\u201e\u2018\u2019)(\u00bf\u00a1"
# Reading and writing recurse a few Python frames per level; real pages nest a few dozen levels deep.
MAX_DEPTH = 200
_COMMENT = re.compile(r"<!--((?:(?!-->).)*)-->", re.S)


class MarkupError(ValueError):
    """HTML this module does not take (it says why)."""


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Comment:
    text: str


@dataclass(frozen=True)
class Verbatim:
    """Markup written out exactly as given: the doctype, and `<template>` (whose content lexbor keeps apart)."""

    html: str


@dataclass(frozen=True)
class Element:
    tag: str
    attributes: tuple[tuple[str, str | None], ...]  # in the input's order; None for an attribute without a value
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Slot:
    """Where a block goes: its translation (`block` is its index in `Markup.blocks`), or, for a run with nothing
    to translate (`block` None), its nodes as they were."""

    block: int | None
    nodes: tuple[Node, ...]
    leading: str  # the run's whitespace before and after its text, kept as it was
    trailing: str


Node = Text | Comment | Verbatim | Element | Slot


@dataclass(frozen=True)
class Inline:
    """A node inside a block: an inline element (or a zero-width one: an image, a comment) over `start:end` of
    the block's text."""

    node: Element | Comment | Verbatim
    start: int
    end: int
    children: tuple[Inline, ...]
    verbatim: bool  # written out as it was, in place of the target words placed for it
    spaced: bool = False  # whitespace comes right before it in the source: so it goes after the space


@dataclass(frozen=True)
class Block:
    text: str  # whitespace collapsed, trimmed
    inlines: tuple[Inline, ...]


@dataclass(frozen=True)
class Markup:
    nodes: tuple[Node, ...]
    blocks: tuple[Block, ...]
    document: bool  # parsed as a whole document (else as a fragment)

    @property
    def texts(self) -> list[str]:
        return [block.text for block in self.blocks]


@dataclass(frozen=True)
class BlockTranslation:
    text: str
    links: frozenset[tuple[int, int]]  # (source word, target word), both counted within the block


# --- parsing ---------------------------------------------------------------------------------------------------


def _attributes(node: LexborNode) -> tuple[tuple[str, str | None], ...]:
    return tuple((str(name), None if value is None else str(value)) for name, value in node.attributes.items())


def _siblings(first: LexborNode | None) -> Iterator[LexborNode]:
    node = first
    while node is not None:
        yield node
        node = node.next


def _convert(node: LexborNode, depth: int = 0) -> Node | None:
    """The lexbor node as this module's tree (None for what serialization leaves out)."""
    if depth > MAX_DEPTH:
        raise MarkupError(f"the HTML nests elements more than {MAX_DEPTH} deep")
    if node.is_text_node:
        return Text(node.text_content or "")
    if node.is_comment_node:
        written = _COMMENT.fullmatch(node.html or "")  # comment_content strips the comment's whitespace
        return Comment(written.group(1) if written else node.comment_content or "")
    if not node.is_element_node:
        return None  # the doctype is taken from the source text
    tag = str(node.tag)
    if tag == "template":  # its content is a separate fragment in the DOM; lexbor's serialization includes it
        return Verbatim(node.html or "")
    children = tuple(child for sibling in _siblings(node.child) if (child := _convert(sibling, depth + 1)) is not None)
    return Element(tag, _attributes(node), children)


def parse_tree(html: str) -> tuple[tuple[Node, ...], bool]:
    """The nodes of `html` and whether it was read as a whole document."""
    document = bool(_DOCUMENT_START.match(html))
    parser = LexborHTMLParser(html, is_fragment=not document)
    nodes: list[Node] = []
    if document:
        doctype = _DOCTYPE.search(html)
        root = parser.root
        for node in _siblings(root.parent.child if root is not None and root.parent is not None else root):
            if str(node.tag) == "-doctype":
                nodes.append(Verbatim(doctype.group(0) if doctype else "<!DOCTYPE html>"))
            elif (converted := _convert(node)) is not None:
                nodes.append(converted)
    else:
        nodes.extend(converted for node in _siblings(parser.root) if (converted := _convert(node)) is not None)
        first = _COMMENT.match(html)  # lexbor's .html of a fragment's first node is the whole fragment
        if nodes and isinstance(nodes[0], Comment) and first:
            nodes[0] = Comment(first.group(1))
    return tuple(nodes), document


def _attribute(element: Element, name: str) -> str | None:
    return next((value for key, value in element.attributes if key == name), None)


def _not_translated(element: Element) -> bool:
    translate = _attribute(element, "translate")
    classes = (_attribute(element, "class") or "").split()
    return (translate is not None and translate.strip().lower() == "no") or "notranslate" in classes


def _text_of(nodes: Sequence[Node]) -> str:
    return "".join(
        node.text if isinstance(node, Text) else _text_of(node.children) if isinstance(node, Element) else ""
        for node in nodes
    )


def _is_name_link(element: Element) -> bool:
    """A link whose text is one mention, hashtag or address ("@ann", "#cats", "https://e.x/a"): a name, not words
    to translate."""
    text = _text_of(element.children).strip()
    return element.tag == "a" and bool(text) and not any(map(_is_space, text)) and (
        text[0] in "@#" or "://" in text or text.lower().startswith("www.")
    )  # fmt: skip


def _is_boundary(node: Node) -> bool:
    """Whether a node ends the block before it: a block element, `<br>`, or an inline element holding one."""
    if not isinstance(node, Element):
        return isinstance(node, Slot)
    if node.tag == "br":
        return True
    if node.tag not in INLINE_ELEMENTS and node.tag not in _OPAQUE_ELEMENTS:
        return True
    if node.tag in _OPAQUE_ELEMENTS:
        return node.tag in ("pre", "xmp", "plaintext")
    return not _not_translated(node) and node.tag not in _VERBATIM_ELEMENTS and any(map(_is_boundary, node.children))


def _is_space(char: str) -> bool:
    """HTML whitespace, and what the translator reads as whitespace (Unicode spaces, control characters)."""
    return char.isspace() or unicodedata.category(char) == "Cc"


class _BlockBuilder:
    """Collects a run's plain text, collapsing whitespace, and its inline elements' spans."""

    def __init__(self) -> None:
        self.chars: list[str] = []
        self.pending_space = False
        self.translatable = False

    def add_text(self, text: str, *, counts: bool) -> None:
        for char in text:
            if _is_space(char):
                self.pending_space = bool(self.chars)
            else:
                if self.pending_space:
                    self.chars.append(" ")
                    self.pending_space = False
                self.chars.append(char)
                self.translatable = self.translatable or (counts and char.isalpha())

    def inline(self, node: Node, *, verbatim: bool = False) -> Inline | None:
        if isinstance(node, Text):
            self.add_text(node.text, counts=not verbatim)
            return None
        spaced = self.pending_space
        if isinstance(node, Comment | Verbatim):
            return Inline(node, len(self.chars), len(self.chars), (), verbatim=True, spaced=spaced)
        if not isinstance(node, Element):
            return None
        if node.tag in _OPAQUE_ELEMENTS:
            return Inline(node, len(self.chars), len(self.chars), (), verbatim=True, spaced=spaced)
        verbatim = verbatim or node.tag in _VERBATIM_ELEMENTS or _not_translated(node) or _is_name_link(node)
        start = len(self.chars) + (1 if self.pending_space else 0)
        children = tuple(inline for child in node.children if (inline := self.inline(child, verbatim=verbatim)))
        return Inline(node, min(start, len(self.chars)), len(self.chars), children, verbatim=verbatim, spaced=spaced)


def _leading_space(nodes: Sequence[Node]) -> str:
    first = nodes[0]
    return first.text[: len(first.text) - len(first.text.lstrip(_HTML_WHITESPACE))] if isinstance(first, Text) else ""


def _trailing_space(nodes: Sequence[Node]) -> str:
    last = nodes[-1]
    return last.text[len(last.text.rstrip(_HTML_WHITESPACE)) :] if isinstance(last, Text) else ""


class _Cutter:
    def __init__(self) -> None:
        self.blocks: list[Block] = []

    def run(self, nodes: Sequence[Node]) -> Slot:
        builder = _BlockBuilder()
        inlines = tuple(inline for node in nodes if (inline := builder.inline(node)))
        if not builder.translatable:
            return Slot(None, tuple(nodes), "", "")
        self.blocks.append(Block("".join(builder.chars), inlines))
        return Slot(len(self.blocks) - 1, tuple(nodes), _leading_space(nodes), _trailing_space(nodes))

    def children(self, nodes: Sequence[Node]) -> tuple[Node, ...]:
        """The nodes with each run of inline content between boundaries made a Slot."""
        out: list[Node] = []
        run: list[Node] = []
        for node in [*nodes, Slot(None, (), "", "")]:  # a sentinel boundary closes the last run
            if not _is_boundary(node):
                run.append(node)
                continue
            if run:
                out.append(self.run(run))
                run = []
            if isinstance(node, Element):
                out.append(self.structure(node))
        return tuple(out)

    def structure(self, element: Element) -> Element:
        if element.tag in _OPAQUE_ELEMENTS or element.tag == "br" or _not_translated(element):
            return element
        return Element(element.tag, element.attributes, self.children(element.children))


def parse(html: str) -> Markup:
    """`html` (a fragment or a whole document) cut into blocks; see the module docstring."""
    nodes, document = parse_tree(html)
    cutter = _Cutter()
    cut = cutter.children(nodes)
    return Markup(cut, tuple(cutter.blocks), document)


# --- serialization ---------------------------------------------------------------------------------------------


def escape_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("\xa0", "&nbsp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_attribute(value: str) -> str:
    return value.replace("&", "&amp;").replace("\xa0", "&nbsp;").replace('"', "&quot;")


def start_tag(element: Element) -> str:
    attributes = "".join(
        f" {name}" if value is None else f' {name}="{escape_attribute(value)}"' for name, value in element.attributes
    )
    return f"<{element.tag}{attributes}>"


def end_tag(element: Element) -> str:
    return "" if element.tag in VOID_ELEMENTS else f"</{element.tag}>"


def serialize(nodes: Iterable[Node], parent: str = "") -> str:
    """The nodes as HTML; Slots as their original nodes."""
    return "".join(_serialized(node, parent) for node in nodes)


def _serialized(node: Node, parent: str) -> str:
    if isinstance(node, Text):
        return node.text if parent in _RAW_TEXT_ELEMENTS else escape_text(node.text)
    if isinstance(node, Comment):
        return f"<!--{node.text}-->"
    if isinstance(node, Verbatim):
        return node.html
    if isinstance(node, Slot):
        return serialize(node.nodes, parent)
    return start_tag(node) + serialize(node.children, node.tag) + end_tag(node)


# --- putting translations back ---------------------------------------------------------------------------------


def word_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each whitespace-separated word of `text`."""
    return [(match.start(), match.end()) for match in re.finditer(r"\S+", text)]


def _word_range(spans: Sequence[tuple[int, int]], start: int, end: int) -> range:
    """The words a character span overlaps; an empty span (or one over spaces only) overlaps none."""
    inside = [index for index, (begin, finish) in enumerate(spans) if begin < end and finish > start]
    return range(inside[0], inside[-1] + 1) if inside else range(0)


def _longest_run(indices: Sequence[int]) -> list[int]:
    """The longest run of consecutive numbers in sorted `indices` (the first of the longest)."""
    runs: list[list[int]] = []
    for index in indices:
        if runs and runs[-1][-1] == index - 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    return max(runs, key=len, default=[])


def _boundary(spans: Sequence[tuple[int, int]], position: int) -> int:
    """How many words end at or before a character position."""
    return sum(1 for _, finish in spans if finish <= position)


@dataclass(frozen=True)
class _Placed:
    inline: Inline
    start: int  # target words start:end
    end: int
    children: tuple[_Placed, ...]


class _Placer:
    def __init__(self, block: Block, translation: BlockTranslation) -> None:
        self.source_spans = word_spans(block.text)
        self.target_spans = word_spans(translation.text)
        self.text = translation.text
        self.source_text = block.text
        self.targets_of: dict[int, set[int]] = {}
        self.sources_of: dict[int, set[int]] = {}
        for source, target in translation.links:
            if 0 <= target < len(self.target_spans):
                self.targets_of.setdefault(source, set()).add(target)
                self.sources_of.setdefault(target, set()).add(source)

    def place(self, inlines: Sequence[Inline], source: range, low: int, high: int) -> tuple[_Placed, ...]:
        """Inline siblings over the parent's source words `source`, in target words low:high (rules 1-4)."""
        wanted = []
        for order, inline in enumerate(inlines):
            words = _word_range(self.source_spans, inline.start, inline.end)
            linked = self.linked(words, low, high)
            if inline.verbatim:  # it replaces only target words that translate nothing else
                linked = _longest_run([j for j in linked if self.sources_of[j] <= set(words)])
            if words and words == source and not inline.verbatim:  # all of the parent's text: all of its words
                wanted.append((low, order, high, inline, words))
            elif linked:
                start, end = linked[0], linked[-1] + 1
                if not inline.verbatim:  # target words linked to nothing at the parent's edge go with its edge
                    while words.start == source.start and start > low and start - 1 not in self.sources_of:
                        start -= 1
                    while words.stop == source.stop and end < high and end not in self.sources_of:
                        end += 1
                wanted.append((start, order, end, inline, words))
            else:
                at = self.anchor(inline, words, source, low, high)
                wanted.append((at, order, at, inline, words))
        placed = []
        cursor = low
        last_source_word = -1
        for start, _, end, inline, words in sorted(wanted, key=lambda item: (item[0], item[1])):
            # siblings splitting one source word ("<b>un</b><i>done</i>") may share its target word
            shared = bool(words) and words.start == last_source_word and start < cursor
            start = min(max(start, cursor - 1 if shared else cursor), high)
            end = min(max(end, start), high)
            if words and not inline.verbatim and start == end < high:
                end = start + 1  # a link keeps a word to click
            children = self.place(inline.children, words, start, end) if not inline.verbatim else ()
            placed.append(_Placed(inline, start, end, children))
            cursor = max(cursor, end)
            last_source_word = words.stop - 1 if words else last_source_word
        return tuple(placed)

    def linked(self, words: range, low: int, high: int) -> list[int]:
        return sorted({j for i in words for j in self.targets_of.get(i, ()) if low <= j < high})

    def anchor(self, inline: Inline, words: range, source: range, low: int, high: int) -> int:
        """Where an element with no linked word goes (rule 2): after the target words of the source word before
        it, else before those of the word after it, else at the same relative position."""
        before = (words.start if words else _boundary(self.source_spans, inline.start)) - 1
        after = words.stop if words else before + 1
        if before >= source.start and (previous := self.linked(range(before, before + 1), low, high)):
            return previous[-1] + 1
        if after < source.stop and (following := self.linked(range(after, after + 1), low, high)):
            return following[0]
        share = (before + 1 - source.start) / len(source) if len(source) else 0.0
        return low + round(min(max(share, 0.0), 1.0) * (high - low))

    def char_range(self, start: int, end: int, low: int, *, spaced: bool = False) -> tuple[int, int]:
        """Characters of target words start:end; an empty range sits right after the word before it, or, when
        `spaced`, after the whitespace that follows that word."""
        if start < end:
            return self.target_spans[start][0], self.target_spans[end - 1][1]
        if start > low and not (spaced and start < len(self.target_spans)):
            position = self.target_spans[start - 1][1]
        else:
            position = self.target_spans[start][0] if start < len(self.target_spans) else len(self.text)
        return position, position

    def without_punctuation(self, item: _Placed, begin: int, end: int) -> tuple[int, int]:
        """An element's characters without the punctuation at its ends that its source text has outside it
        (`<i>in the snow</i>.` -> `<i>im Schnee</i>.`, though "Schnee." is one word)."""
        source = self.source_text[item.inline.start : item.inline.end]
        text = self.text[begin:end]
        leading = len(text) - len(text.lstrip(_PUNCTUATION))
        trailing = len(text) - len(text.rstrip(_PUNCTUATION))
        if leading + trailing >= len(text):
            return begin, end
        if not source[:1] or source[0] not in _PUNCTUATION:
            begin += leading
        if not source[-1:] or source[-1] not in _PUNCTUATION:
            end -= trailing
        return begin, end

    def without_affixes(self, item: _Placed, begin: int, end: int) -> tuple[int, int]:
        """An element's target characters without those of its first and last source words that lie outside it,
        where the target words have them too: a word copied unchanged is split as in the source ("@ann," -> the
        mention, then ","; "Un<b>believ</b>able" stays so)."""
        words = _word_range(self.source_spans, item.inline.start, item.inline.end)
        if not words:
            return begin, end
        prefix = self.source_text[self.source_spans[words.start][0] : item.inline.start]
        suffix = self.source_text[item.inline.end : self.source_spans[words.stop - 1][1]]
        if prefix and self.text.startswith(prefix, begin) and begin + len(prefix) < end:
            begin += len(prefix)
        if suffix and self.text.endswith(suffix, begin, end) and end - len(suffix) > begin:
            end -= len(suffix)
        return begin, end

    def write(self, placed: Sequence[_Placed], low: int, begin: int, finish: int) -> str:
        """Characters begin:finish of the target text (the words from `low` on) with the placed elements around
        theirs, each kept inside begin:finish."""
        parts = []
        for item in placed:
            item_begin, item_end = self.char_range(item.start, item.end, low, spaced=item.inline.spaced)
            if item.start < item.end:
                item_begin, item_end = self.without_affixes(item, item_begin, item_end)
                item_begin, item_end = self.without_punctuation(item, item_begin, item_end)
            item_begin = min(max(item_begin, begin), finish)
            item_end = min(max(item_end, item_begin), finish)
            parts.append(escape_text(self.text[begin:item_begin]))
            parts.append(self.spaced(item, item_begin, self.element(item, item_begin, item_end)))
            begin = item_end
        parts.append(escape_text(self.text[begin:finish]))
        return "".join(parts)

    def spaced(self, item: _Placed, position: int, written: str) -> str:
        """A verbatim element with text but no target words of its own, inserted between words: a word apart."""
        if not (item.inline.verbatim and item.start == item.end and item.inline.start < item.inline.end):
            return written
        before = " " if position > 0 and not self.text[position - 1].isspace() else ""
        after = " " if position < len(self.text) and not self.text[position].isspace() else ""
        return before + written + after

    def element(self, item: _Placed, begin: int, end: int) -> str:
        node = item.inline.node
        if item.inline.verbatim:
            return _serialized(node, "")
        assert isinstance(node, Element)  # comments and templates are verbatim
        return start_tag(node) + self.write(item.children, item.start, begin, end) + end_tag(node)


def render_block(block: Block, translation: BlockTranslation) -> str:
    """The block's translation as HTML, its inline elements placed by the alignment (module docstring)."""
    placer = _Placer(block, translation)
    words = len(placer.target_spans)
    placed = placer.place(block.inlines, range(len(placer.source_spans)), 0, words)
    return placer.write(placed, 0, *placer.char_range(0, words, 0))


def render(markup: Markup, translations: Sequence[BlockTranslation]) -> str:
    """The HTML again with each block replaced by its translation."""
    if len(translations) != len(markup.blocks):
        raise ValueError(f"{len(translations)} translations for {len(markup.blocks)} blocks")
    pairs = zip(markup.blocks, translations, strict=True)
    rendered = [render_block(block, translation) for block, translation in pairs]
    return _render_nodes(markup.nodes, rendered, "")


def _render_nodes(nodes: Sequence[Node], rendered: Sequence[str], parent: str) -> str:
    parts = []
    for node in nodes:
        if isinstance(node, Slot) and node.block is not None:
            parts.append(escape_text(node.leading) + rendered[node.block] + escape_text(node.trailing))
        elif isinstance(node, Element) and node.tag not in VOID_ELEMENTS:
            parts.append(start_tag(node) + _render_nodes(node.children, rendered, node.tag) + end_tag(node))
        else:
            parts.append(_serialized(node, parent))
    return "".join(parts)


# --- from a translation of all blocks at once ------------------------------------------------------------------


def _word_owners(words: Sequence[str], text: str) -> list[int]:
    """For each of `words` (the translator's, in order), the index of the word of `text` holding its first
    character, found by searching on from the previous one: they are the same words unless a splitter cut inside
    a word ("e.g.Cats" read as "e.g." and "Cats") or a sentence longer than the model reads was cut short (its
    last words missing). A word not found maps to -1."""
    owner_of_char = [-1] * len(text)
    for index, (start, end) in enumerate(word_spans(text)):
        owner_of_char[start:end] = [index] * (end - start)
    owners = []
    position = 0
    for word in words:
        found = text.find(word, position) if word else -1
        owners.append(owner_of_char[found] if found >= 0 else -1)
        position = found + len(word) if found >= 0 else position
    return owners


def _block_of_word(lines: Sequence[str]) -> list[tuple[int, int]]:
    """(block, word within the block) of each word of the lines joined."""
    return [(line_index, word) for line_index, line in enumerate(lines) for word in range(len(line.split()))]


def split_translation(
    source_texts: Sequence[str], text: str, source_words: Sequence[str], target_words: Sequence[str],
    alignment: str,
) -> list[BlockTranslation]:  # fmt: skip
    """Each block's translation from one translation of the blocks joined by "\\n" (one line each): `text` split
    into its lines, and the Pharaoh `alignment` over the whole texts' words made block-local. A link between
    two different blocks (which line-by-line decoding never makes) is dropped."""
    lines = text.split("\n")
    if len(lines) > len(source_texts):  # cannot happen for line-by-line output; kept whole rather than lost
        lines = [*lines[: len(source_texts) - 1], " ".join(lines[len(source_texts) - 1 :])]
    lines += [""] * (len(source_texts) - len(lines))
    source_places = _block_of_word(source_texts)
    target_places = _block_of_word(lines)
    source_owner = _word_owners(source_words, "\n".join(source_texts))
    target_owner = _word_owners(target_words, "\n".join(lines))
    links: list[set[tuple[int, int]]] = [set() for _ in source_texts]
    for link in alignment.split():
        source, _, target = link.partition("-")
        if not (source.isdigit() and target.isdigit()):
            continue
        i, j = int(source), int(target)
        if i >= len(source_owner) or j >= len(target_owner) or source_owner[i] < 0 or target_owner[j] < 0:
            continue
        (source_block, source_word), (target_block, target_word) = (
            source_places[source_owner[i]], target_places[target_owner[j]]
        )  # fmt: skip
        if source_block == target_block:
            links[source_block].add((source_word, target_word))
    return [BlockTranslation(line.strip(), frozenset(found)) for line, found in zip(lines, links, strict=True)]
