"""Rewrite a bundle whose activations are quantized at run time as a weight-only int8 bundle, in place.

    python -m export.upgrade --bundle artifacts/en-de

The int8 weights stay exactly as they are; only the run-time quantization of activations goes (see
export/quantize.py for why). The old metrics move to "upgraded_from"; score the bundle again with
`python -m export.report`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from export.bundle import upgrade_bundle
from export.errors import ExportError
from model.cli import OneLineParser, UsageError
from service.runtime import BundleError


def main(argv: Sequence[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m export.upgrade", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", required=True, help="bundle folder, e.g. artifacts/en-de")
    parser.add_argument("--min-agreement", type=float, default=0.9, help="greedy agreement with the old graphs")
    try:
        args = parser.parse_args(argv)
        upgraded = upgrade_bundle(args.bundle, min_agreement=args.min_agreement, progress=print)
    except (ExportError, BundleError, UsageError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    agreement = upgraded.agreement
    assert agreement is not None  # upgrade_bundle always compares
    print(f"{upgraded.path}: {upgraded.manifest['version']} (int8-weights); {agreement.summary()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
