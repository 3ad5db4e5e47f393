"""The page at `/` in a real browser (Debian's Chromium, headless) against the real server over the tiny bundle.

The tiny model reproduces the sentences of tests/tiny_corpus.py exactly, so translations are known in advance.
What the page shows is compared with what the API answers: the same request sent by the test, and the stored
result the page links to (exactly the answer the page received).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from service.runtime.alignment import word_attention, word_spans, words_of_pieces
from tests.service.app.conftest import LiveServer, live_server, server_settings
from tests.service.page.conftest import (
    PAGE_BEAM_SIZE,
    PAGE_N_BEST,
    BrowserPage,
    open_ready,
    shown_result_id,
    translate_on_page,
)
from tests.tiny_corpus import PAIRS

ATTENDED = 0.1  # heatmap.js: a token label is marked "is-attended" from this weight on


def api_translate(server: LiveServer, texts: str | list[str]) -> dict[str, Any]:
    """The request the page sends for this text, sent by the test."""
    body = {"source": "en", "target": "de", "model": "en-de", "text": texts, "beam_size": PAGE_BEAM_SIZE,
            "n_best": PAGE_N_BEST}  # fmt: skip
    with server.client() as client:
        response = client.post("/v1/translate", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def stored_result(server: LiveServer, result_id: str) -> dict[str, Any]:
    with server.client() as client:
        response = client.get(f"/v1/translations/{result_id}")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def indices(locator: Any, attribute: str) -> list[int]:
    """The data-i / data-j values of the elements `locator` finds, in document order."""
    values = locator.evaluate_all(f"elements => elements.map(e => e.getAttribute('{attribute}'))")
    return [int(value) for value in values]


def cells_of(heatmap: Any) -> list[tuple[int, int, float]]:
    rows = heatmap.evaluate(
        "table => Array.from(table.querySelectorAll('[data-testid=cell]'), "
        "cell => [Number(cell.dataset.i), Number(cell.dataset.j), Number(cell.dataset.value)])"
    )
    return [(int(i), int(j), float(value)) for i, j, value in rows]


def titles(locator: Any) -> list[str]:
    return [str(title) for title in locator.evaluate_all("elements => elements.map(e => e.title)")]


def test_translation_shows_a_heatmap_per_sentence_with_one_cell_per_token_pair(
    server: LiveServer, desktop: BrowserPage, tmp_path: Path
) -> None:
    page = desktop.page
    sentences = [PAIRS[0], PAIRS[12]]
    open_ready(page, server.url)
    text = "\n\n".join(source for source, _ in sentences)
    translate_on_page(page, text, sentences=2)

    # the page sent the text whole; the server split it into its two sentences (segments), shown one card each,
    # and the whole translation keeps the text's blank line
    assert page.locator('[data-testid="translation"]').all_inner_texts() == [target for _, target in sentences]
    assert page.inner_text('[data-testid="text-translation"]') == "\n\n".join(target for _, target in sentences)
    fresh = api_translate(server, text)
    stored = stored_result(server, shown_result_id(page))
    heatmaps = page.locator('[data-testid="heatmap"]')
    segments = zip(fresh["translations"][0]["segments"], stored["translations"][0]["segments"], strict=True)
    for index, (item, kept) in enumerate(segments):
        heatmap = heatmaps.nth(index)
        rows, columns = len(item["target_tokens"]), len(item["source_tokens"])
        assert item["text"] == sentences[index][1]
        assert titles(heatmap.locator('[data-testid="target-token"]')) == item["target_tokens"]
        assert titles(heatmap.locator('[data-testid="source-token"]')) == item["source_tokens"]
        assert heatmap.locator("tbody tr").count() == rows
        # one cell per (target, source) pair, row by row, each with the weight of the matrix the page received
        expected = [(i, j, weight) for i, row in enumerate(kept["attention"]) for j, weight in enumerate(row)]
        assert len(expected) == rows * columns
        assert cells_of(heatmap) == expected

    # each card's downloads ask for its own sentence's matrix
    with page.expect_request("**/alignment?format=json&index=0&segment=1") as fetched, page.expect_download():
        page.locator('[data-testid="sentence"]').nth(1).get_by_role("button", name="Matrix (JSON)").click()
    assert fetched.value.response() is not None and fetched.value.response().status == 200

    screenshot = tmp_path / "page.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000
    desktop.assert_no_problems()


def test_pointing_at_a_cell_or_a_token_highlights_what_belongs_to_it(server: LiveServer, desktop: BrowserPage) -> None:
    page = desktop.page
    open_ready(page, server.url)
    translate_on_page(page, PAIRS[0][0])
    attention = np.array(stored_result(server, shown_result_id(page))["translations"][0]["attention"])
    heatmap = page.locator('[data-testid="heatmap"]')
    targets = heatmap.locator('[data-testid="target-token"]')
    sources = heatmap.locator('[data-testid="source-token"]')

    # a cell: its row's target token and its column's source token, and nothing else
    heatmap.locator('[data-testid="cell"][data-i="2"][data-j="3"]').hover()
    assert indices(heatmap.locator('[data-testid="target-token"].is-active'), "data-i") == [2]
    assert indices(heatmap.locator('[data-testid="source-token"].is-active'), "data-j") == [3]
    assert indices(heatmap.locator('[data-testid="cell"].is-active'), "data-j") == [3]
    assert "“" in page.locator('[data-testid="readout"]').inner_text()

    # a target token: the source tokens it attended to
    row = int(np.argmax(attention.max(axis=1)))  # the row with the most concentrated attention
    targets.nth(row).hover()
    assert indices(heatmap.locator('[data-testid="target-token"].is-active'), "data-i") == [row]
    attended = [j for j, weight in enumerate(attention[row]) if weight >= ATTENDED]
    assert attended, "the tiny model attends somewhere"
    assert indices(heatmap.locator('[data-testid="source-token"].is-attended'), "data-j") == attended
    assert heatmap.locator('[data-testid="source-token"].is-weighted').count() == attention.shape[1]

    # a source token: the target tokens that attended to it
    column = int(np.argmax(attention.max(axis=0)))
    sources.nth(column).hover()
    assert indices(heatmap.locator('[data-testid="source-token"].is-active'), "data-j") == [column]
    attending = [i for i, weight in enumerate(attention[:, column]) if weight >= ATTENDED]
    assert indices(heatmap.locator('[data-testid="target-token"].is-attended'), "data-i") == attending

    # the pointer leaves: nothing stays lit
    page.mouse.move(1, 1)
    assert heatmap.locator(".is-active, .is-attended, .is-weighted").count() == 0
    desktop.assert_no_problems()


def test_n_best_list_link_to_the_stored_result_and_downloads(
    server: LiveServer, desktop: BrowserPage, browser: Any
) -> None:
    page = desktop.page
    open_ready(page, server.url)
    translate_on_page(page, PAIRS[3][0])
    result_id = shown_result_id(page)
    item = stored_result(server, result_id)["translations"][0]

    hypotheses = page.locator('[data-testid="n-best-list"] li .nbest__text').all_inner_texts()
    assert len(hypotheses) == PAGE_N_BEST
    assert hypotheses == [hypothesis["text"] for hypothesis in item["n_best"]]
    assert hypotheses[0] == PAIRS[3][1]

    # the link opens the stored result on the page again; the address bar holds it too
    link = page.input_value('[data-testid="result-link"]')
    assert link == f"{server.url}/?result={result_id}"
    assert page.url == link
    assert page.get_attribute('[data-testid="result-json"]', "href") == f"/v1/translations/{result_id}"
    reopened = browser.new_page()
    try:
        reopened.goto(link)
        reopened.wait_for_selector('[data-testid="heatmap"]')
        assert reopened.locator('[data-testid="translation"]').inner_text() == PAIRS[3][1]
        assert reopened.locator('[data-testid="cell"]').count() == len(item["attention"]) * len(item["attention"][0])
    finally:
        reopened.close()

    with server.client() as client:
        alignment_json = client.get(f"/v1/translations/{result_id}/alignment", params={"format": "json"}).json()
    downloads = {}
    for label in ("Matrix (JSON)", "Alignment (Pharaoh)", "Heatmap (SVG)"):
        with page.expect_download() as started:
            page.get_by_role("button", name=label).click()
        download = started.value
        downloads[download.suggested_filename] = Path(download.path()).read_bytes()
    stem = f"heed-{result_id}-0"
    assert sorted(downloads) == sorted([f"{stem}.json", f"{stem}.pharaoh.txt", f"{stem}.svg"])
    assert json.loads(downloads[f"{stem}.json"]) == alignment_json
    assert alignment_json["attention"] == item["attention"]
    assert downloads[f"{stem}.pharaoh.txt"].decode() == item["alignment"] + "\n"
    assert downloads[f"{stem}.svg"].startswith(b"<?xml") and b"<svg" in downloads[f"{stem}.svg"]
    assert page.locator('[data-testid="alignment"]').inner_text() == item["alignment"]
    desktop.assert_no_problems()


def expected_word_matrix(server: LiveServer, item: dict[str, Any]) -> np.ndarray:
    """The runtime's own word merge (service/runtime/alignment.py, with the tokenizers' character offsets)."""
    translator = server.state.serving_models().translators["en-de"]
    source = translator.source_tokenizer.segment(item["source"], 256)
    target = translator.target_tokenizer.detokenize(translator.target_tokenizer.piece_ids(item["target_tokens"][:-1]))
    source_of_piece = words_of_pieces(source.spans, word_spans(source.text))
    target_of_piece = words_of_pieces(target.spans, word_spans(target.text))
    attention = np.array(item["attention"], dtype=np.float32)
    merged = word_attention(attention, target_of_piece, len(item["target_words"]), source_of_piece,
                            len(item["source_words"]))  # fmt: skip
    return np.asarray(merged, dtype=np.float64)


def test_word_level_merges_the_matrix_like_the_runtime(server: LiveServer, desktop: BrowserPage) -> None:
    page = desktop.page
    open_ready(page, server.url)
    translate_on_page(page, PAIRS[13][0])
    item = stored_result(server, shown_result_id(page))["translations"][0]
    assert len(item["source_tokens"]) - 1 > len(item["source_words"]), "the tiny vocabulary splits words"

    page.click('label[for="level-word"]')
    heatmap = page.locator('[data-testid="heatmap"][data-level="word"]')
    heatmap.wait_for()
    assert titles(heatmap.locator('[data-testid="source-token"]')) == item["source_words"]
    assert titles(heatmap.locator('[data-testid="target-token"]')) == item["target_words"]
    cells = cells_of(heatmap)
    assert len(cells) == len(item["source_words"]) * len(item["target_words"])
    shown = np.zeros((len(item["target_words"]), len(item["source_words"])))
    for i, j, value in cells:
        shown[i, j] = value
    np.testing.assert_allclose(shown, expected_word_matrix(server, item), atol=2e-4)
    # the rings mark the API's word alignment
    linked = heatmap.locator('[data-testid="cell"].is-link').evaluate_all(
        "cells => cells.map(c => `${c.dataset.j}-${c.dataset.i}`)"
    )
    assert sorted(linked) == sorted(item["alignment"].split())

    page.click('label[for="level-subword"]')
    subword = page.locator('[data-testid="heatmap"][data-level="subword"]')
    subword.wait_for()
    assert subword.locator('[data-testid="source-token"]').count() == len(item["source_tokens"])
    assert subword.locator('[data-testid="target-token"]').count() == len(item["target_tokens"])
    desktop.assert_no_problems()


def test_aligning_a_given_translation(server: LiveServer, desktop: BrowserPage) -> None:
    page = desktop.page
    open_ready(page, server.url)
    page.click('label[for="mode-align"]')
    assert page.inner_text('[data-testid="translate"]') == "Align"

    # as many sentences on both sides: sentence n is aligned to sentence n, one card each
    source = f"{PAIRS[1][0]}\n{PAIRS[2][0]}"
    translations = ["Eine Frau liest ein Buch.", "Zwei Hunde spielen im Schnee."]
    page.fill('[data-testid="source-text"]', source)
    page.fill('[data-testid="translation-text"]', " ".join(translations))
    page.click('[data-testid="translate"]')
    page.wait_for_function("() => document.querySelectorAll('[data-testid=heatmap]').length === 2")
    assert page.locator('[data-testid="translation"]').all_inner_texts() == translations
    with server.client() as client:
        answer = client.post("/v1/align", json={"source": "en", "target": "de", "text": source,
                                                "translation": " ".join(translations)}).json()  # fmt: skip
    heatmaps = page.locator('[data-testid="heatmap"]')
    for index, item in enumerate(answer["translations"][0]["segments"]):
        heatmap = heatmaps.nth(index)
        assert heatmap.locator('[data-testid="target-token"]').count() == len(item["target_tokens"])
        assert heatmap.locator('[data-testid="source-token"]').count() == len(item["source_tokens"])

    # one sentence against two: no pairing can be trusted, so the texts are aligned whole, in one card
    page.fill('[data-testid="translation-text"]', translations[0])
    page.click('[data-testid="translate"]')
    page.wait_for_function("() => document.querySelectorAll('[data-testid=heatmap]').length === 1")
    assert page.locator('[data-testid="translation"]').all_inner_texts() == [translations[0]]
    assert page.locator('[data-testid="source-token"]').evaluate_all("e => e.map(t => t.title)").count("</s>") == 1
    desktop.assert_no_problems()


def test_the_chosen_alignment_method_is_sent_and_the_confidence_shown(server: LiveServer, desktop: BrowserPage) -> None:
    page = desktop.page
    open_ready(page, server.url)
    assert page.input_value('[data-testid="alignment-method"]') == "source-argmax"
    page.select_option('[data-testid="alignment-method"]', "union")
    sentences = [PAIRS[3][0], PAIRS[4][0]]
    translate_on_page(page, " ".join(sentences), sentences=2)
    stored = stored_result(server, shown_result_id(page))
    with server.client() as client:
        body = {"source": "en", "target": "de", "model": "en-de", "text": " ".join(sentences),
                "beam_size": PAGE_BEAM_SIZE, "n_best": PAGE_N_BEST, "alignment_method": "union"}  # fmt: skip
        answer = client.post("/v1/translate", json=body).json()
    (whole,) = stored["translations"]
    assert whole["alignment_method"] == "union"
    assert page.locator('[data-testid="alignment"]').all_inner_texts() == [
        segment["alignment"] or "none" for segment in answer["translations"][0]["segments"]
    ]
    assert all("union" in label for label in page.locator('[data-testid="alignment-label"]').all_inner_texts())
    shown = page.locator('[data-testid="confidence"]').all_inner_texts()
    assert len(shown) == 3, "the whole text's and each sentence's"
    for text, item in zip(shown, [whole, *whole["segments"]], strict=True):
        numbers = re.fullmatch(r"log-prob/piece (-?[\d.]+) · attention entropy ([\d.]+)", text)
        assert numbers is not None, text
        log_prob, entropy = numbers.groups()
        assert abs(float(log_prob) - item["confidence"]["mean_log_prob"]) <= 0.0051  # two decimals shown
        assert abs(float(entropy) - item["confidence"]["attention_entropy"]) <= 0.0051
    desktop.assert_no_problems()


def test_an_api_key_goes_with_every_call(server: LiveServer, desktop: BrowserPage) -> None:
    page = desktop.page
    open_ready(page, server.url)
    page.click("#access summary")
    page.fill('[data-testid="api-key"]', "  page-test-key  ")
    page.press('[data-testid="api-key"]', "Tab")
    page.fill('[data-testid="source-text"]', PAIRS[5][0])
    with page.expect_request("**/v1/translate") as sent:
        page.click('[data-testid="translate"]')
    assert sent.value.headers.get("authorization") == "Bearer page-test-key"
    page.wait_for_selector('[data-testid="heatmap"]')
    with page.expect_request("**/alignment?format=json&index=0") as fetched, page.expect_download():
        page.get_by_role("button", name="Matrix (JSON)").click()
    assert fetched.value.headers.get("authorization") == "Bearer page-test-key"
    desktop.assert_no_problems()


def test_with_api_keys_the_page_opens_and_asks_for_a_key(browser: Any, models_dir: Path, tmp_path: Path) -> None:
    """With keys configured the page and its files stay open; the API calls need the key typed into the page."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        with live_server(server_settings(models_dir, tmp_path, api_keys="right-key")) as live:
            page.goto(live.url + "/")
            page.wait_for_selector('[data-testid="banner"]')
            assert page.inner_text("#banner .banner__title") == "This service needs an API key"
            assert "API key is required" in page.inner_text("#banner .banner__message")
            assert page.get_attribute("#access", "open") is not None  # the key field is shown
            assert page.is_disabled('[data-testid="model"]')

            page.fill('[data-testid="api-key"]', "wrong-key")
            page.press('[data-testid="api-key"]', "Tab")
            page.wait_for_function(
                "() => document.querySelector('#banner .banner__title').textContent === 'The API key was refused'"
            )
            page.fill('[data-testid="api-key"]', "right-key")
            page.press('[data-testid="api-key"]', "Tab")
            page.wait_for_selector('[data-testid="model"]:not([disabled])')
            assert page.locator('[data-testid="banner"]').is_hidden()
            translate_on_page(page, PAIRS[7][0])
            assert page.inner_text('[data-testid="translation"]') == PAIRS[7][1]
            # the stored result's downloads go with the key as well
            with page.expect_download() as started:
                page.get_by_role("button", name="Alignment (Pharaoh)").click()
            assert Path(started.value.path()).read_text().strip() == page.inner_text('[data-testid="alignment"]')
    finally:
        context.close()


def focused(page: Any) -> dict[str, Any]:
    description: dict[str, Any] = page.evaluate(
        "() => { const e = document.activeElement; return {id: e.id, testid: e.dataset.testid || '', "
        "i: e.dataset.i ?? null, j: e.dataset.j ?? null, tag: e.tagName, "
        "inHeatmap: Boolean(e.closest('[data-testid=heatmap]')), visible: e.matches(':focus-visible')}; }"
    )
    return description


def tab_until(page: Any, wanted: Any, limit: int = 40) -> list[dict[str, Any]]:
    """Presses Tab until `wanted(focused)` holds; the focus stops passed on the way."""
    stops = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        stops.append(focused(page))
        if wanted(stops[-1]):
            return stops
    raise AssertionError(f"Tab never reached the element; stops: {stops}")


def test_keyboard_alone_translates_and_explores_the_heatmap(server: LiveServer, desktop: BrowserPage) -> None:
    page = desktop.page
    open_ready(page, server.url)
    stops = tab_until(page, lambda stop: stop["testid"] == "source-text")
    order = [stop["id"] for stop in stops]
    assert order.index("model") < order.index("beam-size") < order.index("n-best") < order.index("source-text")
    assert all(stop["visible"] for stop in stops if stop["tag"] in ("SELECT", "INPUT", "TEXTAREA"))

    page.keyboard.type(PAIRS[0][0])
    page.keyboard.press("Tab")
    assert focused(page)["testid"] == "translate"
    page.keyboard.press("Enter")
    page.wait_for_selector('[data-testid="heatmap"]')
    assert page.inner_text('[data-testid="translation"]') == PAIRS[0][1]

    # the heatmap is one Tab stop; its first cell takes the focus and lights its row and column tokens
    stop = tab_until(page, lambda stop: stop["inHeatmap"])[-1]
    assert (stop["testid"], stop["i"], stop["j"]) == ("cell", "0", "0")
    assert stop["visible"]
    heatmap = page.locator('[data-testid="heatmap"]')
    assert indices(heatmap.locator('[data-testid="target-token"].is-active'), "data-i") == [0]
    assert indices(heatmap.locator('[data-testid="source-token"].is-active'), "data-j") == [0]

    # arrow keys walk the cells and the highlight follows
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowDown")
    assert (focused(page)["i"], focused(page)["j"]) == ("1", "1")
    assert indices(heatmap.locator('[data-testid="target-token"].is-active'), "data-i") == [1]
    assert indices(heatmap.locator('[data-testid="source-token"].is-active'), "data-j") == [1]

    # Home moves to the row's target token, which tints every source token by its weight
    page.keyboard.press("Home")
    assert (focused(page)["testid"], focused(page)["i"]) == ("target-token", "1")
    columns = heatmap.locator('[data-testid="source-token"]').count()
    assert heatmap.locator('[data-testid="source-token"].is-weighted').count() == columns

    # ArrowUp twice from a cell reaches the source token above it, which tints the target tokens
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    assert (focused(page)["testid"], focused(page)["j"]) == ("source-token", "0")
    rows = heatmap.locator('[data-testid="target-token"]').count()
    assert heatmap.locator('[data-testid="target-token"].is-weighted').count() == rows

    # Tab leaves the grid in one step
    page.keyboard.press("Tab")
    assert not focused(page)["inHeatmap"]
    assert heatmap.locator(".is-active").count() == 0
    desktop.assert_no_problems()


def test_phone_width_has_no_horizontal_page_overflow(server: LiveServer, phone: BrowserPage, tmp_path: Path) -> None:
    page = phone.page
    open_ready(page, server.url)
    assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
    translate_on_page(page, f"{PAIRS[13][0]} {PAIRS[6][0]}", sentences=2)
    assert page.evaluate("window.innerWidth") == 375
    assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
    # the heatmaps are wider than the phone: they scroll inside their own box, not the page
    box = page.locator(".heatmap__scroll").first
    assert box.evaluate("box => box.scrollWidth > box.clientWidth")
    assert box.evaluate("box => getComputedStyle(box).overflowX") == "auto"
    page.click('label[for="level-word"]')
    page.locator('[data-testid="heatmap"][data-level="word"]').first.wait_for()
    assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
    phone.assert_no_problems()
