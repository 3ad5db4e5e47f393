"""`format: "html"` over a real server and the tiny real bundle: /v1/translate, LibreTranslate's /translate (JSON and
form data, source=auto) and /translate_file with .html and .htm files."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import pytest

from service.text.markup import Element, Node, parse_tree, serialize
from tests.service.app.test_libretranslate_surface import _download, _translate_file
from tests.tiny_corpus import PAIRS

Elements = Counter[tuple[str, tuple[tuple[str, str | None], ...]]]

POST = (
    f'<p>{PAIRS[2][0]} <a href="https://social.example/@ann" class="u-url mention">@<span>ann</span></a></p><p>'
    f'{PAIRS[7][0]}<br><a href="https://social.example/tags/dogs" class="mention hashtag" rel="tag">#<span>dogs'
    "</span></a> "
    '<a href="https://social.example/tags/snow" class="mention hashtag" rel="tag">#<span>snow</span></a><br>'
    '<a href="https://dogs.example/?a=1&amp;b=2" target="_blank" rel="nofollow noopener"><span class="invisible">'
    'https://</span><span class="">dogs.example/?a=1&amp;b=2</span></a></p>'
)


def _elements(html: str) -> Elements:
    """The multiset of (tag, attributes) of every element, as an HTML5 parser reads `html`."""
    found: Elements = Counter()

    def walk(nodes: tuple[Node, ...]) -> None:
        for node in nodes:
            if isinstance(node, Element):
                found[(node.tag, node.attributes)] += 1
                walk(node.children)

    walk(parse_tree(html)[0])
    return found


def _text(html: str) -> str:
    """The text content of `html`."""

    def text(nodes: tuple[Node, ...]) -> str:
        return "".join(getattr(node, "text", "") + (text(node.children) if isinstance(node, Element) else "")
                       for node in nodes)  # fmt: skip

    return text(parse_tree(html)[0])


def _links(html: str) -> list[tuple[str | None, str]]:
    """Each <a>'s href and its text."""
    links = []

    def walk(nodes: tuple[Node, ...]) -> None:
        for node in nodes:
            if isinstance(node, Element):
                if node.tag == "a":
                    links.append((dict(node.attributes).get("href"), _text(serialize(node.children))))
                walk(node.children)

    walk(parse_tree(html)[0])
    return links


def _translate(client: httpx.Client, text: str | list[str], **options: Any) -> dict[str, Any]:
    body = {"source": "en", "target": "de", "text": text, "format": "html", **options}
    response = client.post("/v1/translate", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_blocks_are_translated_and_markup_kept(client: httpx.Client) -> None:
    html = f'<h2 id="t">{PAIRS[0][0]}</h2>\n<p class="x">{PAIRS[1][0]}<br>{PAIRS[3][0]}</p><pre>{PAIRS[4][0]}</pre>'
    [item] = _translate(client, html)["translations"]
    assert item["source"] == html
    assert item["text"] == (
        f'<h2 id="t">{PAIRS[0][1]}</h2>\n<p class="x">{PAIRS[1][1]}<br>{PAIRS[3][1]}</p><pre>{PAIRS[4][0]}</pre>'
    )
    # tokens, words and alignment are those of the text content, one block per line
    assert " ".join(item["source_words"]) == " ".join([PAIRS[0][0], PAIRS[1][0], PAIRS[3][0]])
    assert " ".join(item["target_words"]) == " ".join([PAIRS[0][1], PAIRS[1][1], PAIRS[3][1]])


def test_an_inline_element_wraps_the_target_words_aligned_to_its_words(client: httpx.Client) -> None:
    words = PAIRS[7][0].split()  # "A dog is running through the grass."
    html = f"<p>{words[0]} <b>{words[1]}</b> {' '.join(words[2:])}</p>"
    [item] = _translate(client, html)["translations"]
    linked = sorted(int(link.split("-")[1]) for link in item["alignment"].split() if link.split("-")[0] == "1")
    assert linked, item["alignment"]  # source-argmax links every source word
    target = item["target_words"]
    wrapped = " ".join(target[linked[0] : linked[-1] + 1])
    assert f"<b>{wrapped}</b>" in item["text"]
    assert item["text"].replace("<b>", "").replace("</b>", "").removeprefix("<p>").removesuffix("</p>") == PAIRS[7][1]


def test_entities_attributes_and_notranslate_pass_through(client: httpx.Client) -> None:
    html = (
        f'<p title="a &amp; b">{PAIRS[5][0]} <code>a &lt; b &amp;&amp; c</code></p>'
        f'<p translate="no">{PAIRS[6][0]}</p><script>if (a < b) {{}}</script>'
    )
    [item] = _translate(client, html)["translations"]
    assert item["text"].startswith('<p title="a &amp; b">')
    assert "<code>a &lt; b &amp;&amp; c</code>" in item["text"]
    assert item["text"].endswith(f'<p translate="no">{PAIRS[6][0]}</p><script>if (a < b) {{}}</script>')
    assert _elements(item["text"]) == _elements(html)


def test_a_social_media_post_keeps_every_link_working(client: httpx.Client) -> None:
    [item] = _translate(client, POST)["translations"]
    out = item["text"]
    assert _elements(out) == _elements(POST)
    links = _links(out)
    assert [href for href, _ in links] == [href for href, _ in _links(POST)]
    assert all(text.strip() for _, text in links), links
    assert [text for _, text in links] == ["@ann", "#dogs", "#snow", "https://dogs.example/?a=1&b=2"]  # names
    first, second = (_text(paragraph) for paragraph in out.split("</p><p>"))
    assert " ".join(first.replace("@ann", "").split()) == PAIRS[2][1]  # the words around the mention translated
    assert second.startswith(PAIRS[7][1]) and out.count("<br>") == 2


def test_html_with_nothing_to_translate_comes_back_as_it_was(client: httpx.Client) -> None:
    html = '<p><img src="a.png" alt=""> <code>x = 1</code> 2026</p>'
    [empty, full] = _translate(client, [html, f"<p>{PAIRS[8][0]}</p>"])["translations"]
    assert empty["text"] == html and empty["target_words"] == []
    assert full["text"] == f"<p>{PAIRS[8][1]}</p>"


def test_auto_detects_the_text_content_not_the_markup(client: httpx.Client) -> None:
    html = f'<div class="wrapper"><p data-x="y">{PAIRS[9][0]}</p></div>'
    body = _translate(client, html, source="auto")
    assert body["source"] == "en"
    assert body["translations"][0]["text"] == f'<div class="wrapper"><p data-x="y">{PAIRS[9][1]}</p></div>'


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"format": "xml"}, 422, "format"),
        ({"text": "<p>" + "a " * 2600 + "</p>"}, 422, "limit is 5000"),
        ({"text": "<div>" * 300 + "Deep."}, 422, "text could not be read as HTML: the HTML nests elements more than"),
    ],
)
def test_bad_html_requests_are_4xx(client: httpx.Client, body: dict[str, Any], status: int, fragment: str) -> None:
    response = client.post("/v1/translate", json={"source": "en", "target": "de", "text": "<p>x</p>",
                                                  "format": "html", **body})  # fmt: skip
    assert response.status_code == status, response.text
    assert fragment in response.text


def test_libretranslate_translates_html_with_source_auto(client: httpx.Client) -> None:
    response = client.post("/translate", json={"q": POST, "source": "auto", "target": "de", "format": "html"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["detectedLanguage"]["language"] == "en"
    assert _elements(body["translatedText"]) == _elements(POST)
    assert all(text.strip() for _, text in _links(body["translatedText"]))


def test_libretranslate_reads_format_html_from_form_data(client: httpx.Client) -> None:
    html = f"<p>{PAIRS[10][0]}</p><p><i>{PAIRS[11][0]}</i></p>"
    response = client.post("/translate", data={"q": html, "source": "en", "target": "de", "format": "html"})
    assert response.status_code == 200, response.text
    assert response.json() == {"translatedText": f"<p>{PAIRS[10][1]}</p><p><i>{PAIRS[11][1]}</i></p>"}


@pytest.mark.parametrize("name", ["page.html", "old.HTM"])
def test_an_html_file_is_translated_with_its_markup(client: httpx.Client, name: str) -> None:
    page = (
        '\ufeff<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{0}</title>'
        '<style>p > a {{ color: red }}</style></head>\n<body><p>{1} <a href="/more?a=1&amp;b=2">{2}</a></p>'
        "<!-- end --></body></html>\n"
    )
    source = page.format(PAIRS[12][0], PAIRS[13][0], PAIRS[14][0])
    download = _download(client, _translate_file(client, name, source.encode()))
    assert download.status_code == 200
    assert download.headers["content-type"] == "text/html; charset=utf-8"
    text = download.content.decode()
    assert text.startswith('\ufeff<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">')
    assert f"<title>{PAIRS[12][1]}</title><style>p > a {{ color: red }}</style>" in text
    assert f"{PAIRS[13][1]} <a" in text and "<!-- end -->" in text
    assert _elements(text) == _elements(source)


def test_an_html_file_that_cannot_be_read_is_400(client: httpx.Client) -> None:
    response = _translate_file(client, "deep.html", ("<div>" * 300 + "Deep.").encode())
    assert response.status_code == 400
    assert response.json() == {"error": "Invalid request: the HTML nests elements more than 200 deep"}


def test_alternatives_and_n_best_are_html_too(client: httpx.Client) -> None:
    html = f'<p><a href="/x">{PAIRS[15][0]}</a> <b>{PAIRS[16][0]}</b></p>'
    response = client.post("/translate", json={"q": html, "source": "en", "target": "de", "format": "html",
                                               "alternatives": 2})  # fmt: skip
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["translatedText"] == f'<p><a href="/x">{PAIRS[15][1]}</a> <b>{PAIRS[16][1]}</b></p>'
    assert body["alternatives"], body
    for alternative in body["alternatives"]:
        assert _elements(alternative) == _elements(html)
    [item] = _translate(client, html, n_best=3, beam_size=3)["translations"]
    assert item["n_best"][0]["text"] == item["text"]
    assert all(_elements(hypothesis["text"]) == _elements(html) for hypothesis in item["n_best"])
