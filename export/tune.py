"""Choose a bundle's beam size and length penalty on a validation set, and record them as its decoding defaults.

    python -m export.tune --bundle artifacts/en-de \\
        --set val=../shared/data/multi30k/raw/val.en.gz,../shared/data/multi30k/raw/val.de.gz \\
        [--length-penalties 0.6,0.8,1.0,1.2,1.4] [--beam-sizes 4,8] [--write]

Translates the set with the serving runtime once per (beam size, length penalty) pair (by default the
bundle's beam size only), prints both BLEU scores of each, and picks the best comparable BLEU (a tie goes
to the penalty nearest 1.0); a wider beam is chosen only when it adds at least --min-gain BLEU (0.2),
since it costs decoding time. With --write the choice becomes the bundle's `decoding.beam_size` and
`decoding.length_penalty` (what the service uses when a request names no beam, and for every
translation, respectively), and the whole sweep is kept under `decoding_tuning` in manifest.json. Tune on
validation data only; report the test set afterwards with `python -m export.report`, whose scores then
use the chosen settings.
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
from service.runtime import MAX_BEAM_SIZE, BundleError, Translator

DEFAULT_PENALTIES = (0.6, 0.8, 1.0, 1.2, 1.4)


@dataclass(frozen=True)
class SweepPoint:
    beam_size: int
    length_penalty: float
    cased_bleu: float
    comparable_bleu: float


def beam_sizes(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise UsageError(f"--beam-sizes takes comma-separated whole numbers, got {text!r}") from None
    if not values or any(not 1 <= value <= MAX_BEAM_SIZE for value in values):
        raise UsageError(f"--beam-sizes must be whole numbers from 1 to {MAX_BEAM_SIZE}, got {text!r}")
    return values


def penalties(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise UsageError(f"--length-penalties takes comma-separated numbers, got {text!r}") from None
    if not values or any(not 0.0 <= value <= 3.0 for value in values):
        raise UsageError(f"--length-penalties must be numbers in [0, 3], got {text!r}")
    return values


def sweep(
    translator: Translator, name: str, src: str, ref: str, beams: Sequence[int], values: Sequence[float]
) -> list[SweepPoint]:
    points = []
    for beam_size in beams:
        for value in values:
            translator.length_penalty = value
            report = report_set(translator, name, src, ref, beam_size)
            points.append(SweepPoint(beam_size, value, report.cased_bleu, report.comparable_bleu))
    return points


def best_point(points: Sequence[SweepPoint], min_gain: float = 0.0) -> SweepPoint:
    """The best comparable BLEU, ties to the penalty nearest 1.0; a wider beam costs decoding time, so it is
    chosen only when it beats the best narrower one by at least `min_gain` BLEU."""
    chosen: SweepPoint | None = None
    for beam in sorted({p.beam_size for p in points}):
        best = max(
            (p for p in points if p.beam_size == beam),
            key=lambda p: (round(p.comparable_bleu, 2), -abs(p.length_penalty - 1.0)),
        )
        if chosen is None or round(best.comparable_bleu - chosen.comparable_bleu, 2) >= max(min_gain, 0.01):
            chosen = best
    assert chosen is not None, "a sweep has at least one point"
    return chosen


def record_choice(bundle: Path, set_name: str, points: Sequence[SweepPoint], min_gain: float) -> None:
    manifest = read_manifest(bundle)
    verify_files(bundle, manifest)
    chosen = best_point(points, min_gain)
    manifest["decoding"]["beam_size"] = chosen.beam_size
    manifest["decoding"]["length_penalty"] = chosen.length_penalty
    manifest["decoding_tuning"] = {
        "set": set_name,
        "chosen": {"beam_size": chosen.beam_size, "length_penalty": chosen.length_penalty},
        "min_gain_for_a_wider_beam": min_gain,
        "tried": [
            {"beam_size": p.beam_size, "length_penalty": p.length_penalty,
             "cased_bleu": round(p.cased_bleu, 2), "comparable_bleu": round(p.comparable_bleu, 2)}
            for p in points
        ],
    }  # fmt: skip
    write_manifest(bundle, manifest)


def main(argv: Sequence[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m export.tune", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--bundle", required=True, type=Path, help="bundle folder, e.g. artifacts/en-de")
    parser.add_argument("--set", required=True, help="the validation set, NAME=SOURCE,REFERENCE")
    parser.add_argument("--length-penalties", default=",".join(map(str, DEFAULT_PENALTIES)))
    parser.add_argument("--beam-sizes", default=None, help="comma-separated; default: the bundle's beam size")
    parser.add_argument(
        "--min-gain", type=float, default=0.2, help="BLEU a wider beam must add to be chosen (default 0.2)"
    )
    parser.add_argument("--write", action="store_true", help="record the best penalty in the bundle's manifest")
    try:
        args = parser.parse_args(argv)
        values = penalties(args.length_penalties)
        translator = Translator.load(args.bundle)
        beams = beam_sizes(args.beam_sizes) if args.beam_sizes else (translator.default_beam_size,)
        name, src, ref = parse_set(args.set)
        points = sweep(translator, name, src, ref, beams, values)
        if args.write:
            record_choice(args.bundle, name, points, args.min_gain)
    except (ExportError, BundleError, UsageError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for point in points:
        print(json.dumps({"set": name, **point.__dict__}))
    chosen = best_point(points, args.min_gain)
    written = "written" if args.write else "not written"
    print(f"best on {name}: beam_size {chosen.beam_size}, length_penalty {chosen.length_penalty:g} ({written})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
