"""Browser fixtures: Debian's Chromium, driven headless by Playwright, against the real server over the tiny bundle.

The server fixtures are the HTTP tests' own (tests/service/app/conftest.py), imported rather than copied.
Playwright's own browser download does not work here; the tests drive /usr/bin/chromium (`apt-get install
chromium`). Without Playwright or Chromium the tests are skipped, unless HEED_REQUIRE_BROWSER is set (CI sets it),
in which case they fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.service.app.conftest import client, models_dir, server  # noqa: F401  (fixtures shared with the HTTP tests)

CHROMIUM = Path(os.environ.get("HEED_CHROMIUM", "/usr/bin/chromium"))
# Headless, and quiet: without the background-networking flags Chromium keeps trying to reach Google's services.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 740}


def _unavailable(reason: str) -> None:
    if os.environ.get("HEED_REQUIRE_BROWSER"):
        pytest.fail(f"{reason}; HEED_REQUIRE_BROWSER is set, so the browser tests must run")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the session."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed (pip install playwright)")
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} does not exist (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class BrowserPage:
    """A fresh browser page that records what would show in the developer console as errors."""

    page: Any
    problems: list[str] = field(default_factory=list)

    def assert_no_problems(self) -> None:
        assert self.problems == [], "the page reported errors:\n" + "\n".join(self.problems)


def open_page(browser: Any, viewport: dict[str, int], **options: Any) -> Iterator[BrowserPage]:
    context = browser.new_context(viewport=viewport, **options)
    page = context.new_page()
    page.set_default_timeout(60_000)
    watched = BrowserPage(page)
    page.on("pageerror", lambda error: watched.problems.append(f"page error: {error}"))
    page.on("console", lambda message: message.type == "error" and watched.problems.append(f"console: {message.text}"))
    page.on("requestfailed", lambda request: watched.problems.append(f"request failed: {request.url}"))
    try:
        yield watched
    finally:
        context.close()


@pytest.fixture
def desktop(browser: Any) -> Iterator[BrowserPage]:
    yield from open_page(browser, DESKTOP)


@pytest.fixture
def phone(browser: Any) -> Iterator[BrowserPage]:
    yield from open_page(browser, PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)


# ---- helpers the page tests share ------------------------------------------------------------------------------

PAGE_BEAM_SIZE = 4  # the page's defaults for the tiny bundle (its manifest's beam size) ...
PAGE_N_BEST = 3  # ... and the n-best list it asks for


def open_ready(page: Any, url: str) -> None:
    """Loads the page and waits until it has said the service is ready and listed the models."""
    page.goto(url + "/")
    page.wait_for_selector('#service-status[data-state="ready"]')
    page.wait_for_selector('[data-testid="model"]:not([disabled])')


def translate_on_page(page: Any, text: str, sentences: int = 1) -> None:
    """Types `text`, presses Translate and waits for one heatmap per sentence."""
    page.fill('[data-testid="source-text"]', text)
    page.click('[data-testid="translate"]')
    page.wait_for_function(
        "n => document.querySelectorAll('[data-testid=heatmap]').length === n && "
        "document.querySelector('#results').getAttribute('aria-busy') === 'false'",
        arg=sentences,
    )


def shown_result_id(page: Any) -> str:
    """The id of the result on the page, from its link."""
    link = page.input_value('[data-testid="result-link"]')
    marker = "/?result="
    assert marker in link, link
    return str(link.split(marker, 1)[1])
