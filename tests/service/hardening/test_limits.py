"""Backpressure and timeouts on every path into ONNX Runtime: forced decoding (/v1/align) counts against the
queue like translations do, and LibreTranslate's endpoint times out cleanly too.

The single ONNX Runtime worker is held busy (tests/service/app/test_batching.py: `occupied_worker`) so that
work queues up without any timing."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.service.app.conftest import live_server, server_settings, wait_until
from tests.service.app.test_batching import occupied_worker
from tests.tiny_corpus import PAIRS

ALIGN = {"source": "en", "target": "de", "text": [s for s, _ in PAIRS[:4]], "translation": [t for _, t in PAIRS[:4]]}


def test_forced_decoding_waits_in_the_bounded_queue_and_a_full_queue_is_503(models_dir: Path, tmp_path: Path) -> None:
    settings = server_settings(models_dir, tmp_path, queue_capacity=4, max_texts=4)
    with live_server(settings) as live, ThreadPoolExecutor(1) as pool:
        scheduler = live.state.running_scheduler()
        with occupied_worker(live) as release, live.client() as client:
            queued = pool.submit(httpx.post, live.url + "/v1/align", json=ALIGN, timeout=60)
            wait_until(lambda: scheduler.waiting == 4, "the alignment to queue", 60)
            for body in (ALIGN, {**ALIGN, "text": PAIRS[5][0], "translation": PAIRS[5][1]}):
                rejected = client.post("/v1/align", json=body)
                assert rejected.status_code == 503 and rejected.headers["retry-after"] == "1"
                assert rejected.json()["error"]["code"] == "overloaded"
            translation = client.post("/v1/translate", json={"source": "en", "target": "de", "text": PAIRS[6][0]})
            assert translation.status_code == 503
            release.set()
            aligned = queued.result()
        assert aligned.status_code == 200
        assert [item["text"] for item in aligned.json()["translations"]] == ALIGN["translation"]
        assert scheduler.waiting == 0


def test_a_forced_decoding_over_the_time_limit_is_504_and_dropped(models_dir: Path, tmp_path: Path) -> None:
    settings = server_settings(models_dir, tmp_path, request_timeout_seconds=0.2)
    with live_server(settings) as live:
        scheduler = live.state.running_scheduler()
        with occupied_worker(live), live.client() as client:
            response = client.post("/v1/align", json=ALIGN)
            assert response.status_code == 504
            assert response.json()["error"]["code"] == "timeout"
            assert "its work was dropped" in response.json()["error"]["message"]
            assert scheduler.waiting == 0
            lt = client.post("/translate", json={"q": PAIRS[7][0], "source": "en", "target": "de"})
            assert lt.status_code == 504 and list(lt.json()) == ["error"]
        with live.client() as client:
            assert client.post("/v1/align", json=ALIGN).status_code == 200
