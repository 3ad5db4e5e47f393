"""One benchmark run: measure the machine, start the three servers, drive every scenario, build the report.

Order, chosen so that the ratios hold on a noisy machine: the attainable FLOP/s is measured first, with no
server running; heed (batching on) is started alone, so its start-up time is not slowed by the others;
then heed (batching off) and the PyTorch baseline start beside it and stay up, idle between their turns,
and the scenarios run interleaved (for each decoding and client count: heed, heed without batching,
PyTorch), so a slow phase of the machine hits all three alike.
"""

from __future__ import annotations

import asyncio
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import sentencepiece as spm

from bench.bundles import BundleInfo, SelectionError, baseline_bundle, companions, scan, stage
from bench.documents import DEFAULT_CLIENTS, FULL_PARAGRAPHS, QUICK_PARAGRAPHS, sentences_by_language
from bench.documents import measure as measure_documents
from bench.flops import Attainable, FlopCounter, ModelSizes, measure_attainable
from bench.httpload import Connection, LoadResult, build_request, run_closed_loop
from bench.promtext import BATCH_SIZE_METRIC, HistogramTotals, histogram_totals
from bench.report import HEED, HEED_UNBATCHED, PYTORCH, SYSTEM_LABELS, Scenario, check_targets, decoding_label
from bench.report import ratios as compute_ratios
from bench.runtime_only import batching_gains, measure_runtime
from bench.servers import (
    LOCALHOST,
    REPO,
    ServerError,
    ServerProcess,
    heed_arguments,
    launch,
    server_environment,
    torch_arguments,
)
from bench.stats import LatencySummary
from bench.workload import (
    TRANSLATE_PATH,
    Workload,
    count_translation,
    default_sentences_path,
    read_sentences,
    request_body,
)

MAX_SOURCE_PIECES = 256  # the runtime's cap, for counting source tokens
CLIENT_STATEMENT = (
    'POST /v1/translate {"source", "target", "text": one sentence, "beam_size"}; every other field at the '
    "API's default, as an ordinary client sends it: heed answers with the attention matrix and word alignment "
    "and stores the result for a later fetch (SQLite). The PyTorch baseline gets the same bytes and answers "
    "the translation with its attention matrix (no alignment, nothing stored)."
)


@dataclass(frozen=True)
class Plan:
    mode: str
    clients: tuple[int, ...]
    beams: tuple[int, ...]
    warmup: float
    duration: float
    matmul_size: int
    matmul_repeats: int
    agreement_sentences: int
    startup_runs: int
    runtime_sentences: int  # timed in-process at each batch size, to bound what batching can gain
    runtime_batch_sizes: tuple[int, ...] = (1, 16, 32)
    document_paragraphs: int = FULL_PARAGRAPHS  # per served pair, each sent both ways (bench.documents); 0: none
    document_clients: tuple[int, ...] = DEFAULT_CLIENTS


QUICK = Plan("quick", (1, 8, 32, 64), (1, 4), 1.0, 2.5, 2048, 3, 20, 1, 64, document_paragraphs=QUICK_PARAGRAPHS)
FULL = Plan("full", (1, 8, 32, 64), (1, 4), 3.0, 20.0, 2048, 5, 100, 3, 320)


@dataclass(frozen=True)
class Options:
    plan: Plan
    models_dir: Path
    model: str
    out: Path
    command: str
    sentences: Path | None = None
    checkpoint: Path | None = None


@dataclass(frozen=True)
class Snapshot:
    cpu_seconds: float
    batches: HistogramTotals | None


def say(message: str) -> None:
    print(message, flush=True)


class Run:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.plan = options.plan
        bundles = scan(options.models_dir)
        if options.model not in bundles:
            raise SelectionError(f"no bundle {options.model!r} in {options.models_dir} (found: {sorted(bundles)})")
        self.chosen = bundles[options.model]
        self.companions = companions(bundles, self.chosen)
        self.baseline = baseline_bundle(bundles, self.chosen)
        source, target = self.chosen.pair
        sentences_path = options.sentences or default_sentences_path(source)
        self.sentences_path = sentences_path
        self.workload = Workload(source, target, read_sentences(sentences_path))
        processor = spm.SentencePieceProcessor(model_file=str(self.chosen.path / "source.spm"))
        pieces = processor.encode(self.workload.sentences)
        self.source_tokens = [min(len(ids), MAX_SOURCE_PIECES) + 1 for ids in pieces]
        self.flops = FlopCounter(ModelSizes.from_manifest(self.chosen.manifest["model"]))
        self.counts: dict[tuple[str, int], dict[int, tuple[int, int]]] = {}
        self.servers: dict[str, ServerProcess] = {}

    # -- the run ----------------------------------------------------------------------------------------------------

    def execute(self) -> dict[str, Any]:
        started = datetime.now(UTC)
        load_start = os.getloadavg()
        say(
            f"bench: {self.plan.mode} run of {self.chosen.name} ({self.chosen.quantization or 'float32'}), "
            f"{len(self.workload.sentences)} sentences from {self.sentences_path}"
        )
        attainable = measure_attainable(self.plan.matmul_size, self.plan.matmul_repeats)
        say(
            f"bench: attainable {attainable.flops_per_second / 1e9:.1f} GFLOP/s "
            f"({attainable.size}x{attainable.size} float32 matmul)"
        )
        runtime = self._runtime_only()
        with tempfile.TemporaryDirectory(prefix="heed-bench-") as scratch:
            folder = Path(scratch)
            models = stage(folder / "models", [self.chosen, *self.companions])
            try:
                startup = self._start_servers(folder, models)
                agreement = self._agreement()
                scenarios = self._scenarios()
                memory = self._memory()  # before the documents, so that the RSS target sees only the scenarios' load
                documents = self._documents()
            finally:
                for server in self.servers.values():
                    server.stop()
        report = self._report(started, load_start, attainable, startup, memory, agreement, scenarios)
        report["runtime_only"] = runtime
        if documents is not None:
            report["documents"] = documents
        return report

    def _documents(self) -> dict[str, Any] | None:
        """The document workload on heed (batching on), every served pair, at the bundles' default beams."""
        if self.plan.document_paragraphs < 1:
            return None
        served = [self.chosen, *self.companions]
        sentences = sentences_by_language(served, self.options.sentences, self.workload.source_language)
        say(f"bench: documents, {self.plan.document_paragraphs} paragraphs per pair, sent as one text and one by one")
        return measure_documents(
            self.servers[HEED].port, served, sentences, self.plan.document_paragraphs, self.plan.document_clients
        )

    def _runtime_only(self) -> dict[str, Any]:
        sentences = self.workload.sentences[: self.plan.runtime_sentences]
        timings = measure_runtime(self.chosen.path, sentences, self.plan.beams, self.plan.runtime_batch_sizes)
        for timing in timings:
            say(
                f"bench: runtime alone, {decoding_label(timing.beam_size)}, batch {timing.batch_size}: "
                f"{timing.ms_per_sentence:.2f} ms per sentence"
            )
        return {
            "sentences": len(sentences),
            "timings": [timing.to_json() for timing in timings],
            "batching_gain": batching_gains(timings),
            "note": "Translator.translate_batch in the benchmark process, one thread per ONNX Runtime session as in "
            "a server worker, no HTTP; batch 1 is what the unbatched server does per request",
        }

    def _start_servers(self, folder: Path, models: Path) -> dict[str, Any]:
        samples = []
        for attempt in range(self.plan.startup_runs):
            server = launch(
                HEED,
                heed_arguments(models, folder / f"heed-{attempt}.sqlite3", batching=True),
                folder / f"heed-{attempt}.log",
            )
            try:
                samples.append(server.wait_ready())
            except BaseException:
                server.stop()
                raise
            if attempt + 1 < self.plan.startup_runs:
                server.stop()
        self.servers[HEED] = server
        ready_rss = server.rss_bytes()
        say(
            f"bench: heed ready {samples[-1]:.2f} s after start, RSS {ready_rss / 1e6:.0f} MB "
            f"({', '.join(b.name for b in [self.chosen, *self.companions])})"
        )
        self.servers[HEED_UNBATCHED] = launch(
            HEED_UNBATCHED,
            heed_arguments(models, folder / "unbatched.sqlite3", batching=False),
            folder / "heed-unbatched.log",
        )
        self.servers[PYTORCH] = launch(
            PYTORCH, torch_arguments(self.baseline.path, self.options.checkpoint), folder / "pytorch.log"
        )
        for name in (HEED_UNBATCHED, PYTORCH):
            seconds = self.servers[name].wait_ready()
            say(f"bench: {SYSTEM_LABELS[name]} ready after {seconds:.2f} s")
        return {"seconds_to_ready": samples, "median_seconds": statistics.median(samples), "ready_rss_bytes": ready_rss}

    def _agreement(self) -> list[dict[str, Any]]:
        """Translates the first sentences on heed and on the baseline, one at a time, and compares the texts."""
        sentences = self.workload.sentences[: self.plan.agreement_sentences]
        results = []
        with httpx.Client(timeout=120.0) as client:
            for beam_size in self.plan.beams:
                identical = 0
                differing: list[dict[str, str]] = []
                for text in sentences:
                    body = request_body(self.workload.source_language, self.workload.target_language, text, beam_size)
                    answers = [self._translate(client, name, body) for name in (HEED, PYTORCH)]
                    if answers[0]["text"] == answers[1]["text"]:
                        identical += 1
                    elif len(differing) < 5:
                        differing.append({"source": text, "heed": answers[0]["text"], "pytorch": answers[1]["text"]})
                results.append(
                    {
                        "decoding": decoding_label(beam_size),
                        "beam_size": beam_size,
                        "sentences": len(sentences),
                        "identical": identical,
                        "examples": differing,
                    }
                )
                say(f"bench: same output, {decoding_label(beam_size)}: {identical} of {len(sentences)} sentences")
        return results

    def _translate(self, client: httpx.Client, system: str, body: dict[str, object]) -> dict[str, Any]:
        answer = client.post(self.servers[system].url + TRANSLATE_PATH, json=body)
        if answer.status_code != 200:
            raise ServerError(f"{SYSTEM_LABELS[system]} answered {answer.status_code}: {answer.text[:300]}")
        translation: dict[str, Any] = answer.json()["translations"][0]
        return translation

    def _scenarios(self) -> list[Scenario]:
        scenarios = []
        for beam_size in self.plan.beams:
            for clients in self.plan.clients:
                for system in (HEED, HEED_UNBATCHED, PYTORCH):
                    scenario = self._scenario(system, beam_size, clients)
                    scenarios.append(scenario)
                    say(progress_line(scenario))
        return scenarios

    def _scenario(self, system: str, beam_size: int, clients: int) -> Scenario:
        server = self.servers[system]
        if server.process.poll() is not None:
            raise ServerError(f"{SYSTEM_LABELS[system]} exited with {server.process.returncode}:\n{server.log_tail()}")
        requests = self.workload.requests(LOCALHOST, server.port, beam_size)
        counts = self.counts.setdefault((system, beam_size), {})
        probe = self._probe(server, with_metrics=system != PYTORCH)
        result = asyncio.run(
            run_closed_loop(
                LOCALHOST,
                server.port,
                requests,
                clients,
                self.plan.warmup,
                self.plan.duration,
                counts,
                count_translation,
                probe,
            )
        )
        return self._summarize(system, beam_size, result, counts)

    def _probe(self, server: ServerProcess, with_metrics: bool) -> Callable[[], Awaitable[Snapshot]]:
        metrics_request = build_request("GET", LOCALHOST, server.port, "/metrics")
        labels = {"model": self.chosen.name}

        async def probe() -> Snapshot:
            cpu = server.cpu_seconds()
            if not with_metrics:
                return Snapshot(cpu, None)
            connection = Connection(LOCALHOST, server.port)
            try:
                status, body = await connection.request(metrics_request)
            finally:
                await connection.close()
            batches = histogram_totals(body.decode(), BATCH_SIZE_METRIC, labels) if status == 200 else None
            return Snapshot(cpu, batches)

        return probe

    def _summarize(
        self, system: str, beam_size: int, result: LoadResult[Snapshot], counts: dict[int, tuple[int, int]]
    ) -> Scenario:
        start, end = result.probe_start, result.probe_end
        mean_batch = None
        if start and end and start.batches and end.batches:
            mean_batch = end.batches.minus(start.batches).mean
        useful = sum(self.flops.translation(self.source_tokens[i], counts[i][1]) for i in result.completed)
        return Scenario(
            system=system,
            beam_size=beam_size,
            clients=result.clients,
            window_seconds=result.window_seconds,
            requests=len(result.completed),
            errors=result.errors,
            target_words=sum(counts[i][0] for i in result.completed),
            target_tokens=sum(counts[i][1] for i in result.completed),
            latency=LatencySummary.of(result.latencies),
            mean_batch_size=mean_batch,
            server_cpu_seconds=end.cpu_seconds - start.cpu_seconds if start and end else None,
            client_cpu_seconds=result.client_cpu_seconds,
            useful_flops=float(useful),
            error_examples=result.error_examples,
        )

    def _memory(self) -> dict[str, Any]:
        return {
            name: {"rss_bytes": server.rss_bytes(), "peak_rss_bytes": server.peak_rss_bytes()}
            for name, server in self.servers.items()
        }

    # -- the report -------------------------------------------------------------------------------------------------

    def _cost(self, attainable: Attainable) -> dict[str, Any]:
        mean_source = statistics.fmean(self.source_tokens)
        per_step_at_zero = self.flops.decoder_step(0)
        per_source_token = self.flops.decoder_step(1) - per_step_at_zero  # the step's cost is linear in it
        # heed's translations of the run (greedy ones where measured) say how long outputs are
        heed_counts = [self.counts[key] for key in sorted(self.counts) if key[0] == HEED]
        translated = self.counts.get((HEED, 1)) or (heed_counts[0] if heed_counts else {})
        target_tokens = sum(tokens for _, tokens in translated.values())
        model_flops = sum(self.flops.translation(self.source_tokens[i], c[1]) for i, c in translated.items())
        return {
            "mean_source_tokens": mean_source,
            "decoder_flops_per_target_token": per_step_at_zero + per_source_token * mean_source,
            "model_flops_per_target_token": model_flops / target_tokens if target_tokens else None,
            "attainable_flops_per_second": attainable.flops_per_second,
            "matmul_size": attainable.size,
            "matmul_repeats": attainable.repeats,
            "matmul_best_seconds": attainable.best_seconds,
            "note": "useful FLOPs = decoder steps of the output tokens incl. </s> plus the encoder, per second; "
            "beam search's extra hypotheses are not counted as useful work",
        }

    def _report(
        self,
        started: datetime,
        load_start: tuple[float, float, float],
        attainable: Attainable,
        startup: dict[str, Any],
        memory: dict[str, Any],
        agreement: list[dict[str, Any]],
        scenarios: list[Scenario],
    ) -> dict[str, Any]:
        served = [self.chosen, *self.companions]
        rss_note = f"bundles loaded: {', '.join(b.name for b in served)}"
        if not self.companions:
            rss_note += "; only this one was present, the target is for both (en-de and en-fr)"
        peak = memory[HEED]["peak_rss_bytes"]
        targets = check_targets(scenarios, startup["median_seconds"], peak, rss_note)
        return {
            "schema": "heed-bench/1",
            "date": started.strftime("%Y-%m-%d"),
            "started_at": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "host": host_name(),
            "mode": self.plan.mode,
            "command": self.options.command,
            "git": git_state(),
            "machine": machine(load_start),
            "plan": {**asdict(self.plan), "warmup_seconds": self.plan.warmup, "duration_seconds": self.plan.duration},
            "model": bundle_summary(self.chosen),
            "served_bundles": [bundle_summary(bundle) for bundle in served],
            "baseline": self._baseline_summary(),
            "client": CLIENT_STATEMENT,
            "sentences": {"path": str(self.sentences_path), "count": len(self.workload.sentences)},
            "heed_settings": heed_settings(),
            "environment": {
                key: value for key, value in sorted(server_environment().items()) if key.startswith("HEED_")
            },
            "cost": self._cost(attainable),
            "startup": startup,
            "memory": memory,
            "agreement": agreement,
            "scenarios": [scenario.to_json(attainable.flops_per_second) for scenario in scenarios],
            "ratios": compute_ratios(scenarios),
            "targets": [target.to_json() for target in targets],
        }

    def _baseline_summary(self) -> dict[str, Any]:
        return baseline_summary(self.baseline, self.chosen, self.options.checkpoint)


def baseline_weights(baseline: BundleInfo, chosen: BundleInfo, checkpoint: Path | None) -> tuple[str, str]:
    """Where the PyTorch baseline's weights come from: a short kind for the JSON, and the report's words."""
    if checkpoint:
        kind, words = "checkpoint", f"the weights of checkpoint {checkpoint}"
    elif baseline.quantization:
        kind = f"{baseline.quantization} dequantized to float32"
        words = (
            f"the same weights, dequantized to float32 from {baseline.quantization} bundle {baseline.name} (rebuilt "
            "from it and checked against its graphs up to activation quantization, which heed does on the fly and "
            "PyTorch does not)"
        )
    else:
        kind = "float32"
        words = f"the same weights (rebuilt from bundle {baseline.name} and checked against its graphs)"
    if chosen.quantization and (checkpoint or not baseline.quantization):
        words += f"; heed serves their {chosen.quantization} quantization, {chosen.name}"
    return kind, words


def baseline_summary(baseline: BundleInfo, chosen: BundleInfo, checkpoint: Path | None) -> dict[str, Any]:
    kind, weights = baseline_weights(baseline, chosen, checkpoint)
    return {
        "description": f"PyTorch {version('torch')} eager, {weights}, the same decoding rules (length penalty, "
        "maximum length), one request at a time under torch.no_grad, beams of one sentence batched, nothing "
        "batched across requests (bench/torch_server.py)",
        "weights": kind,
        "bundle": str(baseline.path),
        "checkpoint": str(checkpoint) if checkpoint else None,
    }


def progress_line(scenario: Scenario) -> str:
    latency = scenario.latency
    batch = f"batch {scenario.mean_batch_size:5.2f}" if scenario.mean_batch_size is not None else "batch   –  "
    errors = f"  ERRORS {scenario.errors}: {scenario.error_examples[:1]}" if scenario.errors else ""
    return (
        f"  {decoding_label(scenario.beam_size):>7} {scenario.clients:>3} clients  {SYSTEM_LABELS[scenario.system]:<19}"
        f"{scenario.sentences_per_second:8.1f} sent/s {scenario.target_words_per_second:8.0f} words/s  "
        f"p50 {latency.p50:7.1f}  p95 {latency.p95:7.1f}  p99 {latency.p99:7.1f} ms  {batch}{errors}"
    )


def bundle_summary(bundle: BundleInfo) -> dict[str, Any]:
    manifest = bundle.manifest
    return {
        "name": bundle.name,
        "path": str(bundle.path),
        "version": manifest.get("version"),
        "quantization": bundle.quantization,
        "parameters": (manifest.get("model") or {}).get("parameters"),
        "sizes": {k: v for k, v in (manifest.get("model") or {}).items() if k != "parameters"},
        "metrics": manifest.get("metrics") or {},
    }


def heed_settings() -> dict[str, Any]:
    """The serving settings the heed servers run with (their defaults unless HEED_* variables change them)."""
    from service.app.settings import Settings

    wanted = ("workers", "batch_window_ms", "max_batch_size", "batch_workers", "intra_op_threads", "inter_op_threads")
    try:
        settings = Settings()
    except ValueError as error:  # the servers would refuse to start with the same message
        return {"error": str(error)}
    return {name: getattr(settings, name) for name in wanted if hasattr(settings, name)}


def version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def host_name() -> str:
    name = socket.gethostname().split(".")[0] or "host"
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def machine(load_start: tuple[float, float, float]) -> dict[str, Any]:
    packages = ("numpy", "onnxruntime", "torch", "sentencepiece", "fastapi", "uvicorn", "httpx")
    return {
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "memory_bytes": _memory_bytes(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "packages": {package: version(package) for package in packages},
        "load_average_start": [round(value, 2) for value in load_start],
        "load_average_end": [round(value, 2) for value in os.getloadavg()],
    }


def git_state() -> dict[str, Any]:
    def git(*arguments: str) -> str | None:
        try:
            done = subprocess.run(["git", *arguments], cwd=REPO, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    status = git("status", "--porcelain")
    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(status) if status is not None else None}


def plan_with(plan: Plan, **changes: Any) -> Plan:
    given = {key: value for key, value in changes.items() if value is not None}
    return replace(plan, mode=plan.mode if not given else f"{plan.mode}, adjusted", **given)


def command_line() -> str:
    return " ".join(["python -m bench", *sys.argv[1:]])


def elapsed_since(started: float) -> str:
    return f"{time.perf_counter() - started:.0f} s"
