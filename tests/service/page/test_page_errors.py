"""Every failure is told in words on the page, never left as a blank area: text too long (422 and 413), a
language pair the service does not translate, a service that is not ready yet, and one that cannot be reached."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from service.app import lifecycle
from service.runtime import ModelRegistry
from tests.service.app.conftest import LiveServer, live_server, server_settings
from tests.service.page.conftest import BrowserPage, open_ready, translate_on_page
from tests.tiny_corpus import PAIRS


def shown_error(page: Any) -> tuple[str, str]:
    error = page.locator('[data-testid="error"]')
    error.wait_for()
    assert error.get_attribute("role") == "alert"
    return page.inner_text('[data-testid="error-title"]'), page.inner_text('[data-testid="error-message"]')


def test_text_too_long_is_explained(server: LiveServer, desktop: BrowserPage) -> None:
    page = desktop.page
    open_ready(page, server.url)
    limit = server.state.settings.max_chars
    text = f"{PAIRS[0][0]}\n{'a' * limit}"
    page.fill('[data-testid="source-text"]', text)
    page.click('[data-testid="translate"]')
    title, message = shown_error(page)
    assert title == "The text is too long"
    # the page sends the text whole, so the limit is the whole text's
    assert message.startswith(f"Text has {len(text)} characters; the limit is {limit}")
    assert "HTTP 422" in page.inner_text("#error .error__meta")

    # past the body size limit the middleware answers 413 before the request is even read
    page.fill('[data-testid="source-text"]', "word " * (server.state.settings.max_body_bytes // 5 + 1000))
    page.click('[data-testid="translate"]')
    page.wait_for_function("() => document.querySelector('#error .error__meta').textContent.includes('HTTP 413')")
    title, message = shown_error(page)
    assert title == "The text is too long"
    assert "exceeds the limit" in message

    # an empty box is caught before sending anything
    page.fill('[data-testid="source-text"]', "   ")
    page.click('[data-testid="translate"]')
    assert page.inner_text('[data-testid="source-problem"]') == "Type or paste some text to translate first."

    # and the next good request clears the error
    translate_on_page(page, PAIRS[0][0])
    assert page.locator('[data-testid="error"]').is_hidden()


def test_unsupported_language_pair_is_explained(server: LiveServer, desktop: BrowserPage) -> None:
    """The page only offers pairs from /v1/models, so a stale page (the service restarted with other bundles) is how
    a user meets this; the test makes the page's request ask for en→fr on its way out. The answer is the server's."""
    page = desktop.page
    open_ready(page, server.url)

    def ask_for_french(route: Any) -> None:
        body = json.loads(route.request.post_data)
        route.continue_(post_data=json.dumps({**body, "target": "fr"}))

    page.route("**/v1/translate", ask_for_french)
    page.fill('[data-testid="source-text"]', PAIRS[0][0])
    page.click('[data-testid="translate"]')
    title, message = shown_error(page)
    assert title == "This language pair is not supported"
    assert "'en' to 'fr'" in message and "en-de" in message
    assert "unsupported_language_pair" in page.inner_text("#error .error__meta")
    assert page.locator('[data-testid="heatmap"]').count() == 0


def test_not_ready_then_ready_then_unreachable(
    browser: Any, models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    real_loader = lifecycle._load_registry

    def paused_loader(settings: Any) -> ModelRegistry:
        release.wait()
        return real_loader(settings)

    monkeypatch.setattr(lifecycle, "_load_registry", paused_loader)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        with live_server(server_settings(models_dir, tmp_path), wait_for="up") as live:
            try:
                page.goto(live.url + "/")
                banner = page.locator('[data-testid="banner"]')
                banner.wait_for()
                assert page.inner_text("#banner .banner__title") == "The service is not ready yet"
                assert f"loading models from {models_dir}" in page.inner_text("#banner .banner__message")
                assert page.get_attribute("#service-status", "data-state") == "starting"
                assert page.is_disabled('[data-testid="model"]')
                page.fill('[data-testid="source-text"]', PAIRS[0][0])
                page.click('[data-testid="translate"]')
                assert shown_error(page)[0] == "No model to use"
            finally:
                release.set()
            # the page asks again after the Retry-After the server sent, and fills in the models
            page.wait_for_selector('#service-status[data-state="ready"]')
            assert banner.is_hidden()
            translate_on_page(page, PAIRS[0][0])
            assert page.inner_text('[data-testid="translation"]') == PAIRS[0][1]
        # the server is gone now: the page says it cannot reach it
        page.fill('[data-testid="source-text"]', PAIRS[1][0])
        page.click('[data-testid="translate"]')
        title, message = shown_error(page)
        assert title == "Could not reach heed"
        assert "network error" in message
    finally:
        context.close()
