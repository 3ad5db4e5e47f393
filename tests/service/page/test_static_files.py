"""How heed serves the page: `/` and `/static/*` from the package, safely, with headers that keep it self-contained."""

from __future__ import annotations

import re

import httpx

from service.app.routers.page import STATIC_DIR
from tests.service.app.conftest import LiveServer


def test_the_page_is_served_at_the_root_with_a_strict_content_security_policy(client: httpx.Client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    for testid in ("source-text", "translate"):
        assert f'data-testid="{testid}"' in response.text


def test_every_file_the_page_names_is_served(client: httpx.Client) -> None:
    page = client.get("/").text
    named = set(re.findall(r'(?:src|href)="(/static/[^"]+)"', page))
    scripts = {path.name for path in STATIC_DIR.glob("*.js")}
    for script in scripts:  # modules import each other by relative path
        named |= {f"/static/{name}" for name in re.findall(r'from "\./([^"]+)"', (STATIC_DIR / script).read_text())}
    assert {"/static/app.js", "/static/heed.css", "/static/favicon.svg", "/static/heatmap.js"} <= named
    types = {".js": "javascript", ".css": "text/css", ".svg": "image/svg+xml"}
    for path in sorted(named):
        response = client.get(path)
        assert response.status_code == 200, path
        assert types[path[path.rindex(".") :]] in response.headers["content-type"], path
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers.get("etag"), path


def test_static_files_answer_head_and_conditional_requests(client: httpx.Client) -> None:
    full = client.get("/static/app.js")
    head = client.head("/static/app.js")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(full.content))
    again = client.get("/static/app.js", headers={"If-None-Match": full.headers["etag"]})
    assert again.status_code == 304


def test_nothing_outside_the_static_folder_is_served(server: LiveServer, client: httpx.Client) -> None:
    for path in ("/static/nothing-here.js", "/static/", "/static/..%2Fapp%2Fmain.py", "/static/%2e%2e/app/main.py"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found", path
    # a raw request path, as a client that does not normalise dot segments sends it
    with httpx.Client(base_url=server.url) as raw:
        request = raw.build_request("GET", "/")
        request.url = request.url.copy_with(raw_path=b"/static/../app/main.py")
        assert raw.send(request).status_code == 404


def test_the_favicon_is_the_pages_icon(client: httpx.Client) -> None:
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
    assert response.content == (STATIC_DIR / "favicon.svg").read_bytes()


def test_the_page_is_not_part_of_the_api_schema(client: httpx.Client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/" not in paths and not any(path.startswith("/static") for path in paths)
