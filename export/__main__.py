"""Export a checkpoint to a checked, self-describing ONNX bundle.

    python -m export --checkpoint runs/en-de/best.pt --out artifacts/en-de \\
        [--precision {float32,int8} | --quantize int8] [--valid-src val.en.gz --valid-tgt val.de.gz] \\
        [--check-src FILE] [--check-limit N] [--min-int8-agreement R] [--opset N] [--force]

Writes the float32 bundle at --out. With --quantize int8 it also writes the int8 bundle beside it,
at <out>-int8 (e.g. artifacts/en-de-int8, manifest name "en-de-int8", "quantization": "int8-weights"),
quantized from the float32 graphs just exported.

With --precision int8 (default float32) it writes only the int8 bundle, at --out under the plain
name (e.g. artifacts/en-de, manifest name "en-de", "quantization": "int8-weights"). The float32 bundle is
exported and checked against PyTorch as always, but in a hidden staging folder beside --out that
is never published and is removed afterwards, also on failure. The int8 manifest's
"quantized_from" records the float32 bundle it came from: its name and version, its parity with
PyTorch and the int8-vs-float32 greedy agreement. --precision int8 and --quantize do not go together.

Given --valid-src/--valid-tgt, it prints the greedy BLEU of each bundle decoded by ONNX Runtime
(model.evaluate.score) and, with --quantize or --precision int8, the change from float32 to int8,
which it also records as the int8 bundle's "val" metrics.

Before a bundle is put in place it is checked: float32 graphs must match PyTorch within 1e-4
(log-probabilities, attention, states; greedy outputs identical) on --check-src, else the
checkpoint's validation source, else built-in sentences; int8 greedy outputs must equal the
float32 ones on at least --min-int8-agreement of those sentences. Any failure prints one line
and exits non-zero: 2 for unusable input, 1 when the export or its checks fail.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from export.defaults import DEFAULT_CHECK_LIMIT, DEFAULT_MIN_INT8_AGREEMENT, DEFAULT_OPSET, SUPPORTED_OPSETS
from export.errors import ExportError, ExportInputError
from model.cli import OneLineParser, UsageError

if TYPE_CHECKING:
    from export.bundle import ExportedBundle


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="python -m export", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, type=Path, help="a heed checkpoint, e.g. runs/en-de/best.pt")
    parser.add_argument("--out", required=True, type=Path, help="bundle folder to write, e.g. artifacts/en-de")
    parser.add_argument(
        "--precision",
        choices=("float32", "int8"),
        default="float32",
        help="precision of the bundle at --out; int8 writes only the int8 bundle (float32 checked, not kept)",
    )
    parser.add_argument("--quantize", choices=("int8",), help="also write an int8 bundle at <out>-int8")
    parser.add_argument("--check-src", type=Path, help="source sentences for the self-check, one per line")
    parser.add_argument("--check-limit", type=int, default=DEFAULT_CHECK_LIMIT, help="sentences checked at most")
    parser.add_argument("--valid-src", type=Path, help="source side of a set to report greedy BLEU on")
    parser.add_argument("--valid-tgt", type=Path, help="reference side of that set")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset (14-20)")
    parser.add_argument(
        "--min-int8-agreement",
        type=float,
        default=DEFAULT_MIN_INT8_AGREEMENT,
        help="share of check sentences whose int8 greedy output must equal the float32 one",
    )
    parser.add_argument("--force", action="store_true", help="replace existing bundles at the destination")
    return parser


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    args = build_parser().parse_args(argv)
    if args.precision == "int8" and args.quantize is not None:
        raise UsageError("--precision int8 writes only the int8 bundle; leave out --quantize")
    if (args.valid_src is None) != (args.valid_tgt is None):
        raise UsageError("--valid-src and --valid-tgt go together")
    if args.opset not in SUPPORTED_OPSETS:
        raise UsageError(f"--opset must be {SUPPORTED_OPSETS[0]}-{SUPPORTED_OPSETS[-1]}, got {args.opset}")
    if args.check_limit < 1:
        raise UsageError("--check-limit must be at least 1")
    if not 0.0 <= args.min_int8_agreement <= 1.0:
        raise UsageError("--min-int8-agreement must be between 0 and 1")
    return args


def progress(message: str) -> None:
    print(f"export: {message}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> None:
    if not args.checkpoint.is_file():
        raise ExportInputError(f"{args.checkpoint}: no such checkpoint")
    for path in (args.check_src, args.valid_src, args.valid_tgt):
        if path is not None and not path.is_file():
            raise ExportInputError(f"{path}: no such file")

    from export.bundle import check_destination, int8_bundle_path

    check_destination(args.out, args.force)
    if args.quantize == "int8":
        check_destination(int8_bundle_path(args.out), args.force)  # before any work, not after the float export
    with ExitStack() as stack:  # an unpublished float32 bundle lives until its BLEU is scored
        fp32, int8 = _export(args, stack)
        if args.valid_src is not None:
            _score(args, fp32, int8)


def _export(args: argparse.Namespace, stack: ExitStack) -> tuple[ExportedBundle, ExportedBundle | None]:
    from export.bundle import export_bundle, quantize_bundle, unpublished_destination

    graphs = {"opset": args.opset, "check_src": args.check_src, "check_limit": args.check_limit}
    if args.precision == "int8":
        staged = stack.enter_context(unpublished_destination(args.out))
        fp32 = export_bundle(args.checkpoint, staged, **graphs, progress=progress)
        print(f"checked float32 {fp32.manifest['name']} {fp32.manifest['version']} (staged, not published)")
    else:
        fp32 = export_bundle(args.checkpoint, args.out, **graphs, force=args.force, progress=progress)
        print(f"wrote {fp32.path} ({fp32.manifest['name']} {fp32.manifest['version']})")
    print(f"  parity with PyTorch: {fp32.parity.describe() if fp32.parity else 'not checked'}")
    if args.precision != "int8" and args.quantize != "int8":
        return fp32, None
    int8 = quantize_bundle(
        fp32.path,
        args.out if args.precision == "int8" else None,
        name=fp32.manifest["name"] if args.precision == "int8" else None,
        sentences=fp32.sentences,
        min_agreement=args.min_int8_agreement,
        parity=fp32.parity,
        force=args.force,
        progress=progress,
    )
    print(f"wrote {int8.path} ({int8.manifest['name']} {int8.manifest['version']}, int8)")
    print(f"  int8 vs float32: {int8.agreement.describe() if int8.agreement else 'not checked'}")
    return fp32, int8


def _score(args: argparse.Namespace, fp32: ExportedBundle, int8: ExportedBundle | None) -> None:
    from export.bundle import score_bundle
    from export.manifest import update_metrics

    progress(f"scoring greedy ONNX Runtime translations of {args.valid_src}")
    fp32_scores = score_bundle(fp32.path, args.valid_src, args.valid_tgt)
    print(f"  float32 BLEU: {fp32_scores.describe()}")
    if int8 is None:
        return
    int8_scores = score_bundle(int8.path, args.valid_src, args.valid_tgt)
    print(f"  int8 BLEU:    {int8_scores.describe()}")
    print(
        f"  BLEU change (int8 - float32): cased {int8_scores.cased_bleu - fp32_scores.cased_bleu:+.2f}"
        f" | comparable {int8_scores.comparable_bleu - fp32_scores.comparable_bleu:+.2f}"
    )
    update_metrics(
        int8.path,
        {"val": {"cased_bleu": int8_scores.cased_bleu, "comparable_bleu": int8_scores.comparable_bleu}},
    )


def main(argv: Sequence[str] | None = None) -> int:
    try:
        run(parse_args(argv))
        return 0
    except UsageError as error:
        message, code = f"{error} (see python -m export --help)", 2
    except ExportInputError as error:
        message, code = str(error), 2
    except ExportError as error:
        message, code = f"{type(error).__name__}: {error}", 1
    except KeyboardInterrupt:
        message, code = "interrupted; nothing was published", 130
    except Exception as error:  # the CLI promises one line, never a traceback
        message, code = f"unexpected {type(error).__name__}: {error}", 1
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
