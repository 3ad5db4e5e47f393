"""Scenario results, the ratios between systems, the issue's targets, and the JSON and Markdown reports."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.runtime_only import RUNTIME_PARTS
from bench.stats import LatencySummary, finite_or_none, ratio, rounded

HEED = "heed"
HEED_UNBATCHED = "heed-unbatched"
PYTORCH = "pytorch"
SYSTEM_LABELS = {HEED: "heed, batching on", HEED_UNBATCHED: "heed, batching off", PYTORCH: "PyTorch eager"}
MB = 1_000_000  # the RSS target is in decimal megabytes


def decoding_label(beam_size: int) -> str:
    return "greedy" if beam_size == 1 else f"beam {beam_size}"


@dataclass(frozen=True)
class Scenario:
    """One system under one load: `clients` closed-loop clients at `beam_size`, over `window_seconds`."""

    system: str
    beam_size: int
    clients: int
    window_seconds: float
    requests: int  # answered 200 inside the window
    errors: int
    target_words: int
    target_tokens: int
    latency: LatencySummary
    mean_batch_size: float | None = None  # from heed's heed_batch_size histogram; None where not measured
    server_cpu_seconds: float | None = None
    client_cpu_seconds: float | None = None
    useful_flops: float | None = None
    error_examples: list[str] = field(default_factory=list)

    @property
    def sentences_per_second(self) -> float:
        return self.requests / self.window_seconds if self.window_seconds > 0 else math.nan

    @property
    def target_words_per_second(self) -> float:
        return self.target_words / self.window_seconds if self.window_seconds > 0 else math.nan

    @property
    def target_tokens_per_second(self) -> float:
        return self.target_tokens / self.window_seconds if self.window_seconds > 0 else math.nan

    def per_window(self, value: float | None) -> float | None:
        return value / self.window_seconds if value is not None and self.window_seconds > 0 else None

    def to_json(self, attainable_flops: float | None = None) -> dict[str, Any]:
        achieved = self.per_window(self.useful_flops)
        return {
            "system": self.system,
            "decoding": decoding_label(self.beam_size),
            "beam_size": self.beam_size,
            "clients": self.clients,
            "window_seconds": self.window_seconds,
            "requests": self.requests,
            "errors": self.errors,
            "error_examples": self.error_examples,
            "sentences_per_second": finite_or_none(self.sentences_per_second),
            "target_words_per_second": finite_or_none(self.target_words_per_second),
            "target_tokens_per_second": finite_or_none(self.target_tokens_per_second),
            "latency_ms": self.latency.to_json(),
            "mean_batch_size": self.mean_batch_size,
            "server_cpu_cores": self.per_window(self.server_cpu_seconds),
            "sentences_per_server_cpu_second": ratio(float(self.requests), self.server_cpu_seconds),
            "client_cpu_cores": self.per_window(self.client_cpu_seconds),
            "useful_flops_per_second": achieved,
            "fraction_of_attainable": ratio(achieved, attainable_flops),
        }


def find(scenarios: Sequence[Scenario], system: str, beam_size: int, clients: int) -> Scenario | None:
    for scenario in scenarios:
        if (scenario.system, scenario.beam_size, scenario.clients) == (system, beam_size, clients):
            return scenario
    return None


def throughput(scenarios: Sequence[Scenario], system: str, beam_size: int, clients: int) -> float | None:
    scenario = find(scenarios, system, beam_size, clients)
    return finite_or_none(scenario.sentences_per_second) if scenario and scenario.requests else None


def ratios(scenarios: Sequence[Scenario]) -> list[dict[str, Any]]:
    """heed ÷ PyTorch and batched ÷ unbatched throughput (sentences/s) at every measured load."""
    loads = sorted({(scenario.beam_size, scenario.clients) for scenario in scenarios})
    rows = []
    for beam_size, clients in loads:
        heed = throughput(scenarios, HEED, beam_size, clients)
        rows.append(
            {
                "decoding": decoding_label(beam_size),
                "beam_size": beam_size,
                "clients": clients,
                "heed_over_pytorch": ratio(heed, throughput(scenarios, PYTORCH, beam_size, clients)),
                "batched_over_unbatched": ratio(heed, throughput(scenarios, HEED_UNBATCHED, beam_size, clients)),
            }
        )
    return rows


@dataclass(frozen=True)
class Target:
    name: str
    comparison: str  # ">=" or "<="
    threshold: float
    unit: str
    measured: float | None
    note: str = ""

    @property
    def passed(self) -> bool | None:
        if self.measured is None or not math.isfinite(self.measured):
            return None
        if self.comparison == ">=":
            return self.measured >= self.threshold
        return self.measured <= self.threshold

    @property
    def status(self) -> str:
        return {True: "PASS", False: "FAIL", None: "NOT MEASURED"}[self.passed]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "comparison": self.comparison,
            "threshold": self.threshold,
            "unit": self.unit,
            "measured": finite_or_none(self.measured),
            "status": self.status,
            "note": self.note,
        }


def _ratio_at(scenarios: Sequence[Scenario], over: str, beam_size: int, clients: int) -> float | None:
    return ratio(throughput(scenarios, HEED, beam_size, clients), throughput(scenarios, over, beam_size, clients))


def _latency_at(scenarios: Sequence[Scenario], beam_size: int, which: str) -> float | None:
    scenario = find(scenarios, HEED, beam_size, 1)
    return finite_or_none(getattr(scenario.latency, which)) if scenario else None


def check_targets(
    scenarios: Sequence[Scenario],
    startup_seconds: float | None,
    peak_rss_bytes: int | None,
    rss_note: str = "",
) -> list[Target]:
    """Issue 7's targets, each with the value measured in this run (None where the run did not measure it)."""
    targets = []
    for beam_size in (1, 4):
        name = f"batched ÷ unbatched throughput, 32 clients, {decoding_label(beam_size)}"
        targets.append(Target(name, ">=", 4.0, "x", _ratio_at(scenarios, HEED_UNBATCHED, beam_size, 32)))
    for clients, minimum in ((32, 3.0), (1, 1.5)):
        for beam_size in (1, 4):
            load = f"{clients} client{'s' if clients > 1 else ''}, {decoding_label(beam_size)}"
            measured = _ratio_at(scenarios, PYTORCH, beam_size, clients)
            targets.append(Target(f"heed ÷ PyTorch throughput, {load}", ">=", minimum, "x", measured))
    targets.append(Target("latency p50, 1 client, beam 4", "<=", 15.0, "ms", _latency_at(scenarios, 4, "p50")))
    targets.append(Target("latency p99, 1 client, beam 4", "<=", 50.0, "ms", _latency_at(scenarios, 4, "p99")))
    greedy_32 = find(scenarios, HEED, 1, 32)
    words = finite_or_none(greedy_32.target_words_per_second) if greedy_32 else None
    targets.append(Target("target words/s, 32 clients, greedy", ">=", 1600.0, "words/s", words))
    rss = peak_rss_bytes / MB if peak_rss_bytes else None
    targets.append(Target("server peak RSS, both bundles loaded", "<=", 300.0, "MB", rss, rss_note))
    targets.append(Target("process start to /readyz 200", "<=", 3.0, "s", startup_seconds))
    return targets


# -- rendering ------------------------------------------------------------------------------------------------------


def _number(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


SCENARIO_COLUMNS = [
    "system", "decoding", "clients", "sentences/s", "target words/s", "p50 ms", "p95 ms", "p99 ms", "mean batch",
    "server cores", "% of attainable FLOP/s", "requests", "errors",
]  # fmt: skip


def _percent(fraction: float | None) -> str:
    return _number(fraction * 100 if fraction is not None else None, 2)


def scenario_rows(report: dict[str, Any]) -> list[list[str]]:
    rows = []
    for s in report["scenarios"]:
        latency = s["latency_ms"]
        rows.append([
            SYSTEM_LABELS.get(s["system"], s["system"]), s["decoding"], str(s["clients"]),
            _number(s["sentences_per_second"]), _number(s["target_words_per_second"], 0),
            _number(latency["p50"]), _number(latency["p95"]), _number(latency["p99"]),
            _number(s["mean_batch_size"], 2), _number(s["server_cpu_cores"], 2), _percent(s["fraction_of_attainable"]),
            _number(s["requests"]), _number(s["errors"]),
        ])  # fmt: skip
    return rows


def _header(report: dict[str, Any]) -> list[str]:
    machine, model, plan = report["machine"], report["model"], report["plan"]
    memory = _number(machine["memory_bytes"] / 2**30 if machine["memory_bytes"] else None)
    return [
        f"# heed benchmark: {report['date']} on {report['host']}",
        "",
        f"Command: `{report['command']}` ({report['mode']}: {plan['warmup_seconds']:g} s warm-up, "
        f"{plan['duration_seconds']:g} s measured per scenario)",
        "",
        f"Machine: {machine['cpu']}, {machine['cpus_usable']} usable cores of {machine['cpus']}, {memory} GiB RAM; "
        f"load average {machine['load_average_start']} at start, {machine['load_average_end']} at end.",
        "",
        f"Model: {model['name']} {model['version']} ({model['quantization'] or 'float32'}, "
        f"{_number(model['parameters'])} parameters).",
        "",
        f"Baseline: {report['baseline']['description']}.",
        "",
        f"Client: {report['client']}",
        "",
        f"heed settings: {_settings(report)}",
        "",
    ]


def _settings(report: dict[str, Any]) -> str:
    settings = ", ".join(f"{key} {value}" for key, value in (report.get("heed_settings") or {}).items())
    environment = ", ".join(f"{key}={value}" for key, value in (report.get("environment") or {}).items())
    return settings + (f" (from the environment: {environment})" if environment else " (the defaults)")


def _throughput(report: dict[str, Any]) -> list[str]:
    client_cores = [s["client_cpu_cores"] for s in report["scenarios"] if s["client_cpu_cores"] is not None]
    note = f"The load generator used at most {max(client_cores):.2f} cores." if client_cores else ""
    return ["## Throughput and latency", "", *_table(SCENARIO_COLUMNS, scenario_rows(report)), "", note, ""]


def _ratios(report: dict[str, Any]) -> list[str]:
    rows = [
        [r["decoding"], str(r["clients"]), _number(r["heed_over_pytorch"], 2), _number(r["batched_over_unbatched"], 2)]
        for r in report["ratios"]
    ]
    header = ["decoding", "clients", "heed ÷ PyTorch", "batched ÷ unbatched"]
    return ["## Ratios (throughput, sentences/s)", "", *_table(header, rows), ""]


def _runtime_only(report: dict[str, Any]) -> list[str]:
    runtime = report.get("runtime_only")
    if not runtime:
        return []
    gains = {(g["beam_size"], g["batch_size"]): g for g in runtime["batching_gain"]}
    rows = []
    for timing in runtime["timings"]:
        gain = gains.get((timing["beam_size"], timing["batch_size"]), {})
        parts, part_gains = timing.get("parts", {}), gain.get("parts", {})
        rows.append([
            decoding_label(timing["beam_size"]),
            str(timing["batch_size"]),
            _number(timing["ms_per_sentence"], 2),
            *(_number(parts.get(name), 2) for name in RUNTIME_PARTS),
            _number(gain.get("ratio"), 2),
            *(_number(part_gains.get(name), 2) for name in RUNTIME_PARTS),
        ])  # fmt: skip
    header = ["decoding", "batch", "ms per sentence", *(f"{name} ms" for name in RUNTIME_PARTS)]
    header += ["batch 1 ÷ this batch", *(f"{name} gain" for name in RUNTIME_PARTS)]
    note = (
        f'{runtime["sentences"]} sentences; {runtime["note"]}. "encoder" and "decoder" are the time inside '
        'each ONNX Runtime graph, "python" the rest (search bookkeeping, tokenizing, alignment). '
        '"batch 1 ÷ this batch" is what batching gains in the runtime itself, the reference for batched ÷ '
        "unbatched: per-request costs outside the runtime (HTTP, JSON, the store) are the same in both modes and "
        "pull the served ratio toward 1, while the unbatched server's parallel batch-1 decodes contend for the "
        "cores and can push it a little above."
    )
    return ["## The runtime alone (no HTTP)", "", *_table(header, rows), "", note, ""]


def _cost(report: dict[str, Any]) -> list[str]:
    cost = report["cost"]
    side = cost["matmul_size"]
    return [
        "## Cost per token",
        "",
        f"- FLOPs per target token: {_number(cost['decoder_flops_per_target_token'], 0)} for one decoder step at the "
        f"mean source length ({cost['mean_source_tokens']:.1f} tokens); "
        f"{_number(cost['model_flops_per_target_token'], 0)} with the encoder's share",
        f"- attainable: {_number(cost['attainable_flops_per_second'] / 1e9, 1)} GFLOP/s "
        f"(float32 {side}x{side} numpy matmul, best of {cost['matmul_repeats']})",
        f'- achieved ÷ attainable: the column "% of attainable FLOP/s" above ({cost["note"]})',
        "",
    ]


def _memory(report: dict[str, Any]) -> list[str]:
    startup, memory = report["startup"], report["memory"]
    samples = ", ".join(f"{value:.2f}" for value in startup["seconds_to_ready"])
    lines = ["## Memory and start-up", "", f"- heed, process start to /readyz 200: {samples} s"]
    lines.append(f"- heed RSS when ready: {_number(startup['ready_rss_bytes'] / MB)} MB")
    for system, usage in memory.items():
        lines.append(
            f"- {SYSTEM_LABELS.get(system, system)}: peak RSS {_number(usage['peak_rss_bytes'] / MB)} MB, "
            f"{_number(usage['rss_bytes'] / MB)} MB at the end"
        )
    served = ", ".join(bundle["name"] for bundle in report["served_bundles"])
    return [*lines, f"- bundles served by heed: {served}", ""]


def _targets(report: dict[str, Any]) -> list[str]:
    rows = [
        [
            t["name"],
            f"{'≥' if t['comparison'] == '>=' else '≤'} {t['threshold']:g} {t['unit']}",
            f"{_number(t['measured'], 2)} {t['unit']}" + (f" ({t['note']})" if t["note"] else ""),
            t["status"],
        ]
        for t in report["targets"]
    ]
    return ["## Targets", "", *_table(["target", "threshold", "measured", "result"], rows), ""]


def _agreement(report: dict[str, Any]) -> list[str]:
    lines = [
        f"- {a['decoding']}: heed and PyTorch translated {a['identical']} of {a['sentences']} sentences identically"
        for a in report.get("agreement") or []
    ]
    weights = str((report.get("baseline") or {}).get("weights") or "")
    if lines and "dequantized" in weights:
        lines.append(
            f"- the baseline's weights were dequantized from an int8 bundle ({weights}): both systems compute with "
            "the same weights, but heed also quantizes activations, so a translation can differ where two tokens "
            "score alike"
        )
    return ["## Same output", "", *lines, ""] if lines else []


DOCUMENT_COLUMNS = [
    "pair", "clients", "sent as", "sentences/s", "requests/s", "paragraph p50 ms", "p95", "p99", "request p50 ms",
    "p95", "p99", "mean batch", "paragraphs", "sentences", "requests", "errors",
]  # fmt: skip


def documents_section(documents: dict[str, Any] | None) -> list[str]:
    """The document workload's results (bench.documents); nothing when the run did not measure it."""
    if not documents or not documents.get("pairs"):
        return []
    rows, comparisons, notes = [], [], []
    for pair in documents["pairs"]:
        for r in pair["results"]:
            paragraph, request = r["paragraph_latency_ms"], r["request_latency_ms"]
            rows.append([
                pair["pair"], str(r["clients"]), r["mode"], _number(r["sentences_per_second"]),
                _number(r["requests_per_second"]), _number(paragraph["p50"]), _number(paragraph["p95"]),
                _number(paragraph["p99"]), _number(request["p50"]), _number(request["p95"]), _number(request["p99"]),
                _number(r["mean_batch_size"], 2), _number(r["paragraphs"]), _number(r["sentences"]),
                _number(r["requests"]), _number(r["errors"]),
            ])  # fmt: skip
        for c in pair["one_text_over_one_by_one"]:
            comparisons.append([
                pair["pair"], str(c["clients"]), _number(c["sentences_per_second"], 2),
                _number(c["paragraph_p50"], 2), _number(c["paragraph_p95"], 2), _number(c["paragraph_p99"], 2),
            ])  # fmt: skip
        decoded = ", ".join(f"{mode} {count:,}" for mode, count in pair["rows"].items())
        notes.append(
            f"- {pair['pair']} ({pair['bundle']}, beam {pair['beam_size']}): {pair['paragraphs']} paragraphs, "
            f"{pair['sentences']:,} sentences, {pair['rounds']} rounds; rows the server decoded: {decoded}"
        )
    return [
        "## Documents: paragraphs of 3-8 sentences",
        "",
        *_table(DOCUMENT_COLUMNS, rows),
        "",
        "One text ÷ one by one (throughput above 1 and paragraph latency below 1 favour one text):",
        "",
        *_table(["pair", "clients", "sentences/s", "paragraph p50", "p95", "p99"], comparisons),
        "",
        *notes,
        "",
        documents["definitions"],
        "",
    ]


def _documents(report: dict[str, Any]) -> list[str]:
    return documents_section(report.get("documents"))


def render_markdown(report: dict[str, Any]) -> str:
    sections = (_header, _throughput, _ratios, _documents, _runtime_only, _cost, _memory, _targets, _agreement)
    return "\n".join(line for section in sections for line in section(report))


def format_target(target: dict[str, Any]) -> str:
    sign = "≥" if target["comparison"] == ">=" else "≤"
    measured = _number(target["measured"], 2)
    note = f"  ({target['note']})" if target["note"] else ""
    return (
        f"{target['status']:>12}  {target['name']}: {measured} {target['unit']} (target {sign} "
        f"{target['threshold']:g}){note}"
    )


def write_reports(report: dict[str, Any], folder: Path, stem: str) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    json_path, markdown_path = folder / f"{stem}.json", folder / f"{stem}.md"
    json_path.write_text(json.dumps(rounded(report), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    markdown_path.write_text(render_markdown(report), encoding="utf-8")
    return json_path, markdown_path


def print_json_report(report: dict[str, Any], out: Path | None) -> None:
    """A tool's report as indented JSON on stdout, and in `out` too when given."""
    text = json.dumps(report, indent=2)
    print(text)
    if out is not None:
        out.write_text(text + "\n", encoding="utf-8")
