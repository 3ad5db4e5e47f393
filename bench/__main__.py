"""python -m bench [--quick | --full] [options]: see bench/__init__.py and `python -m bench --help`."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench.bundles import SelectionError
from bench.report import format_target, write_reports
from bench.runner import FULL, QUICK, Options, Run, command_line, elapsed_since, plan_with, say
from bench.servers import REPO, ServerError


def positive_ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}") from None
    if not values or any(value < 1 for value in values):
        raise argparse.ArgumentTypeError(f"expected whole numbers of at least 1, got {text!r}")
    return values


def whole_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {text!r}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("expected more than 0 seconds")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Throughput, latency and cost per token of heed's server against a PyTorch eager baseline.",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="short scenarios, under 3 minutes in all")
    mode.add_argument("--full", action="store_true", help="the full benchmark, under 20 minutes (the default)")
    parser.add_argument("--models-dir", type=Path, default=REPO / "artifacts", help="folder of bundles")
    parser.add_argument("--model", default="en-de", help="the bundle to benchmark (its folder name)")
    parser.add_argument("--duration", type=positive_float, help="measured seconds per scenario")
    parser.add_argument("--warmup", type=positive_float, help="unmeasured seconds before each scenario's window")
    parser.add_argument("--clients", type=positive_ints, help="concurrent client counts, e.g. 1,8,32,64")
    parser.add_argument("--beams", type=positive_ints, help="beam sizes, e.g. 1,4 (1 is greedy)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results", help="folder for the reports")
    parser.add_argument("--sentences", type=Path, help="source sentences (default: test_2016_flickr of the pair)")
    parser.add_argument("--checkpoint", type=Path, help="PyTorch baseline weights from this checkpoint")
    parser.add_argument("--matmul-size", type=int, help="side of the matrices measuring attainable FLOP/s")
    parser.add_argument("--agreement", type=int, help="sentences whose outputs are compared across systems")
    parser.add_argument(
        "--documents", type=whole_number, help="paragraphs per language pair for the document workload (0: skip it)"
    )
    parser.add_argument(
        "--document-clients", type=positive_ints, help="paragraphs in flight in the document workload, e.g. 1,8"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    base = QUICK if args.quick else FULL
    plan = plan_with(
        base,
        clients=args.clients,
        beams=args.beams,
        warmup=args.warmup,
        duration=args.duration,
        matmul_size=args.matmul_size,
        agreement_sentences=args.agreement,
        document_paragraphs=args.documents,
        document_clients=args.document_clients,
    )
    options = Options(plan, args.models_dir, args.model, args.out, command_line(), args.sentences, args.checkpoint)
    started = time.perf_counter()
    try:
        report = Run(options).execute()
    except (SelectionError, ServerError, OSError, ValueError) as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    stem = f"{report['date']}-{report['host']}" + ("-quick" if base is QUICK else "")
    json_path, markdown_path = write_reports(report, args.out, stem)
    say("\nratios (throughput, sentences/s):")
    for row in report["ratios"]:
        say(
            f"  {row['decoding']:>7} {row['clients']:>3} clients  heed ÷ PyTorch {_times(row['heed_over_pytorch'])}"
            f"  batched ÷ unbatched {_times(row['batched_over_unbatched'])}"
        )
    for pair in (report.get("documents") or {}).get("pairs", []):
        for row in pair["one_text_over_one_by_one"]:
            say(
                f"  documents {pair['pair']} {row['clients']:>3} clients  one text ÷ one by one "
                f"{_times(row['sentences_per_second'])}"
            )
    say("\ntargets:")
    for target in report["targets"]:
        say(format_target(target))
    say(f"\nwrote {json_path} and {markdown_path} ({elapsed_since(started)})")
    return 0


def _times(value: float | None) -> str:
    return f"{value:6.2f}x" if value is not None else "     – "


if __name__ == "__main__":
    raise SystemExit(main())
