""".docx, .pptx, .odt, .odp and .epub through LibreTranslate's /translate_file and /download_file on a real server over
the tiny bundle (which translates tests/tiny_corpus.py's sentences exactly): each paragraph's runs hold its
translation, every other member comes back byte for byte, and unsafe or oversized containers are 400/413."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable

import httpx
import pytest
from lxml import etree

from tests.service.app.test_libretranslate_surface import _download, _translate_file
from tests.service.text.test_office import (
    CONTENT_TYPES,
    DECLARATION,
    EPUB_CONTAINER,
    EPUB_PACKAGE,
    IMAGE,
    OFFICE,
    TEXT,
    XHTML,
    A,
    P,
    W,
    with_central_field,
    zip_of,
)
from tests.tiny_corpus import PAIRS

BOLD_SENTENCE = PAIRS[0]  # "A man is riding a bike.": "man" in a bold run of its own
OTHERS = [PAIRS[12], PAIRS[17]]


def _docx() -> bytes:
    first, rest = BOLD_SENTENCE[0].split(" man ", 1)
    paragraphs = (
        f'<w:p><w:r><w:t xml:space="preserve">{first} </w:t></w:r><w:r><w:rPr><w:b/></w:rPr><w:t>man</w:t></w:r>'
        f'<w:r><w:t xml:space="preserve"> {rest}</w:t></w:r></w:p>'
        f"<w:p><w:r><w:t>{OTHERS[0][0]}</w:t></w:r></w:p><w:p><w:r><w:t>42</w:t></w:r></w:p>"
    )
    document = DECLARATION + f'<w:document xmlns:w="{W}"><w:body>{paragraphs}</w:body></w:document>'
    header = DECLARATION + f'<w:hdr xmlns:w="{W}"><w:p><w:r><w:t>{OTHERS[1][0]}</w:t></w:r></w:p></w:hdr>'
    return zip_of([("[Content_Types].xml", CONTENT_TYPES), ("word/document.xml", document),
                   ("word/header1.xml", header), ("word/media/image1.png", IMAGE)])  # fmt: skip


def _pptx() -> bytes:
    first, rest = BOLD_SENTENCE[0].split(" man ", 1)

    def slide(paragraphs: str) -> str:
        return (
            DECLARATION + f'<p:sld xmlns:a="{A}" xmlns:p="{P}"><p:cSld><p:spTree><p:sp><p:txBody>{paragraphs}'
            "</p:txBody></p:sp></p:spTree></p:cSld></p:sld>"
        )

    runs = f'<a:r><a:t>{first} </a:t></a:r><a:r><a:rPr b="1"/><a:t>man</a:t></a:r><a:r><a:t> {rest}</a:t></a:r>'
    number = '<a:fld id="{1}" type="slidenum"><a:t>1</a:t></a:fld>'
    return zip_of([
        ("[Content_Types].xml", CONTENT_TYPES), ("ppt/presentation.xml", f'<p:presentation xmlns:p="{P}"/>'),
        ("ppt/slides/slide1.xml", slide(f"<a:p>{runs}</a:p><a:p><a:r><a:t>{OTHERS[0][0]}</a:t></a:r>{number}</a:p>")),
        ("ppt/slides/slide2.xml", slide(f"<a:p><a:r><a:t>{OTHERS[1][0]}</a:t></a:r></a:p>")),
    ])  # fmt: skip


def _odt() -> bytes:
    first, rest = BOLD_SENTENCE[0].split(" man ", 1)
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<office:document-content xmlns:office="{OFFICE}" '
        f'xmlns:text="{TEXT}"><office:body><office:text>'
        f'<text:h>{first} <text:span text:style-name="Bold">man</text:span> {rest}</text:h>'
        f"<text:p>{OTHERS[0][0]}</text:p><text:p>{OTHERS[1][0]}</text:p>"
        "</office:text></office:body></office:document-content>"
    )
    return zip_of([("mimetype", "application/vnd.oasis.opendocument.text"), ("content.xml", content),
                   ("META-INF/manifest.xml", "<manifest/>")])  # fmt: skip


def _odp() -> bytes:
    first, rest = BOLD_SENTENCE[0].split(" man ", 1)
    frames = "".join(
        f"<draw:frame><draw:text-box><text:p>{text}</text:p></draw:text-box></draw:frame>"
        for text in (f'{first} <text:span text:style-name="Bold">man</text:span> {rest}', OTHERS[0][0])
    )
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<office:document-content xmlns:office="{OFFICE}" '
        f'xmlns:text="{TEXT}" xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0"><office:body>'
        f'<office:presentation><draw:page draw:name="1">{frames}</draw:page></office:presentation></office:body>'
        "</office:document-content>"
    )
    return zip_of([("mimetype", "application/vnd.oasis.opendocument.presentation"), ("content.xml", content),
                   ("styles.xml", f'<office:document-styles xmlns:office="{OFFICE}"/>')])  # fmt: skip


def _epub() -> bytes:
    first, rest = BOLD_SENTENCE[0].split(" man ", 1)
    chapter = (
        '<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE html>\n'
        f'<html xmlns="{XHTML}"><head><title>{OTHERS[1][0]}</title></head><body>'
        f"<h1>{first} <b>man</b> {rest}</h1><ul><li><p>{OTHERS[0][0]}</p></li></ul><p>1</p></body></html>"
    )
    return zip_of([("mimetype", "application/epub+zip"), ("META-INF/container.xml", EPUB_CONTAINER),
                   ("OEBPS/content.opf", EPUB_PACKAGE), ("OEBPS/text/chapter1.xhtml", chapter),
                   ("OEBPS/style.css", "p { margin: 0 }")])  # fmt: skip


def _members(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _paragraphs(xml: bytes, paragraph: str, text: str | None) -> list[str]:
    """Each paragraph's text: the join of its text elements (`text`), or all its text."""
    root = etree.fromstring(xml)
    return [
        "".join(node.text or "" for node in element.iter(text)) if text else "".join(element.itertext())
        for element in root.iter(paragraph)
    ]


FORMATS: list[tuple[str, Callable[[], bytes], str, dict[str, tuple[str, str | None, list[str]]]]] = [
    ("report.docx", _docx, "application/vnd.openxmlformats-officedocument.wordprocessingml.document", {
        "word/document.xml": (f"{{{W}}}p", f"{{{W}}}t", [BOLD_SENTENCE[1], OTHERS[0][1], "42"]),
        "word/header1.xml": (f"{{{W}}}p", f"{{{W}}}t", [OTHERS[1][1]]),
    }),
    ("slides.pptx", _pptx, "application/vnd.openxmlformats-officedocument.presentationml.presentation", {
        "ppt/slides/slide1.xml": (f"{{{A}}}p", f"{{{A}}}t", [BOLD_SENTENCE[1], OTHERS[0][1] + "1"]),
        "ppt/slides/slide2.xml": (f"{{{A}}}p", f"{{{A}}}t", [OTHERS[1][1]]),
    }),
    ("letter.odt", _odt, "application/vnd.oasis.opendocument.text", {
        "content.xml": (f"{{{TEXT}}}p", None, [OTHERS[0][1], OTHERS[1][1]]),
    }),
    ("talk.odp", _odp, "application/vnd.oasis.opendocument.presentation", {
        "content.xml": (f"{{{TEXT}}}p", None, [BOLD_SENTENCE[1], OTHERS[0][1]]),
    }),
    ("book.epub", _epub, "application/epub+zip", {
        "OEBPS/text/chapter1.xhtml": (f"{{{XHTML}}}p", None, [OTHERS[0][1], "1"]),
    }),
]  # fmt: skip


@pytest.mark.parametrize(("name", "build", "media_type", "expected"), FORMATS, ids=[f[0] for f in FORMATS])
def test_an_office_file_comes_back_translated_with_every_other_member_unchanged(
    client: httpx.Client, name: str, build: Callable[[], bytes], media_type: str,
    expected: dict[str, tuple[str, str | None, list[str]]],
) -> None:  # fmt: skip
    original = build()
    response = _translate_file(client, name, original)
    assert response.status_code == 200, response.text
    download = _download(client, response)
    assert download.status_code == 200
    assert download.headers["content-type"] == media_type
    assert download.headers["content-disposition"] == f'attachment; filename="{name}"'
    before, after = _members(original), _members(download.content)
    assert list(after) == list(before)
    for member, (paragraph, text, translations) in expected.items():
        assert _paragraphs(after[member], paragraph, text) == translations
    changed = {member for member in before if before[member] != after[member]}
    assert changed == set(expected)


def test_the_bold_run_keeps_its_formatting_and_holds_part_of_the_translation(client: httpx.Client) -> None:
    download = _download(client, _translate_file(client, "report.docx", _docx()))
    body = etree.fromstring(_members(download.content)["word/document.xml"])
    runs = body.find(f".//{{{W}}}p").findall(f"{{{W}}}r")
    assert [run.find(f"{{{W}}}rPr/{{{W}}}b") is not None for run in runs] == [False, True, False]
    assert "".join(run.findtext(f"{{{W}}}t") for run in runs) == BOLD_SENTENCE[1]


def test_epub_headings_and_the_title_are_translated_and_the_chapter_stays_xml(client: httpx.Client) -> None:
    download = _download(client, _translate_file(client, "book.epub", _epub()))
    chapter = _members(download.content)["OEBPS/text/chapter1.xhtml"]
    assert chapter.startswith(b'<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE html>\n')
    root = etree.fromstring(chapter)
    assert root.findtext(f".//{{{XHTML}}}title") == OTHERS[1][1]
    assert "".join(root.find(f".//{{{XHTML}}}h1").itertext()) == BOLD_SENTENCE[1]


def test_the_source_language_is_detected_from_the_paragraphs(client: httpx.Client) -> None:
    response = _translate_file(client, "letter.odt", _odt(), source="auto")
    assert response.status_code == 200, response.text
    content = _members(_download(client, response).content)["content.xml"]
    assert _paragraphs(content, f"{{{TEXT}}}h", None) == [BOLD_SENTENCE[1]]


def _forged_sizes() -> bytes:
    return with_central_field(_docx(), "word/media/image1.png", 24, "<I", 0xFFFF_FFF0)


@pytest.mark.parametrize(
    ("name", "build", "status", "message"),
    [
        ("report.docx", lambda: PAIRS[0][0].encode(), 400, "the file is not a valid zip container"),
        ("report.docx", _odt, 400, "the file is not a Word document (.docx): it has no word/document.xml"),
        ("slides.pptx", _forged_sizes, 413, "unpacks to 4294967280 bytes; the limit is"),
        ("report.docx", lambda: zip_of([("word/document.xml", "<w:document/>"), ("zeros", b"\0" * 2**22)]), 413,
         "more than 100 times is refused"),
        ("report.docx", lambda: zip_of([("word/document.xml", f'<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                                        f'<w:document xmlns:w="{W}"><w:body><w:p><w:r><w:t>&x;</w:t></w:r></w:p>'
                                        "</w:body></w:document>")]), 400, "declares a DTD"),
        ("report.docx", lambda: zip_of([("../../etc/cron.d/x", "x"), ("word/document.xml", "<w:document/>")]), 400,
         "unsafe name"),
        ("report.docx", lambda: with_central_field(_docx(), "word/document.xml", 8, "<H", 0x1), 400, "is encrypted"),
        ("empty.odt", lambda: zip_of([("content.xml", f'<office:document-content xmlns:office="{OFFICE}"/>')]), 400,
         "the file holds no text to translate"),
    ],
)  # fmt: skip
def test_unsafe_or_unreadable_office_files_are_refused_in_libretranslates_shape(
    client: httpx.Client, name: str, build: Callable[[], bytes], status: int, message: str
) -> None:
    response = _translate_file(client, name, build())
    assert response.status_code == status, response.text
    assert list(response.json()) == ["error"]
    assert message in response.json()["error"]
