"""What a browser is told about every response: nosniff everywhere, the page's CSP on whatever it may render
(SVG heatmaps included), redirects that never name a host the client sent, and errors that do not echo back
whatever a client put in a URL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from service.app.routers.page import CONTENT_SECURITY_POLICY
from tests.service.app.conftest import LiveServer, live_server, server_settings
from tests.tiny_corpus import PAIRS


@pytest.fixture(scope="module")
def server(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(server_settings(models_dir, tmp_path_factory.mktemp("headers"))) as live:
        yield live


def test_an_svg_heatmap_carries_the_pages_policy_and_nosniff(server: LiveServer) -> None:
    with server.client() as client:
        created = client.post("/v1/translate", json={"text": PAIRS[0][0], "source": "en", "target": "de",
                                                     "attention": True})  # fmt: skip
        assert created.status_code == 200, created.text
        result_id = created.json()["id"]
        svg = client.get(f"/v1/translations/{result_id}/alignment", params={"format": "svg"})
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert svg.headers["x-content-type-options"] == "nosniff"
    assert created.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in created.headers  # JSON is not rendered


@pytest.mark.parametrize("path", ["/", "/docs"])
def test_pages_keep_their_own_policy(server: LiveServer, path: str) -> None:
    with server.client() as client:
        response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers.get_list("content-security-policy") == [response.headers["content-security-policy"]]
    assert "'self'" in response.headers["content-security-policy"]


def test_a_trailing_slash_redirect_never_names_the_host_it_was_sent(server: LiveServer) -> None:
    with server.client(headers={"Host": "evil.example"}, follow_redirects=False) as client:
        response = client.get("/v1/models/")
    assert response.status_code in (301, 307, 308)
    assert response.headers["location"] == "/v1/models"


def test_a_65_kb_id_is_not_echoed_back(server: LiveServer) -> None:
    long_id = "a" * 65_000
    with server.client() as client:
        response = client.get(f"/v1/translations/{long_id}")
    assert response.status_code == 404
    assert len(response.content) < 1_000
    assert "65,000 characters" in response.json()["error"]["message"]
