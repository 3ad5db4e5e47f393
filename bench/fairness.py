"""Small requests beside heavy ones: single-sentence latency alone, then while clients send heavy requests.

    python -m bench.fairness --models-dir artifacts --model en-de [--light-clients 4] [--heavy-clients 2]
        [--duration 30] [--out bench/results]

One `python -m service serve` with default settings. Light clients send one sentence each (the first lines of
the sentences file, at the bundle's default beam); heavy clients send requests built to sit just under the
per-request limits (HEED_MAX_REQUEST_WORK and HEED_MAX_DECODING_WORK, service/app/cost.py): texts of a number
sequence of 255 pieces, which the model reads whole and translates to the output length limit, as many as are
answered 200 (more are refused before decoding or stopped by the decoding limit). The report gives light p50
and p99 in both phases, their ratio, the heavy requests' latencies and the server's peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from bench.httpload import LoadResult, build_request, run_closed_loop
from bench.report import print_json_report
from bench.servers import LOCALHOST, heed_arguments, launch
from bench.stats import LatencySummary, ratio
from bench.workload import TRANSLATE_PATH, count_translation, default_sentences_path, read_sentences

HEAVY_TEXT = " ".join(str(number) for number in range(136))  # 255 pieces in the shipped vocabularies
HEAVY_BEAM = 4


async def _nothing() -> None:
    return None


async def _load(port: int, bodies: Sequence[dict[str, Any]], clients: int, duration: float) -> LoadResult[None]:
    requests = [build_request("POST", LOCALHOST, port, TRANSLATE_PATH, json.dumps(body).encode()) for body in bodies]
    return await run_closed_loop(LOCALHOST, port, requests, clients, 1.0, duration, {}, count_translation, _nothing)


def heavy_body(url: str, source: str, target: str) -> dict[str, Any]:
    """As many HEAVY_TEXT texts as the server's limits let finish (at least one)."""
    body: dict[str, Any] = {"source": source, "target": target, "text": [HEAVY_TEXT], "beam_size": HEAVY_BEAM}
    with httpx.Client(base_url=url, timeout=120) as client:
        while len(body["text"]) < 64:
            bigger = {**body, "text": [HEAVY_TEXT] * (len(body["text"]) + 1), "store": False}
            if client.post(TRANSLATE_PATH, json=bigger).status_code == 413:  # refused, or stopped while decoding
                break
            body = bigger
    return {**body, "store": False}


def _summary(result: LoadResult[Any]) -> dict[str, Any]:
    return {
        "requests": len(result.latencies),
        "errors": result.errors,
        "error_examples": result.error_examples,
        "latency_ms": LatencySummary.of(result.latencies).to_json(),
    }


async def _phases(
    port: int, light: list[dict[str, Any]], heavy: dict[str, Any], options: argparse.Namespace
) -> tuple[LoadResult[None], LoadResult[None], LoadResult[None]]:
    alone = await _load(port, light, options.light_clients, options.duration)
    beside, heavy_result = await asyncio.gather(
        _load(port, light, options.light_clients, options.duration),
        _load(port, [heavy], options.heavy_clients, options.duration),
    )
    return alone, beside, heavy_result


def run(options: argparse.Namespace) -> dict[str, Any]:
    source, target = options.model.split("-")
    sentences = read_sentences(options.sentences or default_sentences_path(source))[:100]
    light = [{"source": source, "target": target, "text": text, "store": False} for text in sentences]
    with tempfile.TemporaryDirectory() as folder:
        arguments = heed_arguments(options.models_dir, Path(folder) / "results.sqlite3", batching=True)
        server = launch("heed", arguments, Path(folder) / "heed.log")
        try:
            server.wait_ready()
            heavy = heavy_body(server.url, source, target)
            alone, beside, heavy_result = asyncio.run(_phases(server.port, light, heavy, options))
            peak_rss = server.peak_rss_bytes()
        finally:
            server.stop()
    report = {
        "light_clients": options.light_clients, "heavy_clients": options.heavy_clients,
        "seconds_per_phase": options.duration, "heavy_texts": len(heavy["text"]), "heavy_beam": HEAVY_BEAM,
        "light_alone": _summary(alone), "light_beside_heavy": _summary(beside), "heavy": _summary(heavy_result),
        "peak_rss_mib": round(peak_rss / 2**20, 1),
    }  # fmt: skip
    p50 = report["light_alone"]["latency_ms"]["p50"], report["light_beside_heavy"]["latency_ms"]["p50"]
    report["light_p50_beside_over_alone"] = ratio(p50[1], p50[0])
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fairness", description=__doc__.split("\n")[0])
    parser.add_argument("--models-dir", type=Path, default=Path("artifacts"))
    parser.add_argument("--model", default="en-de", help="language pair: SOURCE-TARGET")
    parser.add_argument("--sentences", type=Path, default=None, help="light requests' sentences, one a line")
    parser.add_argument("--light-clients", type=int, default=4)
    parser.add_argument("--heavy-clients", type=int, default=2)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per phase")
    parser.add_argument("--out", type=Path, default=None, help="write the report here as JSON")
    options = parser.parse_args(argv)
    report = run(options)
    print_json_report(report, options.out)
    return 0 if report["light_alone"]["errors"] + report["light_beside_heavy"]["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
