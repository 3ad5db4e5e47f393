"""The document workload (issue 15): paragraphs of 3-8 sentences, each sent as one text, against the same sentences
sent one per request, to the same running heed server in the same run.

    python -m bench.documents [--quick] [--models-dir artifacts] [--model en-de] [--paragraphs N] [--clients 1,8]
        [--sentences FILE] [--out bench/results]

`python -m bench` runs it too, after its scenarios, on its heed server (batching on); this entry point starts that
server alone. Every served language pair is measured (the chosen bundle and one per other pair, as bench serves them).

Paragraphs are built as bench.paragraphs builds them: the sentences file (test_2016_flickr of the source language by
default) cut into runs of 3-8 consecutive sentences (seeded), joined by one space; the first N are sent. A shorter
last run is dropped. Each request is what an ordinary client sends (bench.workload.request_body) at the bundle's
default beam; every other field keeps the API's default (attention returned, result stored).

Two ways of sending each paragraph, with the same number of paragraphs in flight ("clients"):

- one text: one request whose text is the paragraph; the service splits it and decodes its sentences as rows of one
  batch. A paragraph's latency is that request's.
- one by one: each sentence in its own request, all of the paragraph's sentences sent at once on separate
  keep-alive connections. A paragraph's latency runs from the moment its first request is sent until its last answer
  has been read: what a client that splits documents itself waits for a whole paragraph.

Each client takes the next paragraph from a shared list as soon as its previous paragraph is answered in full; a
round ends when its part of the list is done. sentences/s = the sentences of the answered paragraphs ÷ the wall time
(first request sent to last answer read), summed over the rounds: the same sentences both ways; requests/s likewise.
The list is cut into an even number of rounds of about ROUND_PARAGRAPHS paragraphs and the two ways alternate in
ABBA order (one text, one by one; one by one, one text; ...), so that a slow phase of a shared machine hits both
alike. Before the measured rounds a few paragraphs are sent both ways unmeasured (the first request to a bundle pays
for its sessions' first runs). "rows" counts the sentences the server decoded, read from its answers (one "</s>" per
sentence in source_tokens): fewer rows than sentences sent as one text means the splitter joined two of them (a
sentence without final punctuation). "mean batch" is the server's heed_batch_size histogram for the pair's model over
the measured rounds: rows decoded together.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.bundles import BundleInfo, SelectionError, companions, scan, stage
from bench.httpload import Connection, HttpError, build_request
from bench.paragraphs import paragraph_sizes
from bench.promtext import BATCH_SIZE_METRIC, HistogramTotals, histogram_totals
from bench.report import documents_section
from bench.servers import LOCALHOST, REPO, ServerError, heed_arguments, launch
from bench.stats import LatencySummary, ratio, rounded
from bench.workload import TRANSLATE_PATH, default_sentences_path, read_sentences, request_body

ONE_TEXT = "one text"
ONE_BY_ONE = "one by one"
MODES = (ONE_TEXT, ONE_BY_ONE)
WARMUP_PARAGRAPHS = 4
ROUND_PARAGRAPHS = 24  # about, per round: enough for several paragraphs per client at 8 clients
MAX_ERROR_EXAMPLES = 5
QUICK_PARAGRAPHS = 24
FULL_PARAGRAPHS = 120
DEFAULT_CLIENTS = (1, 8)
DEFINITIONS = (
    "one text: each paragraph is one request; one by one: each of its sentences is its own request, all sent at once "
    "on separate connections. clients = paragraphs in flight. A paragraph's latency: from its first request sent to "
    "its last answer read. sentences/s and requests/s: over the wall time of sending the whole list, the same "
    "sentences both ways, in rounds alternating ABBA. rows: sentences the server decoded, from its answers; mean "
    "batch: rows decoded together (the server's heed_batch_size)."
)


@dataclass(frozen=True)
class Paragraph:
    sentences: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.sentences)  # as bench.paragraphs.group joins them


def build_paragraphs(sentences: Sequence[str], count: int, seed: int = 0) -> list[Paragraph]:
    """The first `count` paragraphs of 3-8 consecutive sentences, cut as bench.paragraphs cuts them."""
    paragraphs: list[Paragraph] = []
    start = 0
    for size in paragraph_sizes(len(sentences), seed):
        if size < 3 or len(paragraphs) == count:
            break
        paragraphs.append(Paragraph(tuple(sentences[start : start + size])))
        start += size
    return paragraphs


@dataclass
class Tally:
    """What one way of sending measured at one client count, over its rounds."""

    seconds: float = 0.0
    paragraphs: int = 0  # answered in full
    sentences: int = 0  # of the paragraphs answered in full
    requests: int = 0  # answered 200
    errors: int = 0
    error_examples: list[str] = field(default_factory=list)
    paragraph_latencies: list[float] = field(default_factory=list)
    request_latencies: list[float] = field(default_factory=list)
    batch_rows: float = 0.0  # the heed_batch_size histogram of the pair's model over the rounds: sum and count
    batches: float = 0.0

    def record_error(self, message: str) -> None:
        self.errors += 1
        if len(self.error_examples) < MAX_ERROR_EXAMPLES:
            self.error_examples.append(message)

    def to_json(self, mode: str, clients: int) -> dict[str, Any]:
        return {
            "mode": mode,
            "clients": clients,
            "seconds": self.seconds,
            "paragraphs": self.paragraphs,
            "sentences": self.sentences,
            "requests": self.requests,
            "errors": self.errors,
            "error_examples": self.error_examples,
            "sentences_per_second": ratio(float(self.sentences), self.seconds),
            "requests_per_second": ratio(float(self.requests), self.seconds),
            "paragraph_latency_ms": LatencySummary.of(self.paragraph_latencies).to_json(),
            "request_latency_ms": LatencySummary.of(self.request_latencies).to_json(),
            "mean_batch_size": ratio(self.batch_rows, self.batches),
        }


def answered_rows(body: bytes) -> int:
    """How many sentences the server decoded for a one-text answer: one "</s>" per sentence in its source tokens."""
    (translation,) = json.loads(body)["translations"]
    if not isinstance(translation["text"], str):
        raise TypeError("the translation's text is not a string")
    return int(translation["source_tokens"].count("</s>"))


class Sender:
    """Sends one pair's paragraphs both ways to one server and tallies what came back."""

    def __init__(self, port: int, bundle: BundleInfo, paragraphs: Sequence[Paragraph]) -> None:
        self.port = port
        self.model = bundle.name
        self.paragraphs = list(paragraphs)
        source, target = bundle.pair
        self.beam_size = default_beam(bundle)

        def request(text: str) -> bytes:
            body = json.dumps(request_body(source, target, text, self.beam_size)).encode()
            return build_request("POST", LOCALHOST, port, TRANSLATE_PATH, body)

        self.requests = {
            ONE_TEXT: [[request(p.text)] for p in self.paragraphs],
            ONE_BY_ONE: [[request(sentence) for sentence in p.sentences] for p in self.paragraphs],
        }
        self.rows: dict[str, dict[int, int]] = {mode: {} for mode in MODES}  # mode -> paragraph -> rows decoded

    async def send(self, mode: str, indices: Sequence[int], clients: int, tally: Tally | None) -> None:
        """Sends the paragraphs `indices` with `clients` paragraphs in flight; tally=None sends without measuring."""
        queue = iter(indices)  # shared by the clients: each takes the next paragraph when its last one is done
        batches = await self._batches() if tally is not None else None
        started = time.perf_counter()
        await asyncio.gather(*(self._client(mode, queue, tally or Tally()) for _ in range(clients)))
        if tally is not None and batches is not None:
            tally.seconds += time.perf_counter() - started
            added = (await self._batches()).minus(batches)
            tally.batch_rows += added.total
            tally.batches += added.count

    async def _batches(self) -> HistogramTotals:
        """The server's batch-size histogram for this pair's model so far (zero where /metrics does not answer)."""
        connection = Connection(LOCALHOST, self.port)
        try:
            status, body = await connection.request(build_request("GET", LOCALHOST, self.port, "/metrics"))
        finally:
            await connection.close()
        if status != 200:
            return HistogramTotals(0.0, 0.0)
        return histogram_totals(body.decode(), BATCH_SIZE_METRIC, {"model": self.model})

    async def _client(self, mode: str, queue: Iterator[int], tally: Tally) -> None:
        connections = [Connection(LOCALHOST, self.port) for _ in range(max(map(len, self.requests[mode])))]
        try:
            for index in queue:
                requests = self.requests[mode][index]
                started = time.perf_counter()
                outcomes = await asyncio.gather(
                    *(self._exchange(c, r) for c, r in zip(connections[: len(requests)], requests, strict=True))
                )
                finished = time.perf_counter()
                failures = [failure for _, _, failure in outcomes if failure is not None]
                for failure in failures:
                    tally.record_error(failure)
                tally.requests += len(outcomes) - len(failures)
                tally.request_latencies.extend(seconds for seconds, _, failure in outcomes if failure is None)
                if failures:
                    continue
                self.rows[mode].setdefault(index, sum(rows for _, rows, _ in outcomes))
                tally.paragraphs += 1
                tally.sentences += len(self.paragraphs[index].sentences)
                tally.paragraph_latencies.append(finished - started)
        finally:
            for connection in connections:
                await connection.close()

    async def _exchange(self, connection: Connection, request: bytes) -> tuple[float, int, str | None]:
        """(seconds, rows decoded, None) for a readable 200 answer, else (seconds, 0, what went wrong)."""
        started = time.perf_counter()
        try:
            status, body = await connection.request(request)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, HttpError, ValueError) as error:
            return time.perf_counter() - started, 0, f"{type(error).__name__}: {error}"
        seconds = time.perf_counter() - started
        if status != 200:
            return seconds, 0, f"HTTP {status}: {body[:200]!r}"
        try:
            return seconds, answered_rows(body), None
        except (ValueError, KeyError, TypeError) as error:
            return seconds, 0, f"unreadable answer ({type(error).__name__}: {error}): {body[:200]!r}"


def default_beam(bundle: BundleInfo) -> int:
    return int((bundle.manifest.get("decoding") or {}).get("beam_size", 1))


def rounds_of(count: int) -> list[range]:
    """The list cut into an even number of rounds (2, or one per ROUND_PARAGRAPHS paragraphs, rounded down to even)."""
    rounds = max(2, 2 * (count // (2 * ROUND_PARAGRAPHS)))
    return [range(count * r // rounds, count * (r + 1) // rounds) for r in range(rounds)]


async def measure_pair(sender: Sender, client_counts: Sequence[int]) -> list[dict[str, Any]]:
    """Both ways at each client count: warm-up, then the rounds of the list, the ways alternating in ABBA order."""
    count = len(sender.paragraphs)
    for mode in MODES:
        await sender.send(mode, range(min(WARMUP_PARAGRAPHS, count)), 1, None)
    results: list[dict[str, Any]] = []
    for clients in client_counts:
        tallies = {mode: Tally() for mode in MODES}
        for index, paragraphs in enumerate(rounds_of(count)):
            for mode in MODES if index % 2 == 0 else MODES[::-1]:
                await sender.send(mode, paragraphs, clients, tallies[mode])
        results.extend(tallies[mode].to_json(mode, clients) for mode in MODES)
    return results


def comparisons(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One text ÷ one by one at each client count: throughput (above 1: one text is faster) and paragraph latency
    (below 1: one text answers sooner)."""
    rows = []
    for clients in sorted({result["clients"] for result in results}):
        one_text, one_by_one = (
            next(r for r in results if (r["mode"], r["clients"]) == (mode, clients)) for mode in MODES
        )
        row: dict[str, Any] = {"clients": clients}
        row["sentences_per_second"] = ratio(one_text["sentences_per_second"], one_by_one["sentences_per_second"])
        for which in ("p50", "p95", "p99"):
            row[f"paragraph_{which}"] = ratio(
                one_text["paragraph_latency_ms"][which], one_by_one["paragraph_latency_ms"][which]
            )
        rows.append(row)
    return rows


def measure(
    port: int, bundles: Sequence[BundleInfo], sentences: dict[str, list[str]], paragraphs: int, clients: Sequence[int]
) -> dict[str, Any]:
    """The workload on every bundle against the heed server on `port`; `sentences` by source language."""
    pairs = []
    for bundle in bundles:
        source, target = bundle.pair
        built = build_paragraphs(sentences[source], paragraphs)
        if not built:
            raise ValueError(f"fewer than 3 sentences for {bundle.name}: no paragraph to send")
        sender = Sender(port, bundle, built)
        results = asyncio.run(measure_pair(sender, clients))
        for result in results:
            print(progress_line(bundle.name, result), flush=True)
        pairs.append(
            {
                "pair": f"{source}-{target}",
                "bundle": bundle.name,
                "beam_size": sender.beam_size,
                "paragraphs": len(built),
                "sentences": sum(len(p.sentences) for p in built),
                "paragraph_sizes": [len(p.sentences) for p in built],
                "rounds": len(rounds_of(len(built))),
                "rows": {mode: sum(sender.rows[mode].values()) for mode in MODES},
                "results": results,
                "one_text_over_one_by_one": comparisons(results),
            }
        )
    return {"definitions": DEFINITIONS, "clients": list(clients), "pairs": pairs}


def sentences_by_language(
    bundles: Sequence[BundleInfo], given: Path | None, given_language: str
) -> dict[str, list[str]]:
    """Each source language's sentences: the file given for `given_language`, else test_2016_flickr of the language."""
    found: dict[str, list[str]] = {}
    for bundle in bundles:
        source = bundle.pair[0]
        if source not in found:
            path = given if given is not None and source == given_language else default_sentences_path(source)
            found[source] = read_sentences(path)
    return found


def progress_line(name: str, result: dict[str, Any]) -> str:
    paragraph, request = result["paragraph_latency_ms"], result["request_latency_ms"]
    errors = f"  ERRORS {result['errors']}: {result['error_examples'][:1]}" if result["errors"] else ""
    return (
        f"  documents {name:<8} {result['clients']:>2} clients  {result['mode']:<10}"
        f"{_shown(result['sentences_per_second']):>8} sent/s  paragraph p50 {_shown(paragraph['p50']):>7}  "
        f"p95 {_shown(paragraph['p95']):>7} ms  request p50 {_shown(request['p50']):>7} ms{errors}"
    )


def _shown(value: float | None) -> str:
    return f"{value:.1f}" if value is not None else "–"


# -- the stand-alone run --------------------------------------------------------------------------------------------


def positive_ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        values = ()
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers of at least 1, got {text!r}")
    return values


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.documents", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_PARAGRAPHS} paragraphs per pair")
    parser.add_argument("--models-dir", type=Path, default=REPO / "artifacts", help="folder of bundles")
    parser.add_argument("--model", default="en-de", help="the bundle chosen; one per other language pair joins it")
    parser.add_argument("--paragraphs", type=int, help=f"paragraphs per pair (default {FULL_PARAGRAPHS})")
    parser.add_argument("--clients", type=positive_ints, default=DEFAULT_CLIENTS, help="paragraphs in flight, e.g. 1,8")
    parser.add_argument("--sentences", type=Path, help="the chosen bundle's source sentences, one a line")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results", help="folder for the reports")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # bench.runner imports this module for `python -m bench`, so its helpers are imported here, not at the top
    from bench.runner import bundle_summary, git_state, heed_settings, host_name, machine

    args = build_parser().parse_args(argv)
    paragraphs = args.paragraphs or (QUICK_PARAGRAPHS if args.quick else FULL_PARAGRAPHS)
    command = " ".join(["python -m bench.documents", *(sys.argv[1:] if argv is None else argv)])
    started, load_start = datetime.now(UTC), os.getloadavg()
    try:
        bundles = scan(args.models_dir)
        if args.model not in bundles:
            raise SelectionError(f"no bundle {args.model!r} in {args.models_dir} (found: {sorted(bundles)})")
        served = [bundles[args.model], *companions(bundles, bundles[args.model])]
        sentences = sentences_by_language(served, args.sentences, served[0].pair[0])
        with tempfile.TemporaryDirectory(prefix="heed-documents-") as scratch:
            folder = Path(scratch)
            arguments = heed_arguments(stage(folder / "models", served), folder / "store.sqlite3", batching=True)
            server = launch("heed", arguments, folder / "heed.log")
            try:
                server.wait_ready()
                documents = measure(server.port, served, sentences, paragraphs, args.clients)
            finally:
                server.stop()
    except (SelectionError, ServerError, OSError, ValueError) as error:
        print(f"bench.documents: {error}", file=sys.stderr)
        return 1
    report = {
        "schema": "heed-bench-documents/1",
        "date": started.strftime("%Y-%m-%d"),
        "started_at": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "host": host_name(),
        "command": command,
        "git": git_state(),
        "machine": machine(load_start),
        "served_bundles": [bundle_summary(bundle) for bundle in served],
        "heed_settings": heed_settings(),
        "documents": documents,
    }
    stem = f"documents-{report['date']}-{report['host']}" + ("-quick" if args.quick else "")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.json").write_text(json.dumps(rounded(report), indent=2, ensure_ascii=False) + "\n")
    (args.out / f"{stem}.md").write_text("\n".join(_heading(report) + documents_section(documents)), encoding="utf-8")
    print(f"wrote {args.out / stem}.json and .md")
    return 0 if all(r["errors"] == 0 for p in documents["pairs"] for r in p["results"]) else 1


def _heading(report: dict[str, Any]) -> list[str]:
    machine, settings = report["machine"], report["heed_settings"]
    served = ", ".join(f"{b['name']} {b['version']}" for b in report["served_bundles"])
    return [
        f"# heed document workload: {report['date']} on {report['host']}",
        "",
        f"Command: `{report['command']}`",
        "",
        f"Machine: {machine['cpu']}, {machine['cpus_usable']} usable cores of {machine['cpus']}; load average "
        f"{machine['load_average_start']} at start, {machine['load_average_end']} at end.",
        "",
        f"heed (batching on) serving {served}; settings: {', '.join(f'{k} {v}' for k, v in settings.items())}.",
        "",
    ]


if __name__ == "__main__":
    sys.exit(main())
