"""/docs in a real browser (Debian's Chromium, headless): Swagger UI renders every operation and calls the API,
with no request leaving the server and nothing refused by the page's Content-Security-Policy."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.service.app.conftest import LiveServer
from tests.service.page.conftest import BrowserPage


def test_chromium_renders_every_operation_without_leaving_the_server(server: LiveServer, desktop: BrowserPage) -> None:
    page: Any = desktop.page
    origin = urlsplit(server.url).netloc
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    # Chromium reports a blocked load or script as a console error too; the event names the directive.
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', event => "
        "console.error(`CSP violation: ${event.violatedDirective} ${event.blockedURI}`))"
    )
    operations = sum(len(methods) for methods in httpx.get(server.url + "/openapi.json").json()["paths"].values())
    page.goto(server.url + "/docs")
    page.wait_for_function("n => document.querySelectorAll('.opblock').length === n", arg=operations)

    def assert_stayed_on_the_server() -> None:
        desktop.assert_no_problems()
        outside = [url for url in requested if urlsplit(url).scheme not in ("data", "blob") and
                   urlsplit(url).netloc != origin]  # fmt: skip
        assert outside == []

    assert_stayed_on_the_server()
    assert server.url + "/docs/static/swagger-ui-bundle.js" in requested
    # "Try it out" on GET /v1/models: the page calls the API itself (connect-src 'self')
    models = page.locator("#operations-models-list_models_v1_models_get")
    models.locator(".opblock-summary").click()
    models.locator("button.try-out__btn").click()
    models.locator("button.execute").click()
    status = models.locator(".live-responses-table tr.response .response-col_status")
    status.wait_for()
    assert status.inner_text().strip() == "200"
    assert_stayed_on_the_server()
