"""/docs, the API reference: Swagger UI from the installed package, served by heed itself, under a strict CSP.

Checked here over HTTP (what the page names, what is served, the policy); tests/service/page/test_docs_page.py
loads it in Chromium.
"""

from __future__ import annotations

import re
from pathlib import Path

import fastapi_offline
import httpx
import pytest

from service.app.routers.docs import VENDOR_DIR

TYPES = {".js": "text/javascript", ".css": "text/css"}
_REFERENCE = re.compile(r'(?:src|href)="([^"]*)"')


def policy_of(response: httpx.Response) -> dict[str, list[str]]:
    directives = (part.split() for part in response.headers["content-security-policy"].split(";") if part.strip())
    return {name: values for name, *values in directives}


def test_the_page_names_only_files_of_this_server(client: httpx.Client) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    named = _REFERENCE.findall(response.text)
    assert {"/docs/static/swagger-ui-bundle.js", "/docs/static/swagger-ui.css", "/docs/static/swagger-init.js"} <= set(
        named
    )
    for reference in named:
        assert reference.startswith("/") and not reference.startswith("//"), reference
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", response.text), "an inline script"
    assert "cdn" not in response.text.lower()


def test_every_file_the_page_names_is_served_with_its_type(client: httpx.Client) -> None:
    for path in _REFERENCE.findall(client.get("/docs").text):
        response = client.get(path)
        assert response.status_code == 200, path
        suffix = path[path.rindex(".") :]
        if suffix in TYPES:
            assert response.headers["content-type"].startswith(TYPES[suffix]), path
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers.get("etag"), path


def test_swagger_ui_is_the_installed_package_s(client: httpx.Client) -> None:
    for name in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert client.get(f"/docs/static/{name}").content == (VENDOR_DIR / name).read_bytes()
    assert VENDOR_DIR.parent == Path(fastapi_offline.__file__).resolve().parent


def test_the_policy_allows_this_origin_only_and_nothing_inline(client: httpx.Client) -> None:
    response = client.get("/docs")
    policy = policy_of(response)
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    for name, values in policy.items():
        for value in values:
            assert value in ("'self'", "'none'", "data:"), f"{name} allows {value}"
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "path",
    ["/docs/static/redoc.standalone.js", "/docs/static/favicon.png", "/docs/static/..%2Fapp%2Fmain.py",
     "/docs/static/", "/redoc", "/docs/oauth2-redirect"],
)  # fmt: skip
def test_nothing_else_is_served_there(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404, path
    assert response.json()["error"]["code"] == "not_found"
