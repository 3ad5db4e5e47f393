"""CORS: none by default (browsers keep other origins out), `*` on request for LibreTranslate web clients, or
a list of origins. Preflights are answered before the key check, and refusals carry CORS headers, so a
browser client can read why it was refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from service.app.settings import Settings
from tests.service.app.conftest import LiveServer, live_server, server_settings
from tests.tiny_corpus import PAIRS

ORIGIN = "https://translator.example"
PREFLIGHT = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization, content-type"}  # fmt: skip
LT_BODY = {"q": PAIRS[5][0], "source": "en", "target": "de"}


@pytest.fixture(scope="module")
def same_origin_server(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(server_settings(models_dir, tmp_path_factory.mktemp("cors-default"))) as live:
        yield live


@pytest.fixture(scope="module")
def open_server(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = server_settings(models_dir, tmp_path_factory.mktemp("cors-open"), cors_origins="*", api_keys="cors-k")
    with live_server(settings) as live:
        yield live


def test_by_default_no_cors_headers_are_sent(same_origin_server: LiveServer) -> None:
    with same_origin_server.client(headers={"Origin": ORIGIN}) as client:
        response = client.post("/translate", json=LT_BODY)
        assert response.status_code == 200
        assert not any(name.startswith("access-control-") for name in response.headers)
        preflight = client.options("/translate", headers=PREFLIGHT)
        assert preflight.status_code == 405
        assert "access-control-allow-origin" not in preflight.headers


def test_a_star_lets_any_origin_call_the_api(open_server: LiveServer) -> None:
    with open_server.client(headers={"Origin": ORIGIN}) as client:
        preflight = client.options("/translate", headers=PREFLIGHT)
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "*"
        assert "POST" in preflight.headers["access-control-allow-methods"]
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
        response = client.post("/translate", json={**LT_BODY, "api_key": "cors-k"})
        assert response.json() == {"translatedText": PAIRS[5][1]}
        assert response.headers["access-control-allow-origin"] == "*"
        assert "x-request-id" in response.headers["access-control-expose-headers"].lower()
        refused = client.post("/translate", json=LT_BODY)
        assert refused.status_code == 403
        assert refused.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in response.headers


def test_a_list_allows_only_the_origins_on_it(models_dir: Path, tmp_path: Path) -> None:
    other = "https://elsewhere.example"
    settings = server_settings(models_dir, tmp_path, cors_origins=f"{ORIGIN}, http://localhost:8080")
    with live_server(settings) as live, live.client() as client:
        allowed = client.get("/languages", headers={"Origin": ORIGIN})
        assert allowed.headers["access-control-allow-origin"] == ORIGIN
        assert "origin" in allowed.headers["vary"].lower()
        refused = client.get("/languages", headers={"Origin": other})
        assert "access-control-allow-origin" not in refused.headers
        assert client.options("/translate", headers={**PREFLIGHT, "Origin": other}).status_code == 400


@pytest.mark.parametrize("origins", ["translator.example", "https://translator.example/path", "ftp://x.example"])
def test_origins_must_be_origins(origins: str) -> None:
    with pytest.raises(ValidationError, match="is not an origin"):
        Settings(cors_origins=origins)
