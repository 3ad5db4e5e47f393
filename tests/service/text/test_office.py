"""Office documents and e-books: paragraphs in, translations back into their runs, every other byte kept; and the
containers and XML that are refused."""

from __future__ import annotations

import io
import re
import struct
import zipfile

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from service.text import office
from service.text.markup import BlockTranslation
from service.text.office import OfficeFileError, OfficeFileTooLarge, read, write

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
A = "http://schemas.openxmlformats.org/drawingml/2006/main"
P = "http://schemas.openxmlformats.org/presentationml/2006/main"
TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
XHTML = "http://www.w3.org/1999/xhtml"
DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'

CONTENT_TYPES = (
    DECLARATION + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="xml" ContentType="application/xml"/></Types>'
)
DOCUMENT = (
    DECLARATION + f'<w:document xmlns:w="{W}" xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006"'
    ' mc:Ignorable="w14"><w:body>'
    '<w:p><w:pPr><w:pStyle w:val="Title"/></w:pPr><w:r><w:t xml:space="preserve">A </w:t></w:r>'
    "<w:r><w:rPr><w:b/></w:rPr><w:t>man</w:t></w:r>"
    '<w:r><w:t xml:space="preserve"> is riding a bike.</w:t></w:r></w:p>'
    "<w:p><w:r><w:t>2026</w:t></w:r></w:p>"  # no letter: not translated
    "<w:p><w:r><w:t>The children</w:t></w:r><w:r><w:tab/><w:t>are laughing.</w:t></w:r></w:p>"
    "<w:p><w:r><w:t>A dog</w:t></w:r><w:r><w:drawing><w:txbxContent><w:p><w:r><w:t>A cat is sleeping on the sofa."
    '</w:t></w:r></w:p></w:txbxContent></w:drawing></w:r><w:r><w:t xml:space="preserve"> is running.</w:t></w:r>'
    "</w:p>"
    '<w:sectPr><w:pgSz w:w="11906" w:h="16838"/></w:sectPr></w:body></w:document>'
)
HEADER = DECLARATION + f'<w:hdr xmlns:w="{W}"><w:p><w:r><w:t>The old man is fishing.</w:t></w:r></w:p></w:hdr>'
IMAGE = bytes(range(256)) * 8


def zip_of(members: list[tuple[str, bytes | str]], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members:
            stored = name in ("mimetype", "word/media/image1.png")
            archive.writestr(name, data, compress_type=zipfile.ZIP_STORED if stored else compression)
    return buffer.getvalue()


def docx(document: str = DOCUMENT) -> bytes:
    return zip_of([("[Content_Types].xml", CONTENT_TYPES), ("word/document.xml", document),
                   ("word/header1.xml", HEADER), ("word/media/image1.png", IMAGE)])  # fmt: skip


def members(content: bytes) -> list[tuple[str, int, bytes]]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return [(info.filename, info.compress_type, archive.read(info)) for info in archive.infolist()]


def translation(text: str, *links: tuple[int, int]) -> BlockTranslation:
    return BlockTranslation(text, frozenset(links))


def texts_of(xml: bytes, tag: str) -> list[str]:
    return [element.text or "" for element in etree.fromstring(xml).iter(tag)]


def test_docx_paragraphs_are_read_nested_ones_apart_and_numbers_left_out() -> None:
    document = read(docx(), ".docx")
    assert document.texts == [
        "A man is riding a bike.", "The children are laughing.", "A dog is running.",
        "A cat is sleeping on the sofa.", "The old man is fishing.",
    ]  # fmt: skip


def test_docx_runs_get_the_target_words_aligned_to_theirs_and_every_other_byte_is_kept() -> None:
    original = docx()
    document = read(original, ".docx")
    translated = write(document, [
        translation("Ein Mann fährt Fahrrad.", (0, 0), (1, 1), (3, 2), (5, 3)),
        translation("Die Kinder lachen.", (0, 0), (1, 1), (2, 2), (3, 2)),
        translation("Ein Hund rennt.", (0, 0), (1, 1), (3, 2)),
        translation("Eine Katze schläft auf dem Sofa."),
        translation("Der alte Mann angelt."),
    ])  # fmt: skip
    before, after = members(original), members(translated)
    assert [(name, method) for name, method, _ in after] == [(name, method) for name, method, _ in before]
    unchanged = {"[Content_Types].xml", "word/media/image1.png"}
    assert [data for name, _, data in after if name in unchanged] == [d for n, _, d in before if n in unchanged]
    body = dict((name, data) for name, _, data in after)["word/document.xml"]
    assert body.startswith(DECLARATION.encode())
    assert texts_of(body, f"{{{W}}}t") == [
        "Ein ", "Mann ", "fährt Fahrrad.", "2026", "Die Kinder", "lachen.", "Ein Hund ",
        "Eine Katze schläft auf dem Sofa.", "rennt.",
    ]  # fmt: skip
    runs = etree.fromstring(body).findall(f".//{{{W}}}p")[0].findall(f"{{{W}}}r")
    assert runs[1].find(f"{{{W}}}rPr/{{{W}}}b") is not None and runs[1].findtext(f"{{{W}}}t") == "Mann "
    space = "{http://www.w3.org/XML/1998/namespace}space"
    assert runs[1].find(f"{{{W}}}t").get(space) == "preserve"  # it now ends with a space
    assert b'mc:Ignorable="w14"' in body and b'<w:pgSz w:w="11906" w:h="16838"/>' in body
    assert b"<w:tab/>" in body
    header = dict((name, data) for name, _, data in after)["word/header1.xml"]
    assert texts_of(header, f"{{{W}}}t") == ["Der alte Mann angelt."]


def test_without_alignment_the_first_text_run_takes_the_whole_translation() -> None:
    document = read(docx(), ".docx")
    paragraph = document.paragraphs[0]
    assert office.node_texts(paragraph, translation("Ein Mann fährt Fahrrad.")) == ["Ein Mann fährt Fahrrad.", "", ""]


def test_crossing_alignment_keeps_runs_in_order_and_misplaces_fewest_words() -> None:
    document = read(docx(), ".docx")
    paragraph = document.paragraphs[0]  # runs: "A " | "man" | " is riding a bike."
    # "bike" (run 3) aligned before "man" (run 2): the runs cannot be reordered, so one word is misplaced.
    texts = office.node_texts(paragraph, translation("Fahrrad Ein Mann fährt", (5, 0), (0, 1), (1, 2), (3, 3)))
    assert "".join(texts) == "Fahrrad Ein Mann fährt"
    assert texts == ["Fahrrad Ein ", "Mann ", "fährt"]


def test_a_run_whose_words_are_unaligned_still_keeps_a_word_when_there_are_enough() -> None:
    paragraph = read(docx(), ".docx").paragraphs[0]  # runs: "A " | "man" | " is riding a bike."
    texts = office.node_texts(paragraph, translation("Ein Mann fährt Fahrrad.", (0, 0), (3, 2), (5, 3)))
    assert texts == ["Ein ", "Mann ", "fährt Fahrrad."]
    assert office.node_texts(paragraph, translation("Radfahren.", (4, 0))) == ["", "", "Radfahren."]


QUOTED = DOCUMENT.replace(
    '<w:r><w:t xml:space="preserve">A </w:t></w:r><w:r><w:rPr><w:b/></w:rPr><w:t>man</w:t></w:r>',
    '<w:r><w:t xml:space="preserve">"A </w:t></w:r><w:r><w:rPr><w:b/></w:rPr><w:t>man</w:t></w:r>'
    '<w:r><w:t>",</w:t></w:r>',
).replace("<w:t>The children</w:t>", "<w:t>\u201e</w:t></w:r><w:r><w:rPr><w:i/></w:rPr><w:t>The children</w:t>")


@given(
    document=st.sampled_from([DOCUMENT, QUOTED]),
    words=st.lists(st.text(st.sampled_from('abcäß.,"\u201e'), min_size=1, max_size=6), min_size=1, max_size=12),
    links=st.sets(st.tuples(st.integers(0, 5), st.integers(0, 11)), max_size=20),
)
def test_the_runs_texts_always_join_to_the_translation(
    document: str, words: list[str], links: set[tuple[int, int]]
) -> None:
    paragraph = read(docx(document), ".docx").paragraphs[0]
    text = " ".join(words)
    texts = office.node_texts(paragraph, translation(text, *links))
    assert "".join(texts) == text
    owning = [
        index for index, (start, end) in enumerate(paragraph.spans) if any(map(str.isalpha, paragraph.text[start:end]))
    ]
    if any(target < len(words) for _, target in links) and len(words) >= len(owning):
        assert all(texts[index] for index in owning)  # each run that had a word keeps one


def test_punctuation_next_to_a_run_stays_outside_it() -> None:
    paragraphs = read(docx(QUOTED), ".docx").paragraphs
    assert paragraphs[0].text == '"A man", is riding a bike.'
    texts = office.node_texts(paragraphs[0], translation('"Ein Mann", fährt Fahrrad.', (0, 0), (1, 1), (3, 2)))
    assert texts == ['"Ein ', "Mann", '", ', "fährt Fahrrad."]
    texts = office.node_texts(paragraphs[1], translation("\u201eDie Kinder lachen.", (0, 0), (1, 1), (2, 2)))
    assert texts == ["\u201e", "Die Kinder", "lachen."]


def test_pptx_slides_paragraphs_keep_fields_and_breaks() -> None:
    slide = (
        DECLARATION + f'<p:sld xmlns:a="{A}" xmlns:p="{P}"><p:cSld><p:spTree><p:sp><p:txBody>'
        '<a:p><a:r><a:rPr lang="en-US" b="1"/><a:t>Two dogs</a:t></a:r><a:r><a:rPr lang="en-US"/>'
        "<a:t> are playing in the snow.</a:t></a:r></a:p>"
        "<a:p><a:r><a:t>A woman is</a:t></a:r><a:br/><a:r><a:t>cooking dinner.</a:t></a:r>"
        '<a:fld id="{1}" type="slidenum"><a:t>3</a:t></a:fld></a:p>'
        "</p:txBody></p:sp></p:spTree></p:cSld></p:sld>"
    )
    presentation = DECLARATION + f'<p:presentation xmlns:p="{P}"/>'
    original = zip_of([("ppt/presentation.xml", presentation), ("ppt/slides/slide2.xml", slide),
                       ("ppt/slides/slide10.xml", slide.replace("Two dogs", "Two men"))])  # fmt: skip
    document = read(original, ".pptx")
    assert document.texts[:2] == ["Two dogs are playing in the snow.", "A woman is cooking dinner."]
    assert document.texts[2] == "Two men are playing in the snow."
    translated = members(write(document, [
        translation("Zwei Hunde spielen im Schnee.", (0, 0), (1, 1), (3, 2), (4, 3), (6, 4)),
        translation("Eine Frau kocht das Abendessen.", (0, 0), (1, 1), (3, 2), (4, 4)),
        translation("Zwei Männer spielen im Schnee."), translation("Eine Frau kocht das Abendessen."),
    ]))  # fmt: skip
    assert [name for name, _, _ in translated] == ["ppt/presentation.xml", "ppt/slides/slide2.xml",
                                                   "ppt/slides/slide10.xml"]  # fmt: skip
    assert texts_of(translated[1][2], f"{{{A}}}t") == ["Zwei Hunde ", "spielen im Schnee.", "Eine Frau",
                                                       "kocht das Abendessen.", "3"]  # fmt: skip


ODT_CONTENT = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    f'<office:document-content xmlns:office="{OFFICE}" xmlns:text="{TEXT}" office:version="1.3">'
    "<office:body><office:text>"
    '<text:h text:outline-level="1">The girl is <text:span text:style-name="T1">swimming</text:span> in the lake.'
    "</text:h>"
    '<text:p>A man is<text:s/>playing the guitar.<text:note text:id="n1"><text:note-citation>1</text:note-citation>'
    "<text:note-body><text:p>A child is eating an apple.</text:p></text:note-body></text:note></text:p>"
    "<text:p/>"
    "</office:text></office:body></office:document-content>"
)


def odt(content: str = ODT_CONTENT) -> bytes:
    return zip_of([("mimetype", "application/vnd.oasis.opendocument.text"), ("content.xml", content),
                   ("META-INF/manifest.xml", "<manifest/>")])  # fmt: skip


def test_odt_spans_spaces_and_notes() -> None:
    original = odt()
    document = read(original, ".odt")
    assert document.texts == ["The girl is swimming in the lake.", "A man is playing the guitar.",
                              "A child is eating an apple."]  # fmt: skip
    translated = members(write(document, [
        translation("Das Mädchen schwimmt im See.", (0, 0), (1, 1), (3, 2), (5, 3), (6, 4)),
        translation("Ein Mann spielt Gitarre.", (0, 0), (1, 1), (3, 2), (5, 3)),
        translation("Ein Kind isst einen Apfel."),
    ]))  # fmt: skip
    assert translated[0] == ("mimetype", zipfile.ZIP_STORED, b"application/vnd.oasis.opendocument.text")
    content = translated[1][2].decode()
    assert (
        '<text:h text:outline-level="1">Das Mädchen <text:span text:style-name="T1">schwimmt </text:span>im See.'
        in content
    )
    assert "Ein Mann<text:s/>spielt Gitarre." in content
    assert "<text:note-body><text:p>Ein Kind isst einen Apfel.</text:p>" in content
    assert "<text:note-citation>1</text:note-citation>" in content and "<text:p/>" in content


def test_odp_slides_text_boxes_are_translated_and_master_slides_are_not() -> None:
    content = (
        f'<office:document-content xmlns:office="{OFFICE}" xmlns:text="{TEXT}" '
        'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0"><office:body><office:presentation>'
        '<draw:page draw:name="page1"><draw:frame><draw:text-box><text:p>Two girls are singing on a '
        '<text:span text:style-name="T1">stage</text:span>.</text:p></draw:text-box></draw:frame></draw:page>'
        "</office:presentation></office:body></office:document-content>"
    )
    styles = f'<office:document-styles xmlns:office="{OFFICE}" xmlns:text="{TEXT}"><text:p>Click to add Title</text:p>'
    original = zip_of([("mimetype", "application/vnd.oasis.opendocument.presentation"), ("content.xml", content),
                       ("styles.xml", styles + "</office:document-styles>")])  # fmt: skip
    document = read(original, ".odp")
    assert document.texts == ["Two girls are singing on a stage."]
    links = ((0, 0), (1, 1), (3, 2), (4, 3), (5, 4), (6, 5))
    translated = members(write(document, [translation("Zwei Mädchen singen auf einer Bühne.", *links)]))
    assert '<text:p>Zwei Mädchen singen auf einer <text:span text:style-name="T1">Bühne</text:span>.</text:p>' in (
        translated[1][2].decode()
    )
    assert translated[2][2] == (styles + "</office:document-styles>").encode()


EPUB_CONTAINER = (
    '<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
    '<rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles>'
    "</container>"
)
EPUB_PACKAGE = (
    '<?xml version="1.0" encoding="UTF-8"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0">'
    '<manifest><item id="c1" href="text/chapter1.xhtml" media-type="application/xhtml+xml"/>'
    '<item id="css" href="style.css" media-type="text/css"/></manifest><spine><itemref idref="c1"/></spine>'
    "</package>"
)
CHAPTER = (
    '<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE html>\n'
    f'<html xmlns="{XHTML}"><head><title>Chapter one</title></head><body>'
    "<h1>Three people are walking on the beach.</h1><ul><li><p>A worker is <em>fixing</em> the road.</p></li></ul>"
    '<p>People are waiting<br/>for the bus.<img src="bus.png" alt="a bus"/></p></body></html>'
)


def epub(chapter: str = CHAPTER) -> bytes:
    return zip_of([("mimetype", "application/epub+zip"), ("META-INF/container.xml", EPUB_CONTAINER),
                   ("OEBPS/content.opf", EPUB_PACKAGE), ("OEBPS/text/chapter1.xhtml", chapter),
                   ("OEBPS/style.css", "p { margin: 0 }")])  # fmt: skip


def test_epub_xhtml_documents_are_translated_and_stay_well_formed_xml() -> None:
    document = read(epub(), ".epub")
    assert document.texts == ["Chapter one", "Three people are walking on the beach.", "A worker is fixing the road.",
                              "People are waiting for the bus."]  # fmt: skip
    translated = members(write(document, [
        translation("Kapitel eins"), translation("Drei Menschen gehen am Strand spazieren."),
        translation("Ein Arbeiter repariert die Straße.", (0, 0), (1, 1), (3, 2), (4, 3), (5, 4)),
        translation("Menschen warten auf den Bus.", (0, 0), (2, 1), (3, 2), (4, 3), (5, 4)),
    ]))  # fmt: skip
    assert translated[0] == ("mimetype", zipfile.ZIP_STORED, b"application/epub+zip")
    chapter = dict((name, data) for name, _, data in translated)["OEBPS/text/chapter1.xhtml"]
    assert chapter.startswith(b'<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE html>\n<html')
    etree.fromstring(chapter)  # well-formed
    text = chapter.decode()
    assert "<li><p>Ein Arbeiter <em>repariert </em>die Straße.</p></li>" in text
    assert '<p>Menschen warten<br/>auf den Bus.<img src="bus.png" alt="a bus"/></p>' in text


def test_an_epub2_chapters_html_entities_become_text() -> None:
    xhtml11 = '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.1//EN" "http://www.w3.org/TR/xhtml11/DTD/xhtml11.dtd">'
    chapter = CHAPTER.replace("<!DOCTYPE html>", xhtml11).replace("beach.</h1>", "beach&nbsp;&mdash;&unknown;</h1>")
    document = read(epub(chapter), ".epub")
    assert document.texts[1] == "Three people are walking on the beach \u2014"
    translated = members(write(document, [translation(text.upper()) for text in document.texts]))
    written = dict((name, data) for name, _, data in translated)["OEBPS/text/chapter1.xhtml"].decode()
    assert xhtml11 in written and "<h1>THREE PEOPLE ARE WALKING ON THE BEACH \u2014&unknown;</h1>" in written


def test_odt_headers_and_footers_in_styles_xml_are_translated() -> None:
    styles = (
        f'<office:document-styles xmlns:office="{OFFICE}" xmlns:text="{TEXT}" '
        'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0"><office:master-styles>'
        '<style:master-page style:name="Standard"><style:header><text:p>The old man is fishing.</text:p>'
        "</style:header></style:master-page></office:master-styles></office:document-styles>"
    )
    original = zip_of([("mimetype", "application/vnd.oasis.opendocument.text"), ("content.xml", ODT_CONTENT),
                       ("styles.xml", styles)])  # fmt: skip
    document = read(original, ".odt")
    assert document.texts[-1] == "The old man is fishing."
    translated = members(write(document, [translation(text.upper()) for text in document.texts]))
    assert b"<style:header><text:p>THE OLD MAN IS FISHING.</text:p>" in translated[2][2]


def test_characters_xml_cannot_hold_are_left_out_of_a_translation() -> None:
    document = read(docx(), ".docx")
    translated = members(write(document, [translation(f"{text}\x00\x1b\ufffe") for text in document.texts]))
    assert texts_of(translated[2][2], f"{{{W}}}t") == ["The old man is fishing."]


def test_a_wrong_number_of_translations_is_refused() -> None:
    with pytest.raises(ValueError, match="1 translations for 5 paragraphs"):
        write(read(docx(), ".docx"), [translation("Eins.")])


# --- refusals --------------------------------------------------------------------------------------------------


def with_central_field(content: bytes, name: str, offset: int, fmt: str, value: int) -> bytes:
    """The zip with one field of `name`'s central directory entry set to `value` (what a forged file declares)."""
    entry = content.rindex(b"PK\x01\x02", 0, content.rindex(name.encode()))
    field = entry + offset
    return content[:field] + struct.pack(fmt, value) + content[field + struct.calcsize(fmt) :]


def with_declared_size(content: bytes, name: str, size: int) -> bytes:
    """The zip with `name` declared to unpack to `size` bytes from a tenth of that (within MAX_RATIO)."""
    return with_central_field(with_central_field(content, name, 24, "<I", size), name, 20, "<I", size // 10)


def test_a_file_that_is_not_a_zip_is_refused() -> None:
    with pytest.raises(OfficeFileError, match="not a valid zip"):
        read(b"A man is riding a bike.", ".docx")


def test_missing_main_parts_and_wrong_roots_are_refused() -> None:
    with pytest.raises(OfficeFileError, match=re.escape("has no word/document.xml")):
        read(zip_of([("content.xml", ODT_CONTENT)]), ".docx")
    with pytest.raises(OfficeFileError, match=re.escape("has no ppt/presentation.xml")):
        read(docx(), ".pptx")
    with pytest.raises(OfficeFileError, match=re.escape("has no content.xml")):
        read(docx(), ".odt")
    with pytest.raises(OfficeFileError, match=re.escape("not an OpenDocument presentation (.odp): it has no")):
        read(docx(), ".odp")
    with pytest.raises(OfficeFileError, match=re.escape("has no META-INF/container.xml")):
        read(docx(), ".epub")
    with pytest.raises(OfficeFileError, match="not a Word document"):
        read(docx(HEADER), ".docx")


def test_declared_sizes_over_the_limits_are_refused_before_reading() -> None:
    bomb = with_declared_size(docx(), "word/media/image1.png", 0xFFFF_FFF0)
    with pytest.raises(OfficeFileTooLarge, match="unpacks to 4294967280 bytes"):
        read(bomb, ".docx")
    many = zip_of([("word/document.xml", DOCUMENT)] + [(f"m/{index}", "") for index in range(office.MAX_MEMBERS)])
    with pytest.raises(OfficeFileTooLarge, match=f"has {office.MAX_MEMBERS + 1} members"):
        read(many, ".docx")
    near = office.MAX_MEMBER_BYTES - 1
    parts = [("word/document.xml", DOCUMENT)] + [(f"m/{index}", "x") for index in range(5)]
    forged = zip_of(parts)
    for index in range(5):
        forged = with_declared_size(forged, f"m/{index}", near)
    with pytest.raises(OfficeFileTooLarge, match="the container unpacks to"):
        read(forged, ".docx")
    slides = [("ppt/presentation.xml", "<p/>")] + [(f"ppt/slides/slide{index}.xml", "<p/>") for index in range(3)]
    forged = zip_of(slides)
    for index in range(3):
        forged = with_declared_size(forged, f"ppt/slides/slide{index}.xml", office.MAX_XML_PART_BYTES)
    with pytest.raises(OfficeFileTooLarge, match="the file's text parts unpack to"):
        read(forged, ".pptx")


def test_a_member_that_unpacks_to_more_than_max_ratio_times_its_size_is_refused() -> None:
    zeros = b"\0" * (2 * office.RATIO_FLOOR_BYTES)  # packs about 1000 times
    with pytest.raises(OfficeFileTooLarge, match="more than 100 times is refused"):
        read(zip_of([("word/document.xml", DOCUMENT), ("word/media/zeros.bin", zeros)]), ".docx")
    read(zip_of([("word/document.xml", DOCUMENT), ("word/media/small.bin", zeros[: office.RATIO_FLOOR_BYTES])]),
         ".docx")  # fmt: skip


def test_a_member_larger_than_it_declares_is_not_read_past_its_size() -> None:
    lying = with_central_field(docx(), "word/document.xml", 24, "<I", 100)
    with pytest.raises(OfficeFileError, match="cannot be read"):
        read(lying, ".docx")


def test_encrypted_members_other_compressions_and_unsafe_or_repeated_names_are_refused() -> None:
    encrypted = with_central_field(docx(), "word/document.xml", 8, "<H", 0x1)
    with pytest.raises(OfficeFileError, match="is encrypted"):
        read(encrypted, ".docx")
    with pytest.raises(OfficeFileError, match="unsupported compression"):
        read(zip_of([("word/document.xml", DOCUMENT)], compression=zipfile.ZIP_BZIP2), ".docx")
    for name in ("../evil.xml", "/etc/passwd", "C:/evil.xml", "word/../../evil.xml"):
        with pytest.raises(OfficeFileError, match="unsafe name"):
            read(zip_of([("word/document.xml", DOCUMENT), (name, "x")]), ".docx")
    with pytest.warns(UserWarning, match="Duplicate name"):
        repeated = zip_of([("word/document.xml", DOCUMENT), ("word/document.xml", HEADER)])
    with pytest.raises(OfficeFileError, match=re.escape("two members named 'word/document.xml'")):
        read(repeated, ".docx")


ENTITIES = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    f'<w:document xmlns:w="{W}"><w:body><w:p><w:r><w:t>&lol2;</w:t></w:r></w:p></w:body></w:document>'
)
EXTERNAL = (
    '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    f'<w:document xmlns:w="{W}"><w:body><w:p><w:r><w:t>&x;</w:t></w:r></w:p></w:body></w:document>'
)


@pytest.mark.parametrize(
    "xml", [ENTITIES, EXTERNAL, DOCUMENT.replace("<w:document", "<!DOCTYPE w:document>\n<w:document")]
)
def test_xml_with_a_dtd_is_refused(xml: str) -> None:
    with pytest.raises(OfficeFileError, match="declares a DTD"):
        read(docx(xml), ".docx")


def test_an_epubs_xhtml_may_name_a_doctype_but_not_declare_entities() -> None:
    read(epub(), ".epub")  # <!DOCTYPE html> is fine
    bad = CHAPTER.replace("<!DOCTYPE html>", '<!DOCTYPE html [<!ENTITY x SYSTEM "file:///etc/passwd">]>')
    with pytest.raises(OfficeFileError, match="declares a DTD"):
        read(epub(bad), ".epub")


def test_xml_that_is_not_well_formed_is_refused() -> None:
    with pytest.raises(OfficeFileError, match="not well-formed XML"):
        read(docx(DOCUMENT[:-20]), ".docx")
