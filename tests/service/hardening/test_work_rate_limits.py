"""Rate limits on work: with HEED_RATE_LIMIT_WORK a caller's translations draw their estimated work units
(service/app/cost.py) from a bucket refilled at that many a minute, in this process or shared through a real
Redis. A request the bucket cannot pay for is 429 with Retry-After, while a smaller one still fits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.app.batching import WorkLimits
from service.app.settings import Settings
from service.runtime import Translator
from tests.service.app.conftest import LiveServer, live_server, server_settings
from tests.tiny_corpus import PAIRS

TEXTS = [source for source, _ in PAIRS[:8]]


@pytest.fixture(scope="module")
def request_work(tiny_bundle: Path) -> int:
    """What TEXTS cost at beam 4 under the default limits, as the server estimates it."""
    translator = Translator.load(tiny_bundle)
    defaults = Settings()
    return WorkLimits.from_settings(defaults).estimate(translator, TEXTS, 4, None, defaults.max_batch_size).total


def _servers(models_dir: Path, folder: Path, per_minute: int, **overrides: Any) -> Any:
    return live_server(server_settings(models_dir, folder, rate_limit_work=per_minute, **overrides))


def _translate(live: LiveServer, texts: list[str]) -> httpx.Response:
    with live.client() as client:
        return client.post("/v1/translate", json={"source": "en", "target": "de", "text": texts, "store": False})


@pytest.fixture
def local_server(models_dir: Path, tmp_path: Path, request_work: int) -> Iterator[LiveServer]:
    with _servers(models_dir, tmp_path, request_work * 3 // 2) as live:
        yield live


def test_work_not_requests_is_counted(local_server: LiveServer, request_work: int) -> None:
    assert _translate(local_server, TEXTS).status_code == 200
    refused = _translate(local_server, TEXTS)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    error = refused.json()["error"]
    assert error["code"] == "rate_limited"
    assert f"needs {request_work:,} work units" in error["message"]
    assert f"the rate limit of {request_work * 3 // 2:,} per minute" in error["message"]
    small = _translate(local_server, TEXTS[:1])
    assert small.status_code == 200 and small.json()["translations"][0]["text"] == PAIRS[0][1]
    with local_server.client() as client:
        libre = client.post("/translate", json={"q": TEXTS, "source": "en", "target": "de"})
    assert libre.status_code == 429 and "work units" in libre.json()["error"]


def test_replicas_share_the_work_buckets_through_redis(
    models_dir: Path, tmp_path: Path, redis_url: str, request_work: int
) -> None:
    per_minute = request_work * 3 // 2
    with (
        _servers(models_dir, tmp_path / "one", per_minute, redis_url=redis_url, redis_prefix="work-test:") as one,
        _servers(models_dir, tmp_path / "two", per_minute, redis_url=redis_url, redis_prefix="work-test:") as two,
    ):
        assert _translate(one, TEXTS).status_code == 200
        assert _translate(two, TEXTS).status_code == 429, "the second replica sees what the first one spent"
