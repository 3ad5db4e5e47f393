"""SIGTERM under load, against a real `python -m service serve` process and 32 concurrent clients.

What must hold: every request the server accepted before SIGTERM is answered 200 with its full translation;
once SIGTERM arrived, new connections are refused (the clients see a connection error, never an error status
or half an answer); the process exits 0 by itself, without having to cancel anything at the end of the grace
period.

Each request carries its own X-Request-ID, so the server's access log (one line per request it accepted) can
be matched against what each client saw.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service.app.conftest import wait_until
from tests.service.hardening.conftest import REPO, ServeProcess, serve_process
from tests.tiny_corpus import PAIRS

CLIENTS = 32
GRACE_SECONDS = 60
WARM_REQUESTS = 4 * CLIENTS


@dataclass(frozen=True)
class Outcome:
    request_id: str
    pair: int
    status: int | None  # None: no HTTP answer at all (connection refused or closed)
    body: Any = None


def _client_loop(server: ServeProcess, number: int, outcomes: list[Outcome], lock: threading.Lock) -> None:
    """Sends translations one after another until the server stops answering."""
    with httpx.Client(base_url=server.url, timeout=120) as http:
        sent = 0
        while True:
            request_id, pair = f"client{number}-{sent}", (number + sent) % len(PAIRS)
            body = {"source": "en", "target": "de", "text": PAIRS[pair][0], "store": False}
            try:
                response = http.post("/v1/translate", json=body, headers={"X-Request-ID": request_id})
                outcome = Outcome(request_id, pair, response.status_code, response.json())
            except httpx.TransportError as error:
                outcome = Outcome(request_id, pair, None, type(error).__name__)
            with lock:
                outcomes.append(outcome)
            if outcome.status is None:
                return
            sent += 1


def _full_translation(outcome: Outcome) -> bool:
    [item] = outcome.body["translations"]
    rows = item["attention"]
    return (
        item["text"] == PAIRS[outcome.pair][1]
        and len(rows) == len(item["target_tokens"])
        and all(len(row) == len(item["source_tokens"]) for row in rows)
    )


def test_sigterm_under_load_finishes_accepted_requests_refuses_new_ones_and_exits_cleanly(
    models_dir: Path, tmp_path: Path
) -> None:
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    variables = {"HEED_SHUTDOWN_GRACE_SECONDS": str(GRACE_SECONDS), "HEED_BATCH_WORKERS": "1"}
    with serve_process(models_dir, tmp_path, **variables) as server:
        clients = [threading.Thread(target=_client_loop, args=(server, n, outcomes, lock)) for n in range(CLIENTS)]
        for client in clients:
            client.start()
        wait_until(lambda: len(outcomes) >= WARM_REQUESTS, "the clients to get going", 300)
        server.terminate()
        for client in clients:
            client.join(timeout=GRACE_SECONDS + 60)
        assert not any(client.is_alive() for client in clients), "every client ended with a refused connection"
        exit_code = server.process.wait(timeout=GRACE_SECONDS + 30)

    assert exit_code == 0, server.output()[-3000:]
    records = server.records()
    messages = [record["message"] for record in records]
    [requested] = [record for record in records if record["message"] == "shutdown requested"]
    assert requested["signal"] == "SIGTERM" and requested["grace_seconds"] == GRACE_SECONDS
    assert requested["requests_in_flight"] >= 1, "SIGTERM arrived while requests were being served"
    assert not any("timeout graceful shutdown exceeded" in message for message in messages), "nothing was cut off"
    assert "Application shutdown complete." in messages

    accepted = {r["request_id"]: r for r in server.access_records() if r["route"] == "/v1/translate"}
    answered = {outcome.request_id: outcome for outcome in outcomes if outcome.status is not None}
    refused = [outcome for outcome in outcomes if outcome.status is None]
    assert all(record["status"] == 200 for record in accepted.values())
    assert set(accepted) == set(answered), "every accepted request, and only those, got an answer"
    assert all(outcome.status == 200 and _full_translation(outcome) for outcome in answered.values())
    assert len(refused) == CLIENTS and not any(outcome.request_id in accepted for outcome in refused)
    after_sigterm = [record for record in records[records.index(requested) + 1 :] if record["logger"] == "heed.access"]
    # uvicorn's task count at SIGTERM also holds cycles that had already written their answer (and access line)
    # but whose task had not ended yet, so it can exceed the number of clients (42 of 32 seen in CI). What must
    # hold: requests were still answered after SIGTERM, each one an accepted request its client got in full.
    assert after_sigterm, "requests in flight at SIGTERM completed"
    assert all(record["status"] == 200 and record["request_id"] in answered for record in after_sigterm)


SHIPPED_EN_DE = REPO / "artifacts" / "en-de"
NUMBERS = " ".join(str(number) for number in range(136))  # 255 pieces: read whole, decodes to the length limit
SHORT_GRACE_SECONDS = 6


@pytest.mark.skipif(not (SHIPPED_EN_DE / "decoder.onnx").is_file(), reason="the shipped en-de bundle is not there")
def test_sigterm_with_long_work_in_flight_cancels_it_with_503_and_exits_within_the_grace_period(
    tmp_path: Path,
) -> None:
    models = tmp_path / "models"
    models.mkdir()
    (models / "en-de").symlink_to(SHIPPED_EN_DE)
    raised = {"HEED_MAX_REQUEST_WORK": "10000000", "HEED_MAX_DECODING_WORK": "10000000"}  # admitted, not metered
    variables = {"HEED_SHUTDOWN_GRACE_SECONDS": str(SHORT_GRACE_SECONDS), **raised}
    body = {"source": "en", "target": "de", "text": [NUMBERS] * 16, "beam_size": 16, "store": False}  # about 20 s
    with serve_process(models, tmp_path, **variables) as server, ThreadPoolExecutor(2) as pool:
        long = pool.submit(httpx.post, server.url + "/v1/translate", json=body, timeout=120)
        time.sleep(2.0)  # decoding, in slices on one worker
        signalled = time.monotonic()
        server.terminate()
        time.sleep(0.5)
        with pytest.raises(httpx.TransportError):
            httpx.post(server.url + "/v1/translate", json={**body, "text": "Hello."}, timeout=5)
        answer = long.result()
        answered = time.monotonic() - signalled
        exit_code = server.process.wait(timeout=SHORT_GRACE_SECONDS + 30)
        exited = time.monotonic() - signalled

    print(f"\nSIGTERM with long work in flight: 503 after {answered:.1f} s, exit after {exited:.1f} s")
    assert answer.status_code == 503, answer.text[:300]
    assert answer.json()["error"]["code"] == "not_ready" and "grace period" in answer.json()["error"]["message"]
    assert SHORT_GRACE_SECONDS - 3 < answered < SHORT_GRACE_SECONDS, "the work ran until the grace period ended"
    assert exit_code == 0 and exited < SHORT_GRACE_SECONDS, f"exited {exited:.1f} s after SIGTERM"
    messages = [record["message"] for record in server.records()]
    assert any(message.startswith("grace period ending") for message in messages)
    assert not any("timeout graceful shutdown exceeded" in message for message in messages)
