"""Rate limits: per API key (per client address when keys are off), 429 with Retry-After beyond them; probes
are never limited; X-Forwarded-For counts only as far as `trusted_proxies` says; with Redis the replicas
share one limit, and fall back to their own when Redis is gone or hung (a circuit breaker then skips Redis)."""

from __future__ import annotations

import logging
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.app.ratelimit import LocalRateLimiter, retry_after_header
from tests.service.app.conftest import LiveServer, live_server, running_redis, server_settings
from tests.service.app.test_operations import metric_samples, sample_value
from tests.tiny_corpus import PAIRS

KEY_A, KEY_B = "rate-key-a-5c1e9f", "rate-key-b-7d2a0b"
TRANSLATE = {"source": "en", "target": "de", "text": PAIRS[3][0], "store": False}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_a_minute_of_burst_then_the_steady_rate() -> None:
    clock = Clock()
    limiter = LocalRateLimiter(6, clock=clock)  # one token every 10 s
    assert [limiter.take("a") for _ in range(6)] == [None] * 6
    assert limiter.take("a") == pytest.approx(10.0)
    assert limiter.take("b") is None  # every caller has a bucket of its own
    clock.now += 5
    assert limiter.take("a") == pytest.approx(5.0)  # a refused request takes nothing
    clock.now += 5
    assert limiter.take("a") is None
    assert limiter.take("a") == pytest.approx(10.0)
    clock.now += 3600
    assert [limiter.take("a") for _ in range(7)] == [None] * 6 + [pytest.approx(10.0)]  # never above a minute's worth


def test_buckets_are_forgotten_once_refilled_and_bounded_in_number() -> None:
    clock = Clock()
    limiter = LocalRateLimiter(60, clock=clock, max_callers=100)
    for number in range(1000):
        limiter.take(f"caller-{number}")
    assert len(limiter) == 100
    clock.now += 60  # every bucket refilled: none holds anything worth keeping
    limiter.take("newcomer")
    assert len(limiter) == 1


def test_retry_after_is_whole_seconds_never_under_the_wait() -> None:
    assert [retry_after_header(s) for s in (0.0, 0.2, 1.0, 10.01, 29.99)] == ["1", "1", "1", "11", "30"]


def assert_rate_limited(response: httpx.Response, limit: int) -> None:
    assert response.status_code == 429, response.text
    assert 1 <= int(response.headers["retry-after"]) <= 60 // limit
    body = response.json()
    message = body["error"] if isinstance(body["error"], str) else body["error"]["message"]
    assert f"rate limit of {limit} requests per minute exceeded" in message


@pytest.fixture
def keyed_limited(models_dir: Path, tmp_path: Path) -> Iterator[LiveServer]:
    settings = server_settings(models_dir, tmp_path, api_keys=f"{KEY_A},{KEY_B}", rate_limit=2)
    with live_server(settings) as live:
        yield live


def test_each_key_has_its_own_limit_and_probes_have_none(keyed_limited: LiveServer) -> None:
    with keyed_limited.client() as client:
        for _ in range(2):
            assert client.post("/v1/translate", json=TRANSLATE, headers=bearer(KEY_A)).status_code == 200
        refused = client.post("/v1/translate", json=TRANSLATE, headers=bearer(KEY_A))
        assert_rate_limited(refused, 2)
        assert refused.json()["error"]["code"] == "rate_limited"
        lt = client.post("/translate", data={"q": "A dog.", "source": "en", "target": "de", "api_key": KEY_A})
        assert_rate_limited(lt, 2)
        assert list(lt.json()) == ["error"]
        assert client.get("/v1/models", headers=bearer(KEY_B)).status_code == 200
        for _ in range(10):
            assert client.get("/healthz").status_code == 200
            assert client.get("/readyz").status_code == 200
        samples = metric_samples(client)
    assert sample_value(samples, "heed_rejected_requests", "heed_rejected_requests_total", reason="rate_limited") == 2


def test_wrong_keys_count_against_the_client_address(keyed_limited: LiveServer) -> None:
    with keyed_limited.client() as client:
        for _ in range(2):
            assert client.get("/v1/models", headers=bearer("guess")).status_code == 401
        assert_rate_limited(client.get("/v1/models", headers=bearer("another-guess")), 2)
        assert_rate_limited(client.get("/v1/models"), 2)
        assert client.get("/v1/models", headers=bearer(KEY_B)).status_code == 200  # a valid key is its own caller


def test_without_keys_the_limit_is_per_client_address_and_forwarded_for_is_ignored(
    models_dir: Path, tmp_path: Path
) -> None:
    with live_server(server_settings(models_dir, tmp_path, rate_limit=2)) as live, live.client() as client:
        spoofed = [{"X-Forwarded-For": f"198.51.100.{n}"} for n in range(3)]
        assert [client.get("/v1/models", headers=headers).status_code for headers in spoofed] == [200, 200, 429]


def test_behind_trusted_proxies_the_forwarded_address_is_the_caller(
    models_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="heed.access")
    settings = server_settings(models_dir, tmp_path, rate_limit=2, trusted_proxies=1)
    first, second = {"X-Forwarded-For": "203.0.113.7"}, {"X-Forwarded-For": "203.0.113.8"}
    spoofing_first = {"X-Forwarded-For": "192.0.2.1, 203.0.113.7"}  # the client wrote the left entry itself
    with live_server(settings) as live, live.client() as client:
        assert [client.get("/v1/models", headers=first).status_code for _ in range(2)] == [200, 200]
        assert client.get("/v1/models", headers=second).status_code == 200
        assert_rate_limited(client.get("/v1/models", headers=spoofing_first), 2)
        request_id = uuid.uuid4().hex
        client.get("/v1/models", headers={**second, "X-Request-ID": request_id})
    [line] = [r for r in caplog.records if getattr(r, "fields", {}).get("request_id") == request_id]
    assert line.fields["client"] == "203.0.113.8"  # type: ignore[attr-defined]


def test_replicas_share_one_limit_through_redis(models_dir: Path, redis_url: str, tmp_path: Path) -> None:
    prefix = f"heed-test-{uuid.uuid4().hex[:8]}:"
    common = {"api_keys": KEY_A, "rate_limit": 3, "redis_url": redis_url, "redis_prefix": prefix}
    with (
        live_server(server_settings(models_dir, tmp_path / "a", **common)) as replica_a,
        live_server(server_settings(models_dir, tmp_path / "b", **common)) as replica_b,
        replica_a.client(headers=bearer(KEY_A)) as a,
        replica_b.client(headers=bearer(KEY_A)) as b,
    ):
        assert [a.get("/v1/models").status_code for _ in range(2)] == [200, 200]
        assert b.get("/v1/models").status_code == 200
        assert_rate_limited(b.get("/v1/models"), 3)
        assert_rate_limited(a.get("/v1/models"), 3)


def test_without_redis_each_replica_falls_back_to_its_own_buckets(models_dir: Path, tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = server_settings(models_dir, tmp_path, rate_limit=2, redis_url=f"redis://127.0.0.1:{port}/0")
    with live_server(settings, wait_for="up") as live, live.client() as client:
        assert [client.get("/healthz").status_code for _ in range(3)] == [200] * 3
        statuses = [client.get("/v1/translations/unknown-id").status_code for _ in range(3)]
        assert statuses == [503, 503, 429]  # the store is unreachable too; the limit holds all the same
        errors = sample_value(metric_samples(client), "heed_rate_limiter_errors", "heed_rate_limiter_errors_total")
    assert errors == 3


def test_a_hung_redis_sends_the_limits_to_local_buckets_after_a_few_short_timeouts(
    models_dir: Path, tmp_path: Path
) -> None:
    """Redis stopped with SIGSTOP: each check waits one LAN-sized timeout until the breaker opens after two, and
    then goes straight to this process's buckets, which keep the limit."""
    with running_redis(tmp_path / "redis") as redis_process:
        settings = server_settings(
            models_dir, tmp_path, api_keys=KEY_A, rate_limit=3, redis_url=redis_process.url,
            redis_timeout_seconds=0.05, breaker_failures=2, breaker_open_seconds=60,
        )  # fmt: skip
        with live_server(settings) as live, live.client(headers=bearer(KEY_A)) as client:
            assert client.get("/v1/models").status_code == 200
            redis_process.pause()
            try:
                started = time.perf_counter()
                statuses = [client.get("/v1/models").status_code for _ in range(4)]
                elapsed = time.perf_counter() - started
            finally:
                redis_process.resume()
            samples = metric_samples(client)
    assert statuses == [200, 200, 200, 429], "the local buckets start full and hold the limit"
    assert elapsed < 1.0, f"four checks took {elapsed:.2f} s against a hung Redis"
    assert sample_value(samples, "heed_rate_limiter_errors", "heed_rate_limiter_errors_total") == 2
    assert sample_value(samples, "heed_circuit_open", "heed_circuit_open", dependency="rate_limiter") == 1


def test_the_openapi_document_declares_the_429s(keyed_limited: LiveServer) -> None:
    with keyed_limited.client() as client:
        spec = client.get("/openapi.json").json()
    limited = spec["paths"]["/v1/translate"]["post"]["responses"]["429"]
    assert limited["headers"]["Retry-After"]["required"] is True
    assert limited["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
    lt = spec["paths"]["/translate"]["post"]["responses"]["429"]
    assert lt["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/LibreTranslateError"}
    assert "429" not in spec["paths"]["/healthz"]["get"]["responses"]
