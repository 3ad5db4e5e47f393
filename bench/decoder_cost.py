"""What one decoder call costs, by its rows and the source they attend to: the constants of the cost model.

    python -m bench.decoder_cost --models-dir artifacts --model en-de [--captions FILE] [--prose FILE] [--out FILE]

Decodes, in this process on one thread, the workloads of bench.work_budget (a 5,000-character text of caption
sentences and one of dense prose at beams 1 and 4, number sequences of 255 pieces at beams 16, 4 and 1, words of
256 letters at beam 4) and times every call of the decoder graph (CPU seconds of this thread), with its rows and
its source width (the longest live source of the call, "</s>" included). Each workload runs `--repeats` times,
and each call keeps its fastest time (decoding is deterministic, so the calls are the same each time), so that a
burst of noise on a shared machine does not move the fit. A least-squares fit of

    seconds = per_call + rows x (per_row + width x per_row_piece)

gives the cost model's constants (service/app/cost.py): `source_pieces_per_row` = per_row / per_row_piece (a row
over that many source pieces costs twice one over none) and `call_cost_rows` = per_call / per_row (the graph call's
own cost, in rows; the model's STEP_COST_ROWS also covers the beam's bookkeeping in Python, which this leaves out).
Each workload's measured and fitted seconds close the report. Timings depend on the machine; the constants are
ratios, which move less.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.report import print_json_report
from bench.work_budget import ALIGNMENT_GOLD, LETTERS, NUMBERS, PROSE, caption_paragraphs, prose
from bench.workload import SHARED_RAW, read_sentences
from service.app.translation import sentence_rows
from service.runtime import Translator
from service.runtime.graphs import DecoderGraph, DecoderOutput

Call = tuple[int, int, float]  # rows, source width, CPU seconds


class TimedDecoder:
    """The translator's real decoder graph, recording every call's rows, width and CPU seconds (of the calling
    thread, so that other threads, such as numpy's OpenBLAS helpers, do not count)."""

    def __init__(self, decoder: DecoderGraph) -> None:
        self.decoder = decoder
        self.calls: list[Call] = []

    def run(self, *inputs: Any) -> DecoderOutput:
        started = time.thread_time()  # this thread's: ONNX Runtime runs the call here (one intra-op thread)
        out = self.decoder.run(*inputs)
        self.calls.append((len(inputs[0]), int(inputs[2].shape[1]), time.thread_time() - started))
        return out


def workloads(translator: Translator, captions: Path, prose_lines: Path) -> list[tuple[str, list[str], int]]:
    caption_rows = sentence_rows(translator, [caption_paragraphs(read_sentences(captions), 5000)])[0]
    prose_rows = sentence_rows(translator, [prose(read_sentences(prose_lines), 5000)])[0]
    return [
        ("captions", caption_rows, 1), ("captions", caption_rows, 4), ("dense prose", prose_rows, 1),
        ("dense prose", prose_rows, 4), ("numbers", [NUMBERS] * 4, 16), ("numbers", [NUMBERS] * 12, 4),
        ("numbers", [NUMBERS] * 25, 1), ("letters", [LETTERS] * 12, 4),
    ]  # fmt: skip


def fastest(runs: Sequence[Sequence[Call]]) -> list[Call]:
    """Each call's fastest time over runs of the same calls."""
    shapes = {tuple((rows, width) for rows, width, _ in calls) for calls in runs}
    if len(shapes) != 1:
        raise RuntimeError("the repeated runs made different decoder calls")
    return [(same[0][0], same[0][1], min(seconds for _, _, seconds in same)) for same in zip(*runs, strict=True)]


def fit(calls: Sequence[Call]) -> np.ndarray:
    """(per_call, per_row, per_row_piece) seconds, least squares over `calls`."""
    design = np.array([[1.0, rows, rows * width] for rows, width, _ in calls])
    seconds = np.array([spent for _, _, spent in calls])
    coefficients: np.ndarray = np.linalg.lstsq(design, seconds, rcond=None)[0]
    return coefficients


def _workload(name: str, beam: int, calls: Sequence[Call], fitted: Sequence[float]) -> dict[str, Any]:
    per_call, per_row, per_piece = fitted
    predicted = sum(per_call + rows * (per_row + width * per_piece) for rows, width, _ in calls)
    spent = sum(seconds for _, _, seconds in calls)
    return {"workload": name, "beam": beam, "calls": len(calls), "seconds": round(spent, 3),
            "fitted_seconds": round(predicted, 3)}  # fmt: skip


def run(options: argparse.Namespace) -> dict[str, Any]:
    translator = Translator.load(options.models_dir / options.model)
    timed = TimedDecoder(translator.decoder)
    translator.decoder = timed  # type: ignore[assignment]
    translator.translate_batch(["A dog runs."])  # warm-up
    captions = options.captions or SHARED_RAW / f"val.{translator.source_language}.gz"
    measured: list[tuple[str, int, list[Call]]] = []
    for name, rows, beam in workloads(translator, captions, options.prose or ALIGNMENT_GOLD / PROSE[options.model]):
        runs = []
        for _ in range(options.repeats):
            timed.calls = []
            translator.translate_batch(rows, beam_size=beam, max_length_cap=options.length_cap)
            runs.append(timed.calls)
        measured.append((name, beam, fastest(runs)))
    per_call, per_row, per_piece = fit([call for _, _, calls in measured for call in calls])
    return {
        "model": options.model,
        "calls": sum(len(calls) for _, _, calls in measured),
        "per_call_ms": round(per_call * 1e3, 3),
        "per_row_us": round(per_row * 1e6, 1),
        "per_row_piece_us": round(per_piece * 1e6, 3),
        "source_pieces_per_row": round(per_row / per_piece),
        "call_cost_rows": round(per_call / per_row, 1),
        "workloads": [_workload(name, beam, calls, (per_call, per_row, per_piece)) for name, beam, calls in measured],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.decoder_cost", description=__doc__.split("\n")[0])
    parser.add_argument("--models-dir", type=Path, default=Path("artifacts"))
    parser.add_argument("--model", default="en-de", choices=sorted(PROSE), help="language pair: SOURCE-TARGET")
    parser.add_argument("--captions", type=Path, default=None, help="caption sentences, one a line (default: val)")
    parser.add_argument("--prose", type=Path, default=None, help="prose sentences, one a line")
    parser.add_argument("--length-cap", type=int, default=256, help="the output length cap (HEED_OUTPUT_LENGTH_CAP)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each workload; each call keeps its fastest")
    parser.add_argument("--out", type=Path, default=None, help="write the report here as JSON")
    options = parser.parse_args(argv)
    print_json_report(run(options), options.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
