"""Choosing the HTML parser for `format: "html"` (service/text/markup.py) by measurement.

    python -m bench.html_parsers [--out bench/results]

For each candidate (selectolax/lexbor, html5lib, lxml.html, BeautifulSoup with html5lib, justhtml):

- malformed: the trees it builds for fragments that HTML5's tree construction repairs in a defined way (misnested
  and unclosed tags, the adoption agency, foster parenting, duplicate attributes, bare `&`), compared with the
  tree the WHATWG algorithm gives, written out by hand below;
- round trip: whether its own serializer gives back well-formed, canonical fragments unchanged (entities,
  attribute order, bare attributes, comments with their spaces, script text);
- speed: milliseconds to parse a 200 KB page (best of 5), and the fragment API heed needs.

Writes html-parsers.md under --out and prints it. Only selectolax is among heed's dependencies:
`pip install html5lib lxml beautifulsoup4 justhtml` first (a missing candidate is reported as missing).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

# Each fragment (parsed as the content of <body>) and the tree the HTML5 algorithm builds for it, serialized.
MALFORMED = [
    ("<p>a<p>b", "<p>a</p><p>b</p>"),
    ("<b><i>x</b>y</i>", "<b><i>x</i></b><i>y</i>"),
    ("<b>x<p>y</b>z", "<b>x</b><p><b>y</b>z</p>"),
    ('<a href="1">x<a href="2">y', '<a href="1">x</a><a href="2">y</a>'),
    ("<p>x<div>y</div>", "<p>x</p><div>y</div>"),
    ("<ul><li>a<li>b</ul>", "<ul><li>a</li><li>b</li></ul>"),
    ("<table><tr><td>x</table>", "<table><tbody><tr><td>x</td></tr></tbody></table>"),
    ("<table>x<tr><td>y</td></tr></table>", "x<table><tbody><tr><td>y</td></tr></tbody></table>"),
    ('<p a="1" a="2">x', '<p a="1">x</p>'),
    ("x &amp y &notit; &lt", "x &amp; y \u00acit; &lt;"),  # &not is a legacy name: no ";" needed
    ("<span>a</div>b</span>", "<span>ab</span>"),
    ("</p>", "<p></p>"),
]
ROUND_TRIP = [
    '<p class="a" id="b" hidden="">x &amp; &lt;y&gt;&nbsp;z</p>',
    '<a href="/t?a=1&amp;b=2" title="&quot;q&quot;">link</a>',
    "<p>a<!--  spaced  comment  -->b</p>",
    '<script>if (a < b && c) {}</script><br><img src="x.png" alt="">',
    '<p data-z="1" data-a="2" title="t">attribute order</p>',
]
RELEASES = {  # latest release at the time of measuring (PyPI), and what it is built on
    "selectolax": "1.0.2, 2026-10; C (lexbor)",
    "html5lib": "1.1, 2020-06; pure Python",
    "lxml": "6.1.3, 2026-09; C (libxml2's HTML 4 parser)",
    "bs4+html5lib": "4.15.0, 2026-06, over html5lib 1.1",
    "justhtml": "3.16.0, 2026-10; pure Python",
}
Tree = list[Any]  # ["text", str] | ["comment", str] | ["element", tag, [(name, value)], [children]]
_VOID = {"br", "img", "input", "meta", "link", "hr", "wbr", "source", "area", "col", "embed", "track", "base"}


def canonical(nodes: Tree) -> str:
    out = []
    for node in nodes:
        if node[0] == "text":
            text = node[1].replace("&", "&amp;").replace("\xa0", "&nbsp;")
            out.append(text.replace("<", "&lt;").replace(">", "&gt;"))
        elif node[0] == "comment":
            out.append(f"<!--{node[1]}-->")
        else:
            _, tag, attributes, children = node
            written = "".join(f' {name}="{(value or "").replace("&", "&amp;").replace(chr(34), "&quot;")}"'
                              for name, value in attributes)  # fmt: skip
            body = children[0][1] if tag in ("script", "style") and children else canonical(children)
            out.append(f"<{tag}{written}>" + ("" if tag in _VOID else f"{body}</{tag}>"))
    return "".join(out)


def _selectolax() -> tuple[Callable[[str], Tree], Callable[[str], str]]:
    from selectolax.lexbor import LexborHTMLParser, LexborNode

    def convert(node: LexborNode | None) -> Tree:
        out: Tree = []
        while node is not None:
            if node.is_text_node:
                out.append(["text", node.text_content])
            elif node.is_comment_node:
                out.append(["comment", node.comment_content])
            elif node.is_element_node:
                out.append(["element", node.tag, list(node.attributes.items()), convert(node.child)])
            node = node.next
        return out

    return (lambda html: convert(LexborHTMLParser(html, is_fragment=True).root),
            lambda html: LexborHTMLParser(html, is_fragment=True).html or "")  # fmt: skip


def _etree(element: Any) -> Tree:
    """html5lib's and lxml's ElementTree shape: text and tail strings around children."""
    out: Tree = [["text", element.text]] if element.text else []
    for child in element:
        if callable(child.tag):  # a comment
            out.append(["comment", child.text])
        else:
            out.append(["element", str(child.tag), list(child.attrib.items()), _etree(child)])
        if child.tail:
            out.append(["text", child.tail])
    return out


def _html5lib() -> tuple[Callable[[str], Tree], Callable[[str], str]]:
    import html5lib

    def parse(html: str) -> Any:
        return html5lib.parseFragment(html, treebuilder="etree", namespaceHTMLElements=False)

    def write(html: str) -> str:
        walker = html5lib.getTreeWalker("etree")
        serializer = html5lib.serializer.HTMLSerializer(
            quote_attr_values="always",
            quote_char='"',
            use_best_quote_char=False,
            omit_optional_tags=False,
            minimize_boolean_attributes=False,
        )
        return str(serializer.render(walker(parse(html))))

    return lambda html: _etree(parse(html)), write


def _lxml() -> tuple[Callable[[str], Tree], Callable[[str], str]]:
    import lxml.html

    def parse(html: str) -> Any:
        wrapper = lxml.html.fragment_fromstring(html, create_parent="div")
        return wrapper

    def write(html: str) -> str:
        wrapper = parse(html)
        inner = str(lxml.html.tostring(wrapper, encoding="unicode"))
        return inner.removeprefix("<div>").removesuffix("</div>")

    return lambda html: _etree(parse(html)), write


def _bs4() -> tuple[Callable[[str], Tree], Callable[[str], str]]:
    import bs4
    from bs4.element import Comment, NavigableString

    def convert(children: Any) -> Tree:
        out: Tree = []
        for child in children:
            if isinstance(child, Comment):
                out.append(["comment", str(child)])
            elif isinstance(child, NavigableString):
                out.append(["text", str(child)])
            else:
                attributes = [(k, " ".join(v) if isinstance(v, list) else v) for k, v in child.attrs.items()]
                out.append(["element", child.name, attributes, convert(child.children)])
        return out

    def body(html: str) -> Any:
        return bs4.BeautifulSoup(html, "html5lib").body

    return (lambda html: convert(body(html).children),
            lambda html: body(html).decode_contents(formatter="html5"))  # fmt: skip


def _justhtml() -> tuple[Callable[[str], Tree], Callable[[str], str]]:
    import justhtml

    def convert(children: Any) -> Tree:
        out: Tree = []
        for child in children or []:
            if child.name == "#text":
                out.append(["text", child.data])
            elif child.name == "#comment":
                out.append(["comment", child.data])
            else:
                out.append(["element", child.name, list((child.attrs or {}).items()), convert(child.children)])
        return out

    def root(html: str) -> Any:
        return justhtml.JustHTML(html, fragment=True, sanitize=False).root

    return lambda html: convert(root(html).children), lambda html: root(html).to_html(pretty=False)


CANDIDATES = {"selectolax": _selectolax, "html5lib": _html5lib, "lxml": _lxml, "bs4+html5lib": _bs4,
              "justhtml": _justhtml}  # fmt: skip


def page(size: int = 200_000) -> str:
    post = ('<article class="post"><h2>Title &amp; more</h2><p>Hello <a href="https://e.x/@ann" class="mention">@'
            '<span>ann</span></a>, look at <b>this <i>thing</i></b>!<br>Second line with '
            '<a href="https://e.x/tags/cats" rel="tag">#<span>cats</span></a>.</p><!-- note --><ul><li>one'
            '<li>two</ul><pre>keep  this</pre></article>\n')  # fmt: skip
    return post * (size // len(post))


def measure(name: str) -> dict[str, Any]:
    try:
        tree, write = CANDIDATES[name]()
    except ImportError as error:
        return {"name": name, "missing": str(error)}
    malformed = [(source, canonical(tree(source)), expected) for source, expected in MALFORMED]
    trips = [(source, write(source)) for source in ROUND_TRIP]
    text = page()
    timings = []
    for _ in range(5):
        began = time.perf_counter()
        tree(text)
        timings.append(time.perf_counter() - began)
    return {
        "name": name,
        "malformed_right": sum(got == expected for _, got, expected in malformed),
        "malformed_wrong": [(source, got) for source, got, expected in malformed if got != expected],
        "round_trip_right": sum(source == written for source, written in trips),
        "round_trip_wrong": [(source, written) for source, written in trips if source != written],
        "parse_ms": 1000 * min(timings),
        "page_kb": len(text) // 1000,
    }


def report(results: list[dict[str, Any]]) -> str:
    lines = [
        '# HTML parsers for `format: "html"`',
        "",
        "`python -m bench.html_parsers` (bench/html_parsers.py says what each column measures). Parse time: the",
        f"whole tree of a {results[0].get('page_kb', 200)} KB page of social-media posts into Python objects, "
        "best of 5, on the 2-core build machine.",
        "",
        f"| parser | malformed input as HTML5 (of {len(MALFORMED)}) | own round trip (of {len(ROUND_TRIP)}) "
        "| parse ms | release, engine |",
        "| --- | --- | --- | --- | --- |",
    ]
    for result in results:
        if "missing" in result:
            lines.append(f"| {result['name']} | not installed | | | {RELEASES[result['name']]} |")
            continue
        lines.append(f"| {result['name']} | {result['malformed_right']} | {result['round_trip_right']} "
                     f"| {result['parse_ms']:.0f} | {RELEASES[result['name']]} |")  # fmt: skip
    lines += ["", "Where they differ:", ""]
    for result in results:
        for source, got in result.get("malformed_wrong", []):
            lines.append(f"- {result['name']}, malformed `{source}` -> `{got}`")
        for source, written in result.get("round_trip_wrong", []):
            lines.append(f"- {result['name']}, round trip `{source}` -> `{written}`")
    lines += ["", CHOICE]
    return "\n".join(lines) + "\n"


CHOICE = """Chosen: selectolax (lexbor). It builds the HTML5 tree for every malformed case, as html5lib and justhtml do
(lxml's libxml2 parser is not an HTML5 parser: no adoption agency, no foster parenting, no implied tbody), is as
fast as lxml (both C; the time is mostly walking the tree from Python) and about 8x faster than html5lib and
justhtml, has fragment parsing in <body> context (`is_fragment=True`), keeps attribute order
and bare attributes, and is released and maintained (html5lib's last release is from 2020). heed writes the HTML
itself from the tree (service/text/markup.py), so a parser's own serializer only shows what its tree keeps. Its
gaps, handled in markup.py: `comment_content` strips a comment's spaces (the comment node's `.html` is read
instead), the doctype's public id is not exposed (the doctype is copied from the input), and `<template>`
content is a separate fragment (the element is copied as lexbor writes it)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()
    text = report([measure(name) for name in CANDIDATES])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "html-parsers.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
