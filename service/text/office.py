"""Office documents (.docx, .pptx, .odt, .odp) and e-books (.epub): zip containers of XML, read into paragraphs to
translate and written back with each paragraph's text replaced by its translation and nothing else changed.

What is a paragraph:

- .docx: each `w:p` of word/document.xml, the headers, footers, footnotes and endnotes; a paragraph's text is in
  the `w:t` elements of its runs (`w:r`, also inside hyperlinks, insertions, fields, smart tags).
- .pptx: each `a:p` of the slides (ppt/slides/slideN.xml), text boxes and tables alike; its text is in the `a:t`
  of its runs (`a:r`). Fields (`a:fld`: slide numbers, dates) are kept as they are.
- .odt: each `text:p` and `text:h` of content.xml and styles.xml (headers and footers); its text is the
  paragraph's own text and that of its `text:span`, `text:a`, `text:meta` and ruby elements. Notes, frames,
  bookmarks and fields are kept as they are.
- .odp: the same in content.xml (text boxes of the slides, notes); not styles.xml, whose master slides hold
  placeholder text.
- .epub: each block element (`p`, `h1`-`h6`, `li`, `dt`, `dd`, `td`, `th`, `caption`, `figcaption`, `blockquote`,
  `div`, `title`, ...) of the XHTML content documents listed in the package document's manifest; its text is its
  own and that of its inline elements (`span`, `a`, `em`, `b`, ...). XHTML is XML: it is parsed and written as
  XML (an HTML5 parser's serialization, such as service.text.markup's, is not well-formed XML). HTML's named
  entities (`&nbsp;`, declared by the XHTML 1.1 DTD, which is not loaded) become their characters.

A paragraph nested in another (a text box in a run, a note in an ODF paragraph, a `p` in an `li`) is a paragraph
of its own and takes no part in its parent's text. Line breaks and tabs (`w:br`, `w:tab`, `a:br`, `text:s`,
`text:tab`, `text:line-break`, `br`) are kept where they are and read as a space. A paragraph's text is its
texts joined with whitespace collapsed to single spaces and trimmed; one without a letter is not translated.

How the translation is put into a paragraph's runs (`write`): the runs keep their place and formatting; only
their text changes. Each source word belongs to the text node holding its first letter or digit. Each target word
is given to one text node so that the nodes' texts stay in document order (a run's text is one contiguous part of
the translation), every node that had words keeps at least one (as a link keeps its text; when the translation
has that many words), and as few target words as possible sit outside every node their aligned source words
belong to. Ties put a target word aligned to nothing with the word before it. Without any alignment link, or with
fewer target words than such nodes, the same holds without "keeps at least one", and then as few changes of node
as possible: with no alignment the whole translation goes to the first node. Runs are never reordered: where the
translation orders the runs' words differently, some words sit in a run that is not theirs. Space between words
goes with the word before it, unless a line break or tab comes between (docx text nodes that then start or end
with a space get xml:space="preserve"). Where a source word runs from one run into the next and the part in the
other run is punctuation (`<b>snow</b>.`, `"<i>Hello</i>`), the translation's same punctuation stays in that run
(`<b>Schnee</b>.`, `"<i>Hallo</i>`).

Safety: the container is checked before any member is read (not a zip, too many members, declared sizes over
the limits or over MAX_RATIO times a member's packed size, encrypted or unsupported compression, unsafe or
repeated names, missing main part), each member is read no further than its declared size (zipfile stops there
and checks the CRC), and XML is parsed by lxml with entities left unresolved, no network, no DTD loading and
libxml2's default limits (huge_tree off). A document with a DTD internal subset (where entity declarations live)
is refused; office parts may hold no DOCTYPE at all. Every refusal is an OfficeFileError (or OfficeFileTooLarge
for the size limits).

Every member that holds no translated paragraph is written back with its bytes unchanged, and all members keep
their names, order, compression method, dates and attributes (so an ODF or EPUB `mimetype` stays first and
stored). Rewritten XML keeps its original bytes before the root element (declaration, comments) and after it.
"""

from __future__ import annotations

import html.entities
import io
import itertools
import re
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Literal

from lxml import etree

from service.text.markup import BlockTranslation, word_spans

DOCX, PPTX, ODT, ODP, EPUB = ".docx", ".pptx", ".odt", ".odp", ".epub"
OFFICE_FORMATS = (DOCX, PPTX, ODT, ODP, EPUB)

MAX_MEMBERS = 2_000
MAX_MEMBER_BYTES = 64 * 1024 * 1024  # declared uncompressed size of one member
MAX_TOTAL_BYTES = 256 * 1024 * 1024  # declared uncompressed size of all members together
MAX_XML_PART_BYTES = 16 * 1024 * 1024  # one XML part that is parsed
MAX_PARSED_BYTES = 32 * 1024 * 1024  # all the parts parsed for one file (a tree takes several times its XML)
# A member over RATIO_FLOOR_BYTES may unpack to at most MAX_RATIO times its packed size (Apache POI's default
# ratio, with a floor of 1 MiB where POI's is 100 KB, as very repetitive XML can pack more than 100 times): XML
# packs 5-20 times, images and media about once, while 4 x 64 MiB of zeros pack into 260 KB, which, allowed,
# took 2.9 s of CPU to unpack and pack again.
MAX_RATIO = 100
RATIO_FLOOR_BYTES = 1024 * 1024
_COMPRESSIONS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_A = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
_P = "{http://schemas.openxmlformats.org/presentationml/2006/main}"
_TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
_OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
_XHTML = "{http://www.w3.org/1999/xhtml}"
_CONTAINER = "{urn:oasis:names:tc:opendocument:xmlns:container}"
_OPF = "{http://www.idpf.org/2007/opf}"
_XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"


class OfficeFileError(ValueError):
    """The file cannot be translated safely: the message says why."""


class OfficeFileTooLarge(OfficeFileError):
    """The file is over one of the size limits."""


@dataclass(frozen=True)
class _Dialect:
    """Which elements of a format are paragraphs, which hold a paragraph's text, which are read through."""

    paragraphs: frozenset[str]
    text_elements: frozenset[str]  # elements whose own text is the paragraph's (w:t, a:t); empty: mixed content
    inline: frozenset[str] | None  # elements read through for text; None: all but paragraphs and `kept`
    kept: frozenset[str]  # elements kept as they are, their text not the paragraph's
    separators: frozenset[str]  # elements read as a space
    space_attribute: bool  # text nodes starting or ending with a space need xml:space="preserve"

    @property
    def mixed(self) -> bool:
        return not self.text_elements


_DOCX = _Dialect(
    paragraphs=frozenset({f"{_W}p"}), text_elements=frozenset({f"{_W}t"}), inline=None, kept=frozenset(),
    separators=frozenset({f"{_W}tab", f"{_W}br", f"{_W}cr", f"{_W}ptab"}), space_attribute=True,
)  # fmt: skip
_PPTX = _Dialect(
    paragraphs=frozenset({f"{_A}p"}), text_elements=frozenset({f"{_A}t"}), inline=None,
    kept=frozenset({f"{_A}fld"}), separators=frozenset({f"{_A}br"}), space_attribute=False,
)  # fmt: skip
_ODT = _Dialect(
    paragraphs=frozenset({f"{_TEXT}p", f"{_TEXT}h"}), text_elements=frozenset(),
    inline=frozenset({f"{_TEXT}{name}" for name in ("span", "a", "meta", "ruby", "ruby-base")}), kept=frozenset(),
    separators=frozenset({f"{_TEXT}s", f"{_TEXT}tab", f"{_TEXT}line-break"}), space_attribute=False,
)  # fmt: skip
_XHTML_BLOCKS = ("p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "dt", "dd", "td", "th", "caption", "figcaption",
                 "blockquote", "div", "title", "summary", "legend", "label", "address", "section", "article",
                 "aside", "header", "footer", "nav", "figure", "body")  # fmt: skip
_XHTML_INLINE = ("a", "abbr", "b", "bdi", "bdo", "big", "cite", "data", "del", "dfn", "em", "font", "i", "ins",
                 "mark", "q", "rb", "ruby", "s", "small", "span", "strike", "strong", "sub", "sup", "time", "tt",
                 "u")  # fmt: skip
_EPUB = _Dialect(
    paragraphs=frozenset(f"{_XHTML}{name}" for name in _XHTML_BLOCKS), text_elements=frozenset(),
    inline=frozenset(f"{_XHTML}{name}" for name in _XHTML_INLINE), kept=frozenset(),
    separators=frozenset({f"{_XHTML}br", f"{_XHTML}wbr"}), space_attribute=False,
)  # fmt: skip


@dataclass(frozen=True)
class _TextNode:
    """Where text sits: an element's text (`text`) or the text after it (`tail`)."""

    element: etree._Element
    slot: Literal["text", "tail"]

    def get(self) -> str:
        return (self.element.text if self.slot == "text" else self.element.tail) or ""

    def set(self, value: str) -> None:
        if self.slot == "text":
            self.element.text = value
        else:
            self.element.tail = value


_SEPARATOR = None  # a line break or tab between text nodes: read as a space


@dataclass
class Paragraph:
    text: str  # whitespace collapsed, trimmed
    nodes: list[_TextNode]
    spans: list[tuple[int, int]]  # each node's characters in `text`
    breaks_before: list[int]  # how many line breaks or tabs come before each node
    dialect: _Dialect


@dataclass
class _Part:
    name: str
    raw: bytes
    root: etree._Element
    paragraphs: list[Paragraph] = field(default_factory=list)


@dataclass
class OfficeDocument:
    """A container read by `read`; `write` puts translations into it (once: it changes the parsed parts)."""

    content: bytes
    parts: list[_Part]

    @property
    def paragraphs(self) -> list[Paragraph]:
        return [paragraph for part in self.parts for paragraph in part.paragraphs]

    @property
    def texts(self) -> list[str]:
        return [paragraph.text for paragraph in self.paragraphs]


# --- the container ---------------------------------------------------------------------------------------------


def _unsafe_name(name: str) -> bool:
    path = PurePosixPath(name)
    return (
        not name or name.startswith("/") or "\\" in name or "\0" in name or ":" in (path.parts[0] if path.parts else "")
        or ".." in path.parts
    )  # fmt: skip


def _open_zip(content: bytes) -> zipfile.ZipFile:
    """The zip, its members checked before any is read."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError, NotImplementedError) as error:
        raise OfficeFileError(f"the file is not a valid zip container ({error})") from None
    members = archive.infolist()
    if len(members) > MAX_MEMBERS:
        raise OfficeFileTooLarge(f"the container has {len(members)} members; the limit is {MAX_MEMBERS}")
    names = set()
    for member in members:
        if _unsafe_name(member.filename):
            raise OfficeFileError(f"the container has a member with an unsafe name: {member.filename!r}")
        if member.filename in names:
            raise OfficeFileError(f"the container has two members named {member.filename!r}")
        names.add(member.filename)
        if member.flag_bits & 0x41:  # bit 0: encrypted, bit 6: strong encryption
            raise OfficeFileError(f"the container's member {member.filename!r} is encrypted")
        if member.compress_type not in _COMPRESSIONS:
            raise OfficeFileError(f"the container's member {member.filename!r} uses an unsupported compression")
        if member.file_size > MAX_MEMBER_BYTES:
            raise OfficeFileTooLarge(
                f"the container's member {member.filename!r} unpacks to {member.file_size} bytes; the limit is "
                f"{MAX_MEMBER_BYTES}"
            )
        if member.file_size > RATIO_FLOOR_BYTES and member.file_size > MAX_RATIO * member.compress_size:
            raise OfficeFileTooLarge(
                f"the container's member {member.filename!r} unpacks to {member.file_size} bytes from "
                f"{member.compress_size}; more than {MAX_RATIO} times is refused"
            )
    total = sum(member.file_size for member in members)
    if total > MAX_TOTAL_BYTES:
        raise OfficeFileTooLarge(f"the container unpacks to {total} bytes; the limit is {MAX_TOTAL_BYTES}")
    return archive


def _read_member(archive: zipfile.ZipFile, name: str, limit: int = MAX_MEMBER_BYTES) -> bytes:
    member = archive.getinfo(name)
    if member.file_size > limit:
        raise OfficeFileTooLarge(f"the part {name!r} unpacks to {member.file_size} bytes; the limit is {limit}")
    try:
        with archive.open(member) as stream:
            return stream.read(limit + 1)  # zipfile stops at the declared size and checks the CRC there
    # zipfile's errors for a corrupt member: bad data or CRC, an offset before the file (ValueError), an unknown
    # zip version or flag (NotImplementedError), encryption it cannot undo (RuntimeError)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, NotImplementedError, RuntimeError) as error:
        raise OfficeFileError(f"the container's member {name!r} cannot be read ({error})") from None


# --- XML -------------------------------------------------------------------------------------------------------


# Before the root element: the declaration, a doctype without internal subset, comments, processing instructions.
_PROLOG = re.compile(rb"\A(?:\xef\xbb\xbf)?(?:\s+|<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^\[>]*>)*", re.S)


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False,
        remove_blank_text=False, strip_cdata=False,
    )  # fmt: skip


def _declares(raw: bytes, dtd: etree.DTD | None) -> bool:
    """Whether the doctype has an internal subset: `<!DOCTYPE html>` and a public identifier are fine (no DTD is
    loaded), brackets with declarations are not."""
    prolog = _PROLOG.match(raw)
    at_root = prolog is not None and re.match(rb"<[^!?]", raw[prolog.end() :]) is not None
    return not at_root or (dtd is not None and any(True for _ in dtd.iterentities()))


def _parse_xml(name: str, raw: bytes, *, doctype_allowed: bool) -> etree._Element:
    try:
        root = etree.fromstring(raw, _parser())
    except etree.XMLSyntaxError as error:
        raise OfficeFileError(f"the part {name!r} is not well-formed XML ({error})") from None
    info = root.getroottree().docinfo
    if info.doctype and (not doctype_allowed or _declares(raw, info.internalDTD)):
        raise OfficeFileError(f"the part {name!r} declares a DTD; heed does not read XML with DTDs")
    return root


def _inline_entities(root: etree._Element) -> None:
    """HTML's named entities (`&nbsp;`, `&mdash;`: XHTML 1.1 books use them, declared in a DTD that is never
    loaded) replaced by their characters, so that they are text; an unknown entity is left as it is."""
    for entity in list(root.iter(etree.Entity)):
        character = html.entities.html5.get(f"{entity.name};")
        parent = entity.getparent()
        if character is None or parent is None:
            continue
        text = character + (entity.tail or "")
        previous = entity.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + text
        else:
            parent.text = (parent.text or "") + text
        parent.remove(entity)


def _serialize(raw: bytes, root: etree._Element) -> bytes:
    """The part again: its original bytes before and after the root element around the root written anew (UTF-8
    parts; any other encoding is written by lxml whole, with its own declaration)."""
    encoding = (root.getroottree().docinfo.encoding or "UTF-8").upper()
    if encoding not in ("UTF-8", "UTF8"):
        return bytes(etree.tostring(root.getroottree(), xml_declaration=True, encoding=encoding))
    prolog = _PROLOG.match(raw)
    end = raw.rstrip().rfind(b">") + 1
    before = raw[: prolog.end()] if prolog else b""
    return before + bytes(etree.tostring(root, encoding="UTF-8", with_tail=False)) + raw[end:]


# --- paragraphs ------------------------------------------------------------------------------------------------


def _collect(element: etree._Element, dialect: _Dialect, out: list[_TextNode | None]) -> None:
    """The text nodes and separators of a paragraph (or of an element read through), in document order."""
    if dialect.mixed:
        out.append(_TextNode(element, "text"))
    for child in element:
        tag = child.tag if isinstance(child.tag, str) else None
        if tag is None or tag in dialect.paragraphs or tag in dialect.kept:
            pass  # a comment, a nested paragraph, a field: not this paragraph's text
        elif tag in dialect.text_elements:
            out.append(_TextNode(child, "text"))
        elif tag in dialect.separators:
            out.append(_SEPARATOR)
        elif dialect.inline is None or tag in dialect.inline:
            _collect(child, dialect, out)
        if dialect.mixed:
            out.append(_TextNode(child, "tail"))


def _paragraph(element: etree._Element, dialect: _Dialect) -> Paragraph | None:
    """The paragraph's collapsed text and where each text node's characters are in it; None without a letter."""
    collected: list[_TextNode | None] = []
    _collect(element, dialect, collected)
    chars: list[str] = []
    pending_space = False
    nodes, spans, breaks_before = [], [], []
    breaks = 0
    for node in collected:
        if node is None:
            pending_space = bool(chars)
            breaks += 1
            continue
        start = None
        for char in node.get():
            if char.isspace():
                pending_space = bool(chars)
                continue
            if pending_space:
                chars.append(" ")
                pending_space = False
            start = len(chars) if start is None else start
            chars.append(char)
        nodes.append(node)
        breaks_before.append(breaks)
        spans.append((len(chars), len(chars)) if start is None else (start, len(chars)))
    text = "".join(chars)
    if not any(char.isalpha() for char in text):
        return None
    return Paragraph(text, nodes, spans, breaks_before, dialect)


def _parts(archive: zipfile.ZipFile, names: Sequence[str], dialect: _Dialect, *, doctype_allowed: bool = False
           ) -> list[_Part]:  # fmt: skip
    """The parts parsed and cut into paragraphs; refused before any is read when together they are too large."""
    total = sum(archive.getinfo(name).file_size for name in names)
    if total > MAX_PARSED_BYTES:
        raise OfficeFileTooLarge(f"the file's text parts unpack to {total} bytes; the limit is {MAX_PARSED_BYTES}")
    parts = []
    for name in names:
        raw = _read_member(archive, name, MAX_XML_PART_BYTES)
        root = _parse_xml(name, raw, doctype_allowed=doctype_allowed)
        if doctype_allowed:
            _inline_entities(root)
        paragraphs = [
            paragraph
            for element in root.iter(*dialect.paragraphs)
            if (paragraph := _paragraph(element, dialect)) is not None
        ]
        parts.append(_Part(name, raw, root, paragraphs))
    return parts


_DOCX_PARTS = re.compile(r"^word/(?:document|header\d*|footer\d*|footnotes|endnotes)\.xml$")
_SLIDE = re.compile(r"^ppt/slides/slide(\d+)\.xml$")


def _require(archive: zipfile.ZipFile, name: str, what: str) -> None:
    if name not in archive.namelist():
        raise OfficeFileError(f"the file is not {what}: it has no {name}")


def _check_root(part: _Part, expected: str, what: str) -> None:
    if part.root.tag != expected:
        raise OfficeFileError(f"the file is not {what}: {part.name} holds a {part.root.tag!r}")


def _docx(archive: zipfile.ZipFile) -> list[_Part]:
    _require(archive, "word/document.xml", "a Word document (.docx)")
    names = sorted((name for name in archive.namelist() if _DOCX_PARTS.match(name)),
                   key=lambda name: name != "word/document.xml")  # fmt: skip
    parts = _parts(archive, names, _DOCX)
    _check_root(parts[0], f"{_W}document", "a Word document (.docx)")
    return parts


def _pptx(archive: zipfile.ZipFile) -> list[_Part]:
    _require(archive, "ppt/presentation.xml", "a PowerPoint presentation (.pptx)")
    slides = sorted(
        (int(match.group(1)), name) for name in archive.namelist() if (match := _SLIDE.match(name))
    )  # fmt: skip
    parts = _parts(archive, [name for _, name in slides], _PPTX)
    for part in parts:
        _check_root(part, f"{_P}sld", "a PowerPoint presentation (.pptx)")
    return parts


def _odt(archive: zipfile.ZipFile) -> list[_Part]:
    return _opendocument(archive, "an OpenDocument text (.odt)", styles=True)


def _odp(archive: zipfile.ZipFile) -> list[_Part]:
    """Only content.xml: a presentation's styles.xml holds its master slides' placeholder text."""
    return _opendocument(archive, "an OpenDocument presentation (.odp)", styles=False)


def _opendocument(archive: zipfile.ZipFile, what: str, *, styles: bool) -> list[_Part]:
    _require(archive, "content.xml", what)
    names = ["content.xml", *(["styles.xml"] if styles and "styles.xml" in archive.namelist() else [])]
    parts = _parts(archive, names, _ODT)
    _check_root(parts[0], f"{_OFFICE}document-content", what)
    return parts


def _xml_member(archive: zipfile.ZipFile, name: str) -> etree._Element:
    return _parse_xml(name, _read_member(archive, name, MAX_XML_PART_BYTES), doctype_allowed=False)


def _epub_documents(archive: zipfile.ZipFile) -> list[str]:
    """The XHTML content documents of the package, in manifest order (container.xml names the package)."""
    _require(archive, "META-INF/container.xml", "an EPUB e-book (.epub)")
    container = _xml_member(archive, "META-INF/container.xml")
    rootfile = container.find(f"{_CONTAINER}rootfiles/{_CONTAINER}rootfile")
    package_name = rootfile.get("full-path", "") if rootfile is not None else ""
    if package_name not in archive.namelist():
        raise OfficeFileError("the file is not an EPUB e-book (.epub): container.xml names no package document")
    package = _xml_member(archive, package_name)
    folder = PurePosixPath(package_name).parent
    documents = []
    for item in package.iterfind(f"{_OPF}manifest/{_OPF}item"):
        href = item.get("href", "")
        if item.get("media-type") != "application/xhtml+xml" or not href or "://" in href:
            continue
        name = str(folder / href.split("#")[0]).removeprefix("./")
        if name in archive.namelist() and name not in documents:
            documents.append(name)
    return documents


def _epub(archive: zipfile.ZipFile) -> list[_Part]:
    return _parts(archive, _epub_documents(archive), _EPUB, doctype_allowed=True)


_READERS = {DOCX: _docx, PPTX: _pptx, ODT: _odt, ODP: _odp, EPUB: _epub}


def read(content: bytes, extension: str) -> OfficeDocument:
    """The file's paragraphs to translate; OfficeFileError (OfficeFileTooLarge) when it cannot be read safely."""
    reader = _READERS.get(extension)
    if reader is None:
        raise ValueError(f"not an office format: {extension!r}")
    with _open_zip(content) as archive:
        return OfficeDocument(content, reader(archive))


# --- putting translations back ---------------------------------------------------------------------------------


def _owners(paragraph: Paragraph, source_spans: Sequence[tuple[int, int]]) -> list[int]:
    """For each source word, the text node holding its first letter or digit (its first character if it has
    none): in `"<i>Hello</i>` the word belongs to the italic run, not to the quote's."""
    owner_of_char = {}
    for index, (start, end) in enumerate(paragraph.spans):
        for position in range(start, end):
            owner_of_char[position] = index
    owners = []
    for start, end in source_spans:
        first = next((at for at in range(start, end) if paragraph.text[at].isalnum()), start)
        owners.append(owner_of_char.get(first, 0))
    return owners


def _punctuation(text: str) -> str:
    """The punctuation `text` starts with (up to its first letter, digit or space)."""
    end = next((at for at, char in enumerate(text) if char.isalnum() or char.isspace()), len(text))
    return text[:end]


def _keep_punctuation_outside(paragraph: Paragraph, texts: list[str]) -> None:
    """Where a source word runs from one text node into the next (`<b>snow</b>.`, `"<i>Hello</i>`), the
    punctuation on the far side stays in its own node when the translation ends (starts) the same way:
    `<b>Schnee</b>.`, `"<i>Hallo</i>`. Only the boundary between the two nodes moves, so the texts still join to
    the translation."""
    for left, right in itertools.pairwise(range(len(texts))):
        (left_start, left_end), (right_start, right_end) = paragraph.spans[left], paragraph.spans[right]
        if left_start == left_end or right_start == right_end or left_end != right_start:
            continue
        trailing = _punctuation(paragraph.text[right_start:right_end])
        core = texts[left].rstrip()
        if trailing and core.endswith(trailing) and len(core) > len(trailing):
            cut = len(core) - len(trailing)
            texts[left], texts[right] = core[:cut], texts[left][cut:] + texts[right]
            continue
        leading = _punctuation(paragraph.text[left_start:left_end][::-1])[::-1]
        if leading and texts[right].startswith(leading) and len(texts[right].rstrip()) > len(leading):
            texts[left], texts[right] = texts[left] + leading, texts[right][len(leading) :]


def _assign(preferred: Sequence[frozenset[int]], nodes: Sequence[int]) -> list[int]:
    """The node (from `nodes`, in document order) of each target word, never going back to an earlier node:
    fewest words outside their preferred nodes, then fewest changes of node (starting after the first node counts
    as one). On a tie a word takes the earlier node, so a word aligned to nothing stays with the word before it."""
    Cost = tuple[int, int]  # (words misplaced, changes of node)
    costs: list[Cost] = []
    back: list[list[int]] = []  # for each word and node: the previous word's node
    for index, wanted in enumerate(preferred):
        row: list[Cost] = []
        pointers: list[int] = []
        best: tuple[Cost, int] | None = None  # the previous word's cheapest earlier node
        for position, node in enumerate(nodes):
            miss = 1 if wanted and node not in wanted else 0
            if index == 0:
                row.append((miss, 0 if position == 0 else 1))
                pointers.append(position)
                continue
            stay = costs[position]
            previous, source = stay, position
            if best is not None and (best[0][0], best[0][1] + 1) <= stay:
                previous, source = (best[0][0], best[0][1] + 1), best[1]
            row.append((previous[0] + miss, previous[1]))
            pointers.append(source)
            if best is None or stay < best[0]:
                best = (stay, position)
        costs = row
        back.append(pointers)
    if not back:
        return []
    position = min(range(len(nodes)), key=lambda at: (costs[at], at))
    chosen = [position]
    for pointers in reversed(back[1:]):
        position = pointers[position]
        chosen.append(position)
    return [nodes[at] for at in reversed(chosen)]


def _cover(preferred: Sequence[frozenset[int]], nodes: Sequence[int]) -> list[int]:
    """As `_assign`, but every node gets at least one target word (there must be as many words as nodes): the
    words go through the nodes in order, fewest words outside their preferred nodes; on a tie a word takes the
    earlier node."""
    words, count = len(preferred), len(nodes)
    unreachable = words + 1
    costs = [[unreachable] * count for _ in range(words)]
    for index, wanted in enumerate(preferred):
        for position in range(max(0, count - words + index), min(count, index + 1)):  # leaves a word per node
            miss = 1 if wanted and nodes[position] not in wanted else 0
            if index == 0:
                costs[0][0] = miss
                continue
            advance = costs[index - 1][position - 1] if position else unreachable
            costs[index][position] = miss + min(costs[index - 1][position], advance)
    position = count - 1
    chosen = [position]
    for index in range(words - 1, 0, -1):
        if position and costs[index - 1][position - 1] <= costs[index - 1][position]:
            position -= 1
        chosen.append(position)
    return [nodes[at] for at in reversed(chosen)]


def node_texts(paragraph: Paragraph, translation: BlockTranslation) -> list[str]:
    """The new text of each of the paragraph's text nodes (module docstring: how runs are placed)."""
    source_spans = word_spans(paragraph.text)
    target_spans = word_spans(translation.text)
    owners = _owners(paragraph, source_spans)
    word_nodes = sorted(set(owners))
    texts = [""] * len(paragraph.nodes)
    if not target_spans:
        return texts
    preferred: list[set[int]] = [set() for _ in target_spans]
    for source, target in translation.links:
        if 0 <= source < len(owners) and 0 <= target < len(target_spans):
            preferred[target].add(owners[source])
    wanted = [frozenset(nodes) for nodes in preferred]
    word_nodes = word_nodes or [0]
    linked = any(wanted)
    assigned = _cover(wanted, word_nodes) if linked and len(word_nodes) <= len(wanted) else _assign(wanted, word_nodes)
    for index, node in enumerate(assigned):
        start = 0 if index == 0 else target_spans[index][0]
        end = target_spans[index + 1][0] if index + 1 < len(target_spans) else len(translation.text)
        texts[node] += translation.text[start:end]
    _keep_punctuation_outside(paragraph, texts)
    filled = [index for index, text in enumerate(texts) if text]
    for node, following in itertools.pairwise(filled):
        if paragraph.breaks_before[following] > paragraph.breaks_before[node]:
            texts[node] = texts[node].rstrip()  # the line break or tab between them is the space
    return texts


# Characters XML 1.0 cannot hold (lxml refuses them): a translation never should, but one must not fail the file.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _fill(paragraph: Paragraph, translation: BlockTranslation) -> None:
    for node, text in zip(paragraph.nodes, node_texts(paragraph, translation), strict=True):
        text = _NOT_XML.sub("", text)
        node.set(text)
        if paragraph.dialect.space_attribute and text != text.strip():
            node.element.set(_XML_SPACE, "preserve")


def write(document: OfficeDocument, translations: Sequence[BlockTranslation]) -> bytes:
    """The file again with each paragraph's text replaced by its translation (in `texts` order)."""
    paragraphs = document.paragraphs
    if len(translations) != len(paragraphs):
        raise ValueError(f"{len(translations)} translations for {len(paragraphs)} paragraphs")
    for paragraph, translation in zip(paragraphs, translations, strict=True):
        _fill(paragraph, translation)
    rewritten = {part.name: _serialize(part.raw, part.root) for part in document.parts if part.paragraphs}
    output = io.BytesIO()
    with _open_zip(document.content) as archive, zipfile.ZipFile(output, "w") as out:
        out.comment = archive.comment
        for member in archive.infolist():
            copy = zipfile.ZipInfo(member.filename, member.date_time)
            copy.compress_type = member.compress_type
            copy.create_system = member.create_system
            copy.external_attr = member.external_attr
            copy.internal_attr = member.internal_attr
            copy.comment = member.comment
            data = rewritten.get(member.filename)
            out.writestr(copy, data if data is not None else _read_member(archive, member.filename))
    return output.getvalue()
