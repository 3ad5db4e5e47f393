"""A failing result store costs a translation nothing but its storing: /readyz stays 200 ("degraded", with the
reason), answers say `stored: false` and why, fetches answer 503, and the service recovers by itself. Against a
real redis-server that the tests kill, hang (SIGSTOP) and restart, and a real SQLite file whose directory they
delete; results keep only what was asked for, and one evicted by its caller's quota answers 410."""

from __future__ import annotations

import shutil
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service.app.conftest import RedisProcess, live_server, server_settings, wait_until
from tests.service.app.test_operations import metric_samples, sample_value
from tests.tiny_corpus import PAIRS

TRANSLATE = {"source": "en", "target": "de", "text": PAIRS[0][0]}
RECOVERY_SECONDS = 10.0


def readiness(client: httpx.Client) -> tuple[int, dict[str, Any]]:
    response = client.get("/readyz")
    return response.status_code, response.json()


def metric(client: httpx.Client, name: str, **labels: str) -> float:
    return sample_value(metric_samples(client), name, name, **labels)


def store_degraded(client: httpx.Client) -> float:
    return metric(client, "heed_degraded", reason="store_unavailable")


def assert_degraded(client: httpx.Client, because: str) -> None:
    status, body = readiness(client)
    assert status == 200 and body["status"] == "degraded", body
    assert "result store is unavailable" in body["reason"] and because in body["reason"], body["reason"]
    assert body["models"] == ["en-de"]
    assert store_degraded(client) == 1.0


def assert_translates_unstored(client: httpx.Client) -> None:
    answer = client.post("/v1/translate", json=TRANSLATE)
    assert answer.status_code == 200
    body = answer.json()
    assert body["translations"][0]["text"] == PAIRS[0][1]
    assert (body["stored"], body["stored_reason"], body["expires_at"]) == (False, "store_unavailable", None)


def stored_result(client: httpx.Client, **options: Any) -> dict[str, Any]:
    body: dict[str, Any] = client.post("/v1/translate", json={**TRANSLATE, **options}).json()
    assert (body["stored"], body["stored_reason"]) == (True, None), body
    return body


def test_a_killed_redis_degrades_readiness_not_translation_and_the_store_comes_back_by_itself(
    models_dir: Path, tmp_path: Path, own_redis: RedisProcess
) -> None:
    settings = server_settings(models_dir, tmp_path, redis_url=own_redis.url, breaker_open_seconds=0.5)
    with live_server(settings) as live, live.client() as client:
        before = stored_result(client)
        assert readiness(client)[1]["status"] == "ready" and store_degraded(client) == 0.0
        own_redis.kill()
        assert_translates_unstored(client)
        assert_degraded(client, "Redis")
        fetched = client.get(f"/v1/translations/{before['id']}")
        assert fetched.status_code == 503 and fetched.json()["error"]["code"] == "store_unavailable"
        samples = metric_samples(client)
        assert sample_value(samples, "heed_results_not_stored", "heed_results_not_stored_total",
                            reason="store_unavailable") >= 1  # fmt: skip
        own_redis.start()  # empty: this test's Redis keeps nothing on disk
        wait_until(lambda: readiness(client)[1]["status"] == "ready", "the store to recover", RECOVERY_SECONDS)
        assert store_degraded(client) == 0.0
        after = stored_result(client)
        assert client.get(f"/v1/translations/{after['id']}").status_code == 200
        assert client.get(f"/v1/translations/{before['id']}").status_code == 404


def _timed_translation(client: httpx.Client) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    response = client.post("/v1/translate", json={**TRANSLATE, "attention": False})
    return time.perf_counter() - started, response


def test_a_hung_redis_costs_a_request_one_timeout_until_the_breakers_open_then_nothing(
    models_dir: Path, tmp_path: Path, own_redis: RedisProcess
) -> None:
    """Redis stopped with SIGSTOP accepts connections and never answers. Each request meets Redis twice (rate
    limiter and store), so until both breakers open it pays two timeouts; after that, none."""
    timeout = 0.05
    settings = server_settings(
        models_dir, tmp_path, redis_url=own_redis.url, rate_limit=100_000, redis_timeout_seconds=timeout,
        breaker_failures=3, breaker_open_seconds=1.0,
    )  # fmt: skip
    with live_server(settings) as live, live.client() as client:
        healthy = statistics.median(_timed_translation(client)[0] for _ in range(15))
        own_redis.pause()
        try:
            breaking = [_timed_translation(client) for _ in range(3)]
            broken = [_timed_translation(client) for _ in range(15)]
            probe_started = time.perf_counter()
            assert_degraded(client, "Timeout")
            probe_seconds = time.perf_counter() - probe_started
            samples = metric_samples(client)
            for dependency in ("store", "rate_limiter"):
                assert sample_value(samples, "heed_circuit_open", "heed_circuit_open", dependency=dependency) == 1
        finally:
            own_redis.resume()
        for _, response in breaking + broken:
            assert response.status_code == 200 and response.json()["stored_reason"] == "store_unavailable"
        added_breaking = [seconds - healthy for seconds, _ in breaking]
        added_broken = statistics.median(seconds for seconds, _ in broken) - healthy
        before_open = [round(added * 1000, 1) for added in added_breaking]
        print(f"\nhung Redis, timeout {timeout * 1000:.0f} ms: healthy {healthy * 1000:.1f} ms; added before the "
              f"breakers open {before_open} ms; added once open {added_broken * 1000:.1f} ms (median of 15); "
              f"/readyz + /metrics {probe_seconds * 1000:.1f} ms")  # fmt: skip
        assert all(2 * timeout * 0.8 < added < 2 * timeout + 0.15 for added in added_breaking), added_breaking
        assert added_broken < 0.02, "with both breakers open a request does not wait on Redis at all"
        wait_until(lambda: readiness(client)[1]["status"] == "ready", "the store to recover", RECOVERY_SECONDS)
        stored_result(client)


def test_a_deleted_sqlite_directory_degrades_readiness_until_it_is_back(models_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "store"
    settings = server_settings(models_dir, tmp_path, sqlite_path=folder / "results.sqlite3", breaker_open_seconds=0.5)
    with live_server(settings) as live, live.client() as client:
        before = stored_result(client)
        shutil.rmtree(folder)  # the open file lives on, unlinked: "stored" results would vanish at restart
        assert_translates_unstored(client)
        assert_degraded(client, "SQLite")
        assert client.get(f"/v1/translations/{before['id']}").status_code == 503
        folder.mkdir()
        wait_until(lambda: readiness(client)[1]["status"] == "ready", "the store to recover", RECOVERY_SECONDS)
        after = stored_result(client)
        assert client.get(f"/v1/translations/{after['id']}").status_code == 200
        assert (folder / "results.sqlite3").exists()


def set_immutable(files: list[Path], on: bool) -> None:
    """chattr +i: no process may write the file, root included (chmod does not stop root)."""
    chattr = shutil.which("chattr")
    if chattr is None:
        pytest.skip("chattr is not installed (e2fsprogs)")
    done = subprocess.run([chattr, "+i" if on else "-i", *map(str, files)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"chattr is not allowed here (needs CAP_LINUX_IMMUTABLE and ext4 or alike): {done.stderr}")


def test_a_read_only_sqlite_file_degrades_readiness_until_it_is_writable_again(
    models_dir: Path, tmp_path: Path
) -> None:
    path = tmp_path / "results.sqlite3"
    settings = server_settings(models_dir, tmp_path, sqlite_path=path, breaker_open_seconds=0.5)
    with live_server(settings) as live, live.client() as client:
        stored_result(client)
        files = [path, path.with_name(path.name + "-wal")]
        set_immutable(files, True)
        try:
            assert_translates_unstored(client)
            assert_degraded(client, "SQLite")
        finally:
            set_immutable(files, False)
        wait_until(lambda: readiness(client)[1]["status"] == "ready", "the store to recover", RECOVERY_SECONDS)
        after = stored_result(client)
        assert client.get(f"/v1/translations/{after['id']}").status_code == 200


def test_a_result_keeps_only_what_was_asked_for_and_one_evicted_by_the_quota_answers_410(
    models_dir: Path, tmp_path: Path
) -> None:
    settings = server_settings(models_dir, tmp_path, store_max_entries_per_caller=2)
    with live_server(settings) as live, live.client() as client:
        plain = stored_result(client, attention=False)
        assert "attention" not in plain["translations"][0]
        fetched = client.get(f"/v1/translations/{plain['id']}")  # asks for attention (the default): none stored
        assert fetched.status_code == 200 and fetched.json() == plain
        alignment = f"/v1/translations/{plain['id']}/alignment"
        refused = client.get(alignment)
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "attention_not_stored"
        assert client.get(alignment, params={"format": "pharaoh"}).text == plain["translations"][0]["alignment"] + "\n"
        full = stored_result(client)
        assert client.get(f"/v1/translations/{full['id']}").json()["translations"][0]["attention"]
        stored_result(client)  # the third result of this caller evicts its oldest
        gone = client.get(f"/v1/translations/{plain['id']}")
        assert gone.status_code == 410 and gone.json()["error"]["code"] == "evicted"
        assert client.get(alignment).status_code == 410
        assert client.get(f"/v1/translations/{full['id']}").status_code == 200
        unknown = client.get("/v1/translations/" + "x" * 22)
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
