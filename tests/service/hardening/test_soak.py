"""Soak: 20,000 requests from 32 concurrent clients against a real `python -m service serve` process.

Not in CI (marked `soak`, which pyproject's addopts deselect). Run it with

    python -m pytest tests/service/hardening/test_soak.py -m soak -s

Over the tiny test bundle by default; `HEED_SOAK_MODELS_DIR=artifacts` soaks real bundles (en-de), and
`HEED_SOAK_REQUESTS` / `HEED_SOAK_CLIENTS` change the load. What must hold: no request fails; the server's
resident memory grows by at most 10% from the end of the warm-up (the first 10% of requests) to the end; the
result store never holds more than its cap (HEED_STORE_MAX_ENTRIES=2000, well under the results written).
The figures are printed.

`test_soak_mixed` is the mixed run: light clients send single sentences, first alone, then beside heavy
clients each sending heavy requests (7,038 work units, over HEED_LIGHT_REQUEST_WORK, so decoded in a slice).
What must hold: every request answers 200; light requests keep their median latency within 4 times (plus
0.1 s) of their median alone; resident memory stays under the Kubernetes limit. `HEED_SOAK_MIXED_SECONDS`
(default 60) is the length of each phase.

    HEED_SOAK_MODELS_DIR=artifacts python -m pytest tests/service/hardening/test_soak.py -m soak -s -k mixed
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service.hardening.conftest import ServeProcess, serve_process
from tests.tiny_corpus import PAIRS

REQUESTS = int(os.environ.get("HEED_SOAK_REQUESTS", "20000"))
CLIENTS = int(os.environ.get("HEED_SOAK_CLIENTS", "32"))
STORE_CAP = 2000
WARM_UP = max(1, REQUESTS // 10)
SAMPLE_EVERY = max(1, REQUESTS // 40)
MAX_RSS_GROWTH = 0.10


@dataclass
class Soak:
    server: ServeProcess
    database: Path
    exact: bool  # the tiny bundle: every translation must be its corpus reference
    issued: itertools.count[int] = field(default_factory=itertools.count)
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: int = 0
    errors: list[str] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)
    rss_kib: dict[int, int] = field(default_factory=dict)  # requests done -> VmRSS
    store_entries: dict[int, int] = field(default_factory=dict)  # requests done -> stored results

    def next_index(self) -> int | None:
        index = next(self.issued)
        return index if index < REQUESTS else None

    def finished(self, kind: str, problem: str | None) -> None:
        with self.lock:
            self.done += 1
            self.kinds[kind] += 1
            if problem is not None:
                self.errors.append(problem)
            done = self.done
        if done % SAMPLE_EVERY == 0 or done in (WARM_UP, REQUESTS):
            self.rss_kib[done] = self.server.rss_kib()
            self.store_entries[done] = stored_results(self.database)


def stored_results(database: Path) -> int:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30) as connection:
        [(entries, counted)] = connection.execute(
            "SELECT (SELECT entries FROM totals), (SELECT COUNT(*) FROM results)"
        ).fetchall()
    assert entries == counted, "the store's running total matches its rows"
    return int(entries)


def _pair(index: int) -> tuple[str, str]:
    return PAIRS[index % len(PAIRS)]


def _check(soak: Soak, response: httpx.Response, expected: str | None = None) -> str | None:
    if response.status_code != 200:
        return f"{response.request.method} {response.request.url.path}: {response.status_code} {response.text[:200]}"
    if expected is not None and soak.exact and expected not in response.text:
        return f"{response.request.url.path}: expected {expected!r}"
    return None


def _one_request(soak: Soak, http: httpx.Client, index: int, recent: list[str]) -> tuple[str, str | None]:
    """A mix: translations that are stored (60%), fetches of stored results and alignments (25%),
    LibreTranslate form posts (10%) and forced decoding (5%)."""
    source, target = _pair(index)
    slot = index % 20
    if slot < 12 or not recent:
        texts = [source] if slot % 3 else [source, _pair(index + 7)[0]]
        body = {"source": "en", "target": "de", "text": texts, "beam_size": 1 + index % 4}
        response = http.post("/v1/translate", json=body)
        if response.status_code == 200:
            recent[:] = [response.json()["id"], *recent[:3]]
        return "translate", _check(soak, response, target)
    if slot < 15:
        return "fetch", _check(soak, http.get(f"/v1/translations/{recent[0]}", params={"attention": slot % 2 == 0}))
    if slot < 17:
        output_format = ("json", "pharaoh", "svg")[index % 3]
        response = http.get(f"/v1/translations/{recent[0]}/alignment", params={"format": output_format})
        return "alignment", _check(soak, response)
    if slot < 19:
        return "libretranslate", _check(soak, http.post("/translate", data={"q": source, "source": "en",
                                                                            "target": "de"}), target)  # fmt: skip
    body = {"source": "en", "target": "de", "text": source, "translation": target, "store": False}
    return "align", _check(soak, http.post("/v1/align", json=body))


def _client(soak: Soak) -> None:
    recent: list[str] = []
    with httpx.Client(base_url=soak.server.url, timeout=120) as http:
        while (index := soak.next_index()) is not None:
            try:
                kind, problem = _one_request(soak, http, index, recent)
            except httpx.HTTPError as error:
                kind, problem = "transport", f"request {index}: {type(error).__name__}: {error}"
            soak.finished(kind, problem)


def _models(request: pytest.FixtureRequest) -> tuple[Path, bool]:
    configured = os.environ.get("HEED_SOAK_MODELS_DIR")
    if configured:
        return Path(configured), False
    models: Path = request.getfixturevalue("models_dir")
    return models, True


@pytest.mark.soak
def test_soak(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    models, exact = _models(request)
    variables = {"HEED_STORE_MAX_ENTRIES": str(STORE_CAP)}
    with serve_process(models, tmp_path, **variables) as server:
        soak = Soak(server, tmp_path / "results.sqlite3", exact)
        idle_rss = server.rss_kib()
        started = time.perf_counter()
        clients = [threading.Thread(target=_client, args=(soak,)) for _ in range(CLIENTS)]
        for client in clients:
            client.start()
        for client in clients:
            client.join()
        seconds = time.perf_counter() - started
        final_rss = server.rss_kib()
        final_entries = stored_results(soak.database)
        server.terminate()
        exit_code = server.process.wait(timeout=120)

    warm = soak.rss_kib[WARM_UP]
    growth = (final_rss - warm) / warm
    figures: dict[str, Any] = {
        "requests": soak.done, "clients": CLIENTS, "errors": len(soak.errors), "seconds": round(seconds, 1),
        "requests_per_second": round(soak.done / seconds, 1), "mix": dict(soak.kinds),
        "rss_mib_before_load": round(idle_rss / 1024, 1), "rss_mib_after_warm_up": round(warm / 1024, 1),
        "rss_mib_end": round(final_rss / 1024, 1),
        "rss_mib_peak": round(max(soak.rss_kib.values()) / 1024, 1), "rss_growth_after_warm_up": f"{growth:.2%}",
        "store_cap": STORE_CAP, "store_entries_max_seen": max(soak.store_entries.values()),
        "store_entries_end": final_entries, "models": str(models),
    }  # fmt: skip
    print("\nsoak figures:", figures)
    assert soak.done == REQUESTS
    assert soak.errors == [], soak.errors[:10]
    assert growth <= MAX_RSS_GROWTH, figures
    assert max(soak.store_entries.values()) <= STORE_CAP and final_entries <= STORE_CAP, figures
    if soak.kinds["translate"] > STORE_CAP:
        assert final_entries == STORE_CAP, "the store filled up to its cap and evicted the oldest results"
    assert exit_code == 0


MIXED_SECONDS = float(os.environ.get("HEED_SOAK_MIXED_SECONDS", "60"))
LIGHT_CLIENTS, HEAVY_CLIENTS = 4, 2
K8S_MEMORY_LIMIT_MIB = 768  # deploy/k8s/translator.yaml
# Two sources of 255 pieces (read whole), each decoding to the output length limit at beam 4: 7,038 work
# units (service/app/cost.py), a heavy request sliced beside the light ones, under the decoding limit.
HEAVY_BODY = {"source": "en", "target": "de", "text": [" ".join(map(str, range(136)))] * 2, "beam_size": 4,
              "store": False}  # fmt: skip


@dataclass
class MixedRun:
    server: ServeProcess
    light: list[float] = field(default_factory=list)  # seconds per light request
    heavy: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)


def _timed(http: httpx.Client, body: dict[str, Any], into: list[float], run: MixedRun) -> None:
    started = time.perf_counter()
    response = http.post("/v1/translate", json=body)
    into.append(time.perf_counter() - started)
    if response.status_code != 200:
        run.errors.append(f"{response.status_code} {response.text[:200]}")


def _mixed_client(run: MixedRun, heavy: bool, until: float, number: int) -> None:
    with httpx.Client(base_url=run.server.url, timeout=120) as http:
        sent = 0
        while time.perf_counter() < until:
            if heavy:
                _timed(http, HEAVY_BODY, run.heavy, run)
            else:
                source = _pair(number + sent)[0]
                _timed(http, {"source": "en", "target": "de", "text": source, "store": False}, run.light, run)
                run.rss_kib.append(run.server.rss_kib())
            sent += 1


def _phase(run: MixedRun, heavy_clients: int) -> list[float]:
    until = time.perf_counter() + MIXED_SECONDS
    light_before = len(run.light)
    threads = [threading.Thread(target=_mixed_client, args=(run, False, until, n)) for n in range(LIGHT_CLIENTS)]
    threads += [threading.Thread(target=_mixed_client, args=(run, True, until, n)) for n in range(heavy_clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return run.light[light_before:]


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


@pytest.mark.soak
def test_soak_mixed(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    models, _ = _models(request)
    with serve_process(models, tmp_path) as server:
        run = MixedRun(server)
        alone = _phase(run, 0)
        beside = _phase(run, HEAVY_CLIENTS)
        peak_mib = max(run.rss_kib) / 1024

    def ms(value: float) -> float:
        return round(value * 1000, 1)

    figures = {
        "models": str(models), "seconds_per_phase": MIXED_SECONDS, "light_clients": LIGHT_CLIENTS,
        "heavy_clients": HEAVY_CLIENTS, "light_requests_alone": len(alone), "light_requests_beside": len(beside),
        "heavy_requests": len(run.heavy), "errors": len(run.errors),
        "light_ms_alone_p50_p99": (ms(statistics.median(alone)), ms(_percentile(alone, 0.99))),
        "light_ms_beside_heavy_p50_p99": (ms(statistics.median(beside)), ms(_percentile(beside, 0.99))),
        "heavy_seconds_p50_max": (round(statistics.median(run.heavy), 2), round(max(run.heavy), 2)),
        "rss_mib_peak": round(peak_mib, 1),
    }  # fmt: skip
    print("\nmixed soak figures:", figures)
    assert run.errors == [], run.errors[:10]
    assert run.heavy, "heavy requests ran beside the light ones"
    assert statistics.median(beside) <= 4 * statistics.median(alone) + 0.1, figures
    assert peak_mib < K8S_MEMORY_LIMIT_MIB, figures
