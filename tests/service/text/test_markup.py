"""service.text.markup: HTML cut into blocks and written back around their translations, inline elements placed by
the word alignment."""

from __future__ import annotations

from collections import Counter

import pytest

from service.text.markup import (
    MAX_DEPTH,
    BlockTranslation,
    Element,
    Markup,
    MarkupError,
    Node,
    Slot,
    parse,
    parse_tree,
    render,
    serialize,
    split_translation,
)


def _elements(html: str) -> Counter[tuple[str, tuple[tuple[str, str | None], ...]]]:
    """The multiset of (tag, attributes) of every element, as an HTML5 parser reads `html`."""
    found: Counter[tuple[str, tuple[tuple[str, str | None], ...]]] = Counter()

    def walk(nodes: tuple[Node, ...]) -> None:
        for node in nodes:
            if isinstance(node, Element):
                found[(node.tag, node.attributes)] += 1
                walk(node.children)
            elif isinstance(node, Slot):
                walk(node.nodes)

    walk(parse_tree(html)[0])
    return found


def _upper(markup: Markup) -> list[BlockTranslation]:
    """Each block "translated" to upper case, word i linked to word i."""
    return [
        BlockTranslation(block.text.upper(), frozenset((i, i) for i in range(len(block.text.split()))))
        for block in markup.blocks
    ]


def _translated(html: str, text: str, links: set[tuple[int, int]]) -> str:
    markup = parse(html)
    assert len(markup.blocks) == 1
    return render(markup, [BlockTranslation(text, frozenset(links))])


def test_block_elements_and_br_are_boundaries_and_whitespace_collapses() -> None:
    markup = parse("<h1>Title</h1><p>\n  Hello   <b>big\n</b> world</p><div>Two<br>lines<ul><li>one<li>two</ul></div>")
    assert markup.texts == ["Title", "Hello big world", "Two", "lines", "one", "two"]
    [bold] = markup.blocks[1].inlines
    assert markup.blocks[1].text[bold.start : bold.end] == "big"


def test_an_inline_element_holding_a_block_or_br_is_a_boundary_itself() -> None:
    markup = parse("<p>Say <b>one<br>two</b> now <a href='/x'><div>Card</div></a></p>")
    assert markup.texts == ["Say", "one", "two", "now", "Card"]
    assert _elements(render(markup, _upper(markup))) == _elements(
        "<p>Say <b>one<br>two</b> now <a href='/x'><div>Card</div></a></p>"
    )


def test_code_pre_script_style_and_notranslate_pass_through() -> None:
    html = (
        "<p>Run <code>npm  install</code> now</p><pre>keep  <b>this</b></pre><script>if (a < b && c) {}</script>"
        '<style>p > b { color: red }</style><p>Say <span translate="no">Heed Ltd</span> and'
        ' <em class="x notranslate">Keep</em> it</p><div translate="no">Whole block</div>'
    )
    markup = parse(html)
    assert markup.texts == ["Run npm install now", "Say Heed Ltd and Keep it"]
    out = render(markup, _upper(markup))
    assert out == (
        "<p>RUN <code>npm  install</code> NOW</p><pre>keep  <b>this</b></pre><script>if (a < b && c) {}</script>"
        '<style>p > b { color: red }</style><p>SAY <span translate="no">Heed Ltd</span> AND'
        ' <em class="x notranslate">Keep</em> IT</p><div translate="no">Whole block</div>'
    )


def test_a_block_with_no_letters_is_kept_as_it_was() -> None:
    markup = parse("<p>2026</p><p>--</p><p><code>x = 1</code></p><p>Yes</p>")
    assert markup.texts == ["Yes"]
    assert render(markup, _upper(markup)) == "<p>2026</p><p>--</p><p><code>x = 1</code></p><p>YES</p>"


def test_entities_and_attributes_come_back_escaped() -> None:
    html = '<p title="a &amp; &quot;b&quot;" hidden>x &amp; y &lt;z&gt;&nbsp;w &copy;</p>'
    markup = parse(html)
    assert markup.texts == ["x & y <z> w \u00a9"]
    out = render(markup, [BlockTranslation("x & y <z> w \u00a9", frozenset())])
    assert out == '<p title="a &amp; &quot;b&quot;" hidden>x &amp; y &lt;z&gt; w \u00a9</p>'


def test_serialization_gives_back_canonical_html_unchanged() -> None:
    html = (
        '<!-- c  o --><p class="a" id="b" data-z="1">x &amp; <a href="/t?a=1&amp;b=2">l</a>&nbsp;<img src="i.png" '
        'alt=""><br><!--  spaced  --></p><table><tbody><tr><td>1</td></tr></tbody></table><template><b>t</b></template>'
    )
    assert serialize(parse(html).nodes) == html


def test_a_document_keeps_its_doctype_head_and_attributes() -> None:
    html = (
        '<!DOCTYPE html PUBLIC "-//W3C//DTD HTML 4.01//EN" "http://www.w3.org/TR/html4/strict.dtd">\n'
        '<html lang="en"><head><meta charset="utf-8"><title>The title</title></head>'
        '<body class="b"><p>Text</p></body></html>'
    )
    markup = parse(html)
    assert markup.document and markup.texts == ["The title", "Text"]
    assert render(markup, _upper(markup)) == (
        '<!DOCTYPE html PUBLIC "-//W3C//DTD HTML 4.01//EN" "http://www.w3.org/TR/html4/strict.dtd"><html lang="en">'
        '<head><meta charset="utf-8"><title>THE TITLE</title></head><body class="b"><p>TEXT</p></body></html>'
    )


def test_inline_elements_go_around_the_aligned_target_words() -> None:
    out = _translated("<p>A <b>big</b> dog</p>", "Hund großer ein", {(0, 2), (1, 1), (2, 0)})
    assert out == "<p>Hund <b>großer</b> ein</p>"


def test_nested_elements_stay_nested_each_on_its_own_words() -> None:
    html = '<p><a href="/x">see <b>this</b> page</a> now</p>'
    out = _translated(html, "jetzt diese Seite sehen", {(0, 3), (1, 1), (2, 2), (3, 0)})
    assert out == '<p>jetzt <a href="/x"><b>diese</b> Seite sehen</a></p>'


def test_a_range_is_contiguous_from_the_first_to_the_last_aligned_word() -> None:
    links = {(0, 0), (1, 1), (2, 2), (3, 4), (4, 3)}
    out = _translated("<p>He <b>turned it off</b> fast</p>", "Er schaltete es schnell aus", links)
    assert out == "<p>Er <b>schaltete es schnell aus</b></p>"


def test_crossing_siblings_never_overlap_and_none_is_dropped() -> None:
    out = _translated("<p><b>a b</b> <i>c</i></p>", "x y z", {(0, 0), (1, 2), (2, 1)})
    assert out == "<p><b>x y z</b><i></i></p>"
    assert _elements(out) == _elements("<p><b>a b</b> <i>c</i></p>")


def test_a_link_whose_word_went_to_an_earlier_sibling_takes_the_next_free_word() -> None:
    html = '<p><a href="/1">one</a> and <a href="/2">two</a></p>'
    out = _translated(html, "eins zwei drei", {(0, 0), (1, 1), (2, 0)})
    assert out == '<p><a href="/1">eins</a> <a href="/2">zwei</a> drei</p>'


def test_unlinked_elements_keep_their_relative_position() -> None:
    assert _translated("<p>Hello <b>world</b></p>", "Hallo Welt", set()) == "<p>Hallo <b>Welt</b></p>"
    assert _translated('<p>A <img src="x.png"> B C D</p>', "w x y z", set()) == '<p>w <img src="x.png">x y z</p>'
    assert _translated("<p>Start<!-- note --> end</p>", "Anfang Ende", set()) == "<p>Anfang<!-- note --> Ende</p>"


def test_an_empty_translation_keeps_every_element() -> None:
    html = '<p>Hi <a href="/x"><span>@ann</span></a> <code>x</code><img src="i.png"></p>'
    out = _translated(html, "", set())
    assert _elements(out) == _elements(html)


@pytest.mark.parametrize(
    "html",
    [
        "<p>a<b>b<i>c</b>d</i><p>e",
        '<table>x<tr><td>cell <a href="/y">one</a></table><ul><li>one<li>two</ul>',
        '<div><p>Hello <a href="https://e.x/@ann" class="mention">@<span>ann</span></a>!<br>'
        '<a href="https://e.x/tags/cats" rel="tag">#<span>cats</span></a> are <b>great <i>and <u>fun</u></i></b>'
        "</p></div>",
        "<svg viewBox='0 0 1 1'><path d='M0'/></svg><p>A <select><option>one</select> choice &amp; more</p>",
    ],
)
def test_output_is_well_formed_with_the_same_elements_and_attributes(html: str) -> None:
    markup = parse(html)
    reversed_words = [
        BlockTranslation(" ".join(reversed(block.text.split())),
                         frozenset((i, len(block.text.split()) - 1 - i) for i in range(len(block.text.split()))))
        for block in markup.blocks
    ]  # fmt: skip
    for translations in (_upper(markup), reversed_words, [BlockTranslation("", frozenset())] * len(markup.blocks)):
        out = render(markup, translations)
        assert _elements(out) == _elements(html)
        assert serialize(parse_tree(out)[0]) == out  # well-formed: it reads back as it was written


def test_split_translation_makes_links_block_local() -> None:
    blocks = split_translation(
        ["A b", "C d e"], "X y\nZ", ["A", "b", "C", "d", "e"], ["X", "y", "Z"], "0-0 1-1 2-2 4-2 1-2 3-9"
    )
    assert blocks == [BlockTranslation("X y", frozenset({(0, 0), (1, 1)})),
                      BlockTranslation("Z", frozenset({(0, 0), (2, 0)}))]  # fmt: skip


def test_split_translation_maps_words_a_splitter_cut_differently() -> None:
    # The translator saw "e.g.Cats" as two words (a sentence boundary inside it); the block has it as one.
    [block] = split_translation(["see e.g.Cats now"], "siehe z.B. Katzen jetzt", ["see", "e.g.", "Cats", "now"],
                                ["siehe", "z.B.", "Katzen", "jetzt"], "0-0 1-1 2-2 3-3")  # fmt: skip
    assert block.links == frozenset({(0, 0), (1, 1), (1, 2), (2, 3)})


def test_an_element_over_all_of_its_parents_words_gets_all_of_its_target_words() -> None:
    assert _translated("<p><i>A cat sleeps.</i></p>", "Eine Katze schläft.", {(0, 1), (1, 1), (2, 2)}) == (
        "<p><i>Eine Katze schläft.</i></p>"
    )


def test_an_unlinked_element_follows_the_target_words_of_the_source_word_before_it() -> None:
    html = '<p>Dogs play in snow <img src="x.png"> today</p>'
    out = _translated(html, "heute spielen Hunde im Schnee", {(0, 2), (1, 1), (2, 3), (3, 4), (4, 0)})
    assert out == '<p>heute spielen Hunde im Schnee<img src="x.png"></p>'


def test_mentions_hashtags_and_addresses_are_names_kept_verbatim() -> None:
    html = (
        '<p>Hi <a href="/@ann" class="mention">@<span>ann</span></a> see <a href="/tags/cats">#cats</a> at '
        '<a href="https://e.x/a"><span class="invisible">https://</span>e.x/a</a> or <a href="/b">this page</a></p>'
    )
    markup = parse(html)
    assert markup.texts == ["Hi @ann see #cats at https://e.x/a or this page"]
    assert [inline.verbatim for inline in markup.blocks[0].inlines] == [True, True, True, False]
    out = render(markup, _upper(markup))
    assert out == html.replace("Hi", "HI").replace(" see ", " SEE ").replace(" at ", " AT ").replace(" or ", " OR ")\
        .replace("this page", "THIS PAGE")  # fmt: skip


def test_a_verbatim_element_replaces_only_target_words_that_translate_nothing_else() -> None:
    html = "<p>Run <code>make</code> now</p>"
    assert _translated(html, "Starte make jetzt", {(0, 0), (1, 1), (2, 2)}) == "<p>Starte <code>make</code> jetzt</p>"
    # "jetzt" is also the translation of "now": the code goes after "Starte", its source neighbour's word
    assert _translated(html, "Starte jetzt", {(0, 0), (1, 1), (2, 1)}) == "<p>Starte <code>make</code> jetzt</p>"


def test_html_nested_deeper_than_the_limit_is_refused_by_name() -> None:
    assert parse("<div>" * (MAX_DEPTH - 1) + "Deep.").texts == ["Deep."]
    with pytest.raises(MarkupError, match=f"more than {MAX_DEPTH} deep"):
        parse("<div>" * (MAX_DEPTH + 1) + "Deep.")


def test_target_words_linked_to_nothing_at_the_edge_go_with_the_element_at_that_edge() -> None:
    # source-argmax left "tanzt." unlinked; <b> ends the paragraph's text, so it ends the translation too
    html = "<p>Look: <b>friends are dancing.</b></p>"
    out = _translated(html, "Schau: Freunde tanzen.", {(0, 0), (1, 1), (2, 1), (3, 1)})
    assert out == "<p>Schau: <b>Freunde tanzen.</b></p>"
    # an element in the middle does not take them
    out = _translated("<p><b>Hello</b> big world</p>", "Hallo große Welt", {(0, 0), (1, 1), (2, 1)})
    assert out == "<p><b>Hallo</b> große Welt</p>"


def test_punctuation_outside_the_source_element_stays_outside_the_target_one() -> None:
    links = {(0, 0), (1, 1), (2, 2), (4, 3)}
    out = _translated("<p>Girls play <i>in the snow</i>.</p>", "Mädchen spielen im Schnee.", links)
    assert out == "<p>Mädchen spielen <i>im Schnee</i>.</p>"
    out = _translated("<p>Look <i>here!</i></p>", "Schau hier!", {(0, 0), (1, 1)})
    assert out == "<p>Schau <i>hier!</i></p>"
    out = _translated("<p><b>Wait <i>now</i></b>.</p>", "Warte jetzt.", {(0, 0), (1, 1)})
    assert out == "<p><b>Warte <i>jetzt</i></b>.</p>"


def test_a_verbatim_element_replaces_the_longest_run_of_its_own_words() -> None:
    html = "<p>Run <code>pip install x</code> first</p>"
    out = _translated(html, "a b c d e", {(1, 0), (2, 2), (3, 3), (0, 1), (4, 4)})
    assert out == "<p>a b <code>pip install x</code> e</p>"


@pytest.mark.parametrize(
    "html",
    [
        '<article class="post"><h2>Title &amp; more</h2><p>Hello <a href="https://e.x/@ann" class="mention">@<span>'
        'ann</span></a>, look at <b>this <i>thing</i></b>!<br>Second line with <a href="https://e.x/tags/cats" '
        'rel="tag">#<span>cats</span></a>.</p><!-- note --><ul><li>one</li><li>two</li></ul><pre>keep  this</pre>'
        "</article>",
        "<p>Run <code>make test</code>, then <kbd>Ctrl</kbd>+<kbd>C</kbd> (twice).</p>",
        '<p>Un<b>believ</b>able <a href="/x"><img src="i.png" alt="i"></a><span translate="no">Heed</span>\'s '
        "<q>quote</q></p>",
    ],
)
def test_an_identity_translation_gives_the_html_back(html: str) -> None:
    markup = parse(html)
    identity = [
        BlockTranslation(block.text, frozenset((i, i) for i in range(len(block.text.split()))))
        for block in markup.blocks
    ]
    assert render(markup, identity) == html


def test_siblings_splitting_a_translated_word_keep_their_order_and_nesting() -> None:
    html = "<p>It is <b>un</b><i>done</i> now</p>"
    out = _translated(html, "Es ist jetzt rückgängig", {(0, 0), (1, 1), (2, 3), (3, 2)})
    assert out == "<p>Es ist jetzt <b>rückgängig</b><i></i></p>"
    assert _translated(html, "It is undone now", {(0, 0), (1, 1), (2, 2), (3, 3)}) == html  # a copied word


def test_split_translation_skips_the_words_of_a_sentence_cut_short() -> None:
    # the first sentence was longer than the model reads: its last two words are not among the source words
    [block] = split_translation(["One two three four. Five six."], "Eins zwei. Fünf sechs.",
                                ["One", "two", "Five", "six."], ["Eins", "zwei.", "Fünf", "sechs."],
                                "0-0 1-1 2-2 3-3")  # fmt: skip
    assert block.links == frozenset({(0, 0), (1, 1), (4, 2), (5, 3)})
