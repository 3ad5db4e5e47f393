"""Choose a bundle's length penalty on a validation set, and record it as the bundle's decoding default.

    python -m export.tune --bundle artifacts/en-de \\
        --set val=../shared/data/multi30k/raw/val.en.gz,../shared/data/multi30k/raw/val.de.gz \\
        [--length-penalties 0.6,0.8,1.0,1.2,1.4] [--beam-size N] [--write]

Translates the set with the serving runtime once per length penalty (beam search at the bundle's
default beam size unless --beam-size says otherwise), prints both BLEU scores of each, and picks the
best comparable BLEU; a tie goes to the penalty nearest 1.0. With --write the choice becomes the
bundle's `decoding.length_penalty`, which every translation the service makes uses, and the whole
sweep is kept under `decoding_tuning` in manifest.json. Tune on validation data only; report the
test set afterwards with `python -m export.report`, whose scores then use the chosen penalty.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from export.errors import ExportError
from export.manifest import read_manifest, verify_files, write_manifest
from export.report import parse_set, report_set
from model.cli import OneLineParser, UsageError
from service.runtime import BundleError, Translator

DEFAULT_PENALTIES = (0.6, 0.8, 1.0, 1.2, 1.4)


@dataclass(frozen=True)
class SweepPoint:
    length_penalty: float
    cased_bleu: float
    comparable_bleu: float


def penalties(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise UsageError(f"--length-penalties takes comma-separated numbers, got {text!r}") from None
    if not values or any(not 0.0 <= value <= 3.0 for value in values):
        raise UsageError(f"--length-penalties must be numbers in [0, 3], got {text!r}")
    return values


def sweep(
    translator: Translator, name: str, src: str, ref: str, beam_size: int, values: Sequence[float]
) -> list[SweepPoint]:
    points = []
    for value in values:
        translator.length_penalty = value
        report = report_set(translator, name, src, ref, beam_size)
        points.append(SweepPoint(value, report.cased_bleu, report.comparable_bleu))
    return points


def best_point(points: Sequence[SweepPoint]) -> SweepPoint:
    return max(points, key=lambda p: (round(p.comparable_bleu, 2), -abs(p.length_penalty - 1.0)))


def record_choice(bundle: Path, set_name: str, beam_size: int, points: Sequence[SweepPoint]) -> None:
    manifest = read_manifest(bundle)
    verify_files(bundle, manifest)
    chosen = best_point(points)
    manifest["decoding"]["length_penalty"] = chosen.length_penalty
    manifest["decoding_tuning"] = {
        "set": set_name,
        "beam_size": beam_size,
        "chosen_length_penalty": chosen.length_penalty,
        "comparable_bleu": {f"{p.length_penalty:g}": round(p.comparable_bleu, 2) for p in points},
        "cased_bleu": {f"{p.length_penalty:g}": round(p.cased_bleu, 2) for p in points},
    }
    write_manifest(bundle, manifest)


def main(argv: Sequence[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m export.tune", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--bundle", required=True, type=Path, help="bundle folder, e.g. artifacts/en-de")
    parser.add_argument("--set", required=True, help="the validation set, NAME=SOURCE,REFERENCE")
    parser.add_argument("--length-penalties", default=",".join(map(str, DEFAULT_PENALTIES)))
    parser.add_argument("--beam-size", type=int, default=None, help="default: the bundle's")
    parser.add_argument("--write", action="store_true", help="record the best penalty in the bundle's manifest")
    try:
        args = parser.parse_args(argv)
        values = penalties(args.length_penalties)
        translator = Translator.load(args.bundle)
        beam_size = args.beam_size or translator.default_beam_size
        name, src, ref = parse_set(args.set)
        points = sweep(translator, name, src, ref, beam_size, values)
        if args.write:
            record_choice(args.bundle, name, beam_size, points)
    except (ExportError, BundleError, UsageError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for point in points:
        print(json.dumps({"set": name, "beam_size": beam_size, **point.__dict__}))
    chosen = best_point(points)
    print(f"best on {name}: length_penalty {chosen.length_penalty:g} ({'written' if args.write else 'not written'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
