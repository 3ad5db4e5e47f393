"""Concurrent requests share batches (seen in the batch-size metric), batching changes no result, and a full
queue or a slow translation is answered cleanly.

To make batching observable without timing, a test occupies the only ONNX Runtime worker with a task that
waits on an event, lets requests pile up in the queue, and then releases it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service.app.conftest import LiveServer, live_server, server_settings, wait_until
from tests.service.app.test_operations import metric_samples, sample_value
from tests.tiny_corpus import PAIRS

SOURCES = [source for source, _ in PAIRS]
REFERENCES = [target for _, target in PAIRS]


@contextmanager
def occupied_worker(live: LiveServer) -> Iterator[threading.Event]:
    """Holds the server's single ONNX Runtime worker until the yielded event is set (or the block ends)."""
    entered, release = threading.Event(), threading.Event()

    def hold() -> None:
        entered.set()
        release.wait()

    held = live.run_in_loop(live.state.running_scheduler().run_blocking(hold))
    try:
        wait_until(entered.is_set, "the worker to be occupied", 30)
        yield release
    finally:
        release.set()
        held.result(timeout=30)


def post_all(live: LiveServer, bodies: list[dict[str, Any]], pool: ThreadPoolExecutor) -> list[Future[httpx.Response]]:
    return [pool.submit(httpx.post, live.url + "/v1/translate", json=body, timeout=60) for body in bodies]


def batch_stats(live: LiveServer) -> tuple[float, float, float]:
    """(batches, sentences, batches of exactly one sentence) observed so far."""
    with live.client() as client:
        samples = metric_samples(client)
    family = "heed_batch_size"
    return (
        sample_value(samples, family, family + "_count", model="en-de"),
        sample_value(samples, family, family + "_sum", model="en-de"),
        sample_value(samples, family, family + "_bucket", model="en-de", le="1.0"),
    )


@pytest.fixture(scope="module")
def batching_server(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = server_settings(models_dir, tmp_path_factory.mktemp("batching"), max_batch_size=32)
    with live_server(settings) as live:
        yield live


@pytest.fixture(scope="module")
def unbatched_server(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = server_settings(models_dir, tmp_path_factory.mktemp("unbatched"), batching=False)
    with live_server(settings) as live:
        yield live


def test_concurrent_requests_share_one_batch(batching_server: LiveServer) -> None:
    count = 16
    bodies = [{"source": "en", "target": "de", "text": SOURCES[i], "store": False} for i in range(count)]
    batches, sentences, _ = batch_stats(batching_server)
    with ThreadPoolExecutor(count) as pool, occupied_worker(batching_server) as release:
        futures = post_all(batching_server, bodies, pool)
        wait_until(lambda: batching_server.state.running_scheduler().waiting == count, "all requests to queue", 60)
        release.set()
        responses = [future.result() for future in futures]
    assert [r.json()["translations"][0]["text"] for r in responses] == REFERENCES[:count]
    after_batches, after_sentences, _ = batch_stats(batching_server)
    assert after_sentences - sentences == count
    assert after_batches - batches == 1  # all sixteen requests were decoded together


def test_batches_never_exceed_the_maximum_size(models_dir: Path, tmp_path: Path) -> None:
    settings = server_settings(models_dir, tmp_path, max_batch_size=4)
    with live_server(settings) as live, ThreadPoolExecutor(10) as pool:
        bodies = [{"source": "en", "target": "de", "text": SOURCES[i], "store": False} for i in range(10)]
        batches, sentences, _ = batch_stats(live)
        with occupied_worker(live) as release:
            futures = post_all(live, bodies, pool)
            wait_until(lambda: live.state.running_scheduler().waiting == 10, "all requests to queue", 60)
            release.set()
            assert [f.result().json()["translations"][0]["text"] for f in futures] == REFERENCES[:10]
        after_batches, after_sentences, _ = batch_stats(live)
        assert (after_batches - batches, after_sentences - sentences) == (3, 10)  # 4 + 4 + 2


def test_requests_with_different_options_are_not_mixed(batching_server: LiveServer) -> None:
    bodies = [{"source": "en", "target": "de", "text": SOURCES[i], "beam_size": 1 + i % 2, "store": False}
              for i in range(6)]  # fmt: skip
    batches, _, _ = batch_stats(batching_server)
    with ThreadPoolExecutor(6) as pool, occupied_worker(batching_server) as release:
        futures = post_all(batching_server, bodies, pool)
        wait_until(lambda: batching_server.state.running_scheduler().waiting == 6, "all requests to queue", 60)
        release.set()
        assert [f.result().json()["translations"][0]["text"] for f in futures] == REFERENCES[:6]
    assert batch_stats(batching_server)[0] - batches == 2  # one batch per beam size


def test_natural_concurrency_batches_and_keeps_every_answer_right(server: LiveServer) -> None:
    batches, sentences, _ = batch_stats(server)
    bodies = [{"source": "en", "target": "de", "text": SOURCES[i % 20], "store": False} for i in range(64)]
    with ThreadPoolExecutor(32) as pool:
        responses = [future.result() for future in post_all(server, bodies, pool)]
    assert [r.json()["translations"][0]["text"] for r in responses] == [REFERENCES[i % 20] for i in range(64)]
    after_batches, after_sentences, _ = batch_stats(server)
    assert after_sentences - sentences == 64
    assert after_batches - batches < 64  # some requests shared a batch


def test_batched_and_unbatched_results_are_identical(batching_server: LiveServer, unbatched_server: LiveServer) -> None:
    body = {"source": "en", "target": "de", "text": SOURCES, "beam_size": 3, "n_best": 2, "store": False}
    with batching_server.client() as batched, unbatched_server.client() as unbatched:
        together = batched.post("/v1/translate", json=body).json()["translations"]
        alone = [
            unbatched.post("/v1/translate", json={**body, "text": source}).json()["translations"][0]
            for source in SOURCES
        ]
    for shared, single in zip(together, alone, strict=True):
        for key in ("text", "source_tokens", "target_tokens", "alignment", "source_words", "target_words"):
            assert shared[key] == single[key]
        assert shared["score"] == pytest.approx(single["score"], abs=1e-4)
        for shared_row, single_row in zip(shared["attention"], single["attention"], strict=True):
            assert shared_row == pytest.approx(single_row, abs=2e-4)


def test_unbatched_mode_decodes_each_request_alone(unbatched_server: LiveServer) -> None:
    batches, sentences, singles = batch_stats(unbatched_server)
    bodies = [{"source": "en", "target": "de", "text": SOURCES[i], "store": False} for i in range(6)]
    with ThreadPoolExecutor(6) as pool, occupied_worker(unbatched_server) as release:
        futures = post_all(unbatched_server, bodies, pool)
        wait_until(lambda: unbatched_server.state.running_scheduler().waiting == 6, "all requests to queue", 60)
        release.set()
        assert [f.result().json()["translations"][0]["text"] for f in futures] == REFERENCES[:6]
    after = batch_stats(unbatched_server)
    assert (after[0] - batches, after[1] - sentences, after[2] - singles) == (6, 6, 6)


def test_a_full_queue_answers_503_with_retry_after(models_dir: Path, tmp_path: Path) -> None:
    settings = server_settings(models_dir, tmp_path, queue_capacity=4, max_texts=4)
    with live_server(settings) as live, ThreadPoolExecutor(2) as pool:
        with occupied_worker(live) as release:
            [queued] = post_all(live, [{"source": "en", "target": "de", "text": SOURCES[:4]}], pool)
            wait_until(lambda: live.state.running_scheduler().waiting == 4, "the queue to fill", 60)
            with live.client() as client:
                rejected = client.post("/v1/translate", json={"source": "en", "target": "de", "text": SOURCES[4]})
                assert rejected.status_code == 503
                assert rejected.headers["retry-after"] == "1"
                assert rejected.json()["error"]["code"] == "overloaded"
                lt = client.post("/translate", data={"q": SOURCES[4], "source": "en", "target": "de"})
                assert lt.status_code == 503 and "queue is full" in lt.json()["error"]
            release.set()
            assert queued.result().status_code == 200
        with live.client() as client:
            assert client.post("/v1/translate", json={"source": "en", "target": "de", "text": SOURCES[4]}).is_success
            samples = metric_samples(client)
        assert sample_value(samples, "heed_rejected_requests", "heed_rejected_requests_total", reason="queue_full") == 2


def test_a_translation_over_the_time_limit_gets_504_and_its_work_is_dropped(models_dir: Path, tmp_path: Path) -> None:
    settings = server_settings(models_dir, tmp_path, request_timeout_seconds=0.2)
    with live_server(settings) as live:
        batches, _, _ = batch_stats(live)
        with occupied_worker(live), live.client() as client:
            response = client.post("/v1/translate", json={"source": "en", "target": "de", "text": SOURCES[0]})
            assert response.status_code == 504
            assert response.json()["error"]["code"] == "timeout"
        with live.client() as client:
            assert client.post("/v1/translate", json={"source": "en", "target": "de", "text": SOURCES[1]}).is_success
        assert batch_stats(live)[0] - batches == 1  # only the second request was decoded
        assert live.state.running_scheduler().waiting == 0
