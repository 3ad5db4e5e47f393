"""Translate stdin to stdout, one sentence per line, with a bundle from the models folder.

    python -m service translate --model en-de [--models-dir artifacts] [--beam-size N]
        [--batch-size N] [--n-best N] [--max-length N] [--format text|jsonl] [--threads N]

Output lines match input lines one for one, in order. `text` writes the translation; `jsonl` writes one
JSON object per line with the source, translation, score, subword tokens, attention matrix, Pharaoh
word alignment and, with --n-best above 1, the other hypotheses. A blank input line gives a blank
output line (text) or {"line": N, "source": "", "error": "empty line"} (jsonl).

From a terminal, each line is translated as soon as it is entered. From a pipe or file the whole
input is read first and translated in length-sorted batches; with more than PROGRESS_MIN_LINES lines
a progress bar goes to stderr. --models-dir defaults to $HEED_MODELS_DIR, else ./artifacts.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from service.runtime import MAX_BEAM_SIZE, MAX_OUTPUT_PIECES, BundleError, Translation, Translator

PROGRESS_MIN_LINES = 100
WINDOW_BATCHES = 8  # lines read ahead per translate_batch call, in batches, so length sorting has room to work
ATTENTION_DECIMALS = 6


class UsageError(Exception):
    """A bad command line, reported as one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive integer")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m service translate", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--model", required=True, help="bundle name, the folder under --models-dir (e.g. en-de)")
    parser.add_argument("--models-dir", type=Path, default=Path(os.environ.get("HEED_MODELS_DIR", "artifacts")))
    parser.add_argument("--beam-size", type=_positive, help=f"1-{MAX_BEAM_SIZE}; default: the bundle's")
    parser.add_argument("--n-best", type=_positive, default=1, help="hypotheses per line in jsonl (<= beam size)")
    parser.add_argument("--batch-size", type=_positive, default=32, help="sentences decoded together")
    parser.add_argument("--max-length", type=_positive, help=f"output pieces at most (<= {MAX_OUTPUT_PIECES})")
    parser.add_argument("--format", choices=("text", "jsonl"), default="text")
    parser.add_argument("--threads", type=_positive, help="ONNX Runtime intra-op threads; default: the runtime's")
    return parser


class Progress:
    """A one-line progress bar on a terminal, or a line every 10% when stderr is a file."""

    def __init__(self, total: int, stream: TextIO, enabled: bool) -> None:
        self.total, self.stream, self.enabled = total, stream, enabled and total > 0
        self.done = 0
        self.started = self.last_drawn = time.monotonic()
        self.interactive = stream.isatty()
        self.next_report = total / 10

    def advance(self, count: int) -> None:
        self.done += count
        if not self.enabled:
            return
        now = time.monotonic()
        if self.interactive and (now - self.last_drawn >= 0.1 or self.done >= self.total):
            self.stream.write("\r" + self.describe(now))
            self.last_drawn = now
        elif not self.interactive and (self.done >= self.next_report or self.done >= self.total):
            self.stream.write(self.describe(now) + "\n")
            self.next_report = self.done + self.total / 10
        self.stream.flush()

    def describe(self, now: float) -> str:
        share = self.done / self.total
        filled = int(30 * share)
        rate = self.done / max(now - self.started, 1e-9)
        return f"[{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total} lines, {rate:.1f} lines/s"

    def close(self) -> None:
        if self.enabled and self.interactive:
            self.stream.write("\n")
            self.stream.flush()


def _rounded(matrix: Any) -> list[list[float]]:
    return [[round(float(value), ATTENTION_DECIMALS) for value in row] for row in matrix]


def translation_record(line: int, translation: Translation, with_n_best: bool) -> dict[str, Any]:
    record: dict[str, Any] = {
        "line": line,
        "source": translation.source,
        "text": translation.text,
        "score": translation.score,
        "source_tokens": translation.source_tokens,
        "target_tokens": translation.target_tokens,
        "attention": _rounded(translation.attention),
        "alignment": translation.alignment,
        "source_words": translation.source_words,
        "target_words": translation.target_words,
        "truncated": translation.truncated,
    }
    if with_n_best:
        record["n_best"] = [
            {"text": h.text, "score": h.score, "target_tokens": h.target_tokens, "attention": _rounded(h.attention)}
            for h in translation.n_best
        ]
    return record


class _Writer:
    """Formats results for stdout, one line per input line."""

    def __init__(self, stream: TextIO, jsonl: bool, with_n_best: bool) -> None:
        self.stream, self.jsonl, self.with_n_best = stream, jsonl, with_n_best

    def write(self, line: int, source: str, translation: Translation | None) -> None:
        if not self.jsonl:
            self.stream.write((translation.text if translation else "") + "\n")
            return
        if translation is None:
            record: dict[str, Any] = {"line": line, "source": source, "error": "empty line"}
        else:
            record = translation_record(line, translation, self.with_n_best)
        self.stream.write(json.dumps(record, ensure_ascii=False) + "\n")


class _Job:
    def __init__(self, translator: Translator, args: argparse.Namespace, beam_size: int) -> None:
        self.translator, self.beam_size = translator, beam_size
        self.n_best, self.max_length = args.n_best, args.max_length

    def translate(self, lines: Sequence[str]) -> list[Translation | None]:
        """Translations for the non-blank lines, None for blank ones."""
        wanted = [index for index, line in enumerate(lines) if line.strip()]
        done = self.translator.translate_batch(
            [lines[i] for i in wanted], beam_size=self.beam_size, n_best=self.n_best, max_length=self.max_length
        )
        results: list[Translation | None] = [None] * len(lines)
        for index, translation in zip(wanted, done, strict=True):
            results[index] = translation
        return results


def _read_lines(stream: TextIO) -> Iterator[str]:
    for raw in stream:
        yield raw.rstrip("\n").removesuffix("\r")


def _windows(lines: list[str], size: int) -> Iterator[tuple[int, list[str]]]:
    for start in range(0, len(lines), size):
        yield start, lines[start : start + size]


def _run_interactive(job: _Job, writer: _Writer, stdin: TextIO) -> None:
    for number, line in enumerate(_read_lines(stdin), start=1):
        writer.write(number, line, job.translate([line])[0])
        writer.stream.flush()


def _run_batched(job: _Job, writer: _Writer, stdin: TextIO, window: int) -> None:
    lines = list(_read_lines(stdin))
    progress = Progress(len(lines), sys.stderr, enabled=len(lines) > PROGRESS_MIN_LINES)
    for start, chunk in _windows(lines, window):
        for offset, (line, translation) in enumerate(zip(chunk, job.translate(chunk), strict=True)):
            writer.write(start + offset + 1, line, translation)
        writer.stream.flush()
        progress.advance(len(chunk))
    progress.close()


def _load(args: argparse.Namespace) -> Translator:
    folder = args.models_dir / args.model
    if not folder.is_dir():
        found = sorted(p.name for p in args.models_dir.iterdir() if p.is_dir()) if args.models_dir.is_dir() else []
        where = f"available: {', '.join(found)}" if found else f"{args.models_dir} holds no bundles"
        raise UsageError(f"no model {args.model!r} in {args.models_dir} ({where})")
    threads = {"intra_op_threads": args.threads} if args.threads else {}
    return Translator.load(folder, **threads)


def _configure_streams() -> None:
    """UTF-8 everywhere; undecodable input bytes become U+FFFD instead of an error."""
    if isinstance(sys.stdin, io.TextIOWrapper):  # one sentence per "\n": a stray "\r" stays inside its line
        sys.stdin.reconfigure(encoding="utf-8", errors="replace", newline="\n")
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(encoding="utf-8", errors="replace")


def run(args: argparse.Namespace) -> None:
    translator = _load(args)
    beam_size = args.beam_size or translator.default_beam_size
    if beam_size > MAX_BEAM_SIZE or args.n_best > beam_size:
        raise UsageError(f"need 1 <= --n-best ({args.n_best}) <= --beam-size ({beam_size}) <= {MAX_BEAM_SIZE}")
    if args.max_length is not None and args.max_length > MAX_OUTPUT_PIECES:
        raise UsageError(f"--max-length must be at most {MAX_OUTPUT_PIECES}")
    translator.max_batch_rows = args.batch_size * beam_size
    job = _Job(translator, args, beam_size)
    writer = _Writer(sys.stdout, args.format == "jsonl", args.n_best > 1)
    if sys.stdin.isatty():
        _run_interactive(job, writer, sys.stdin)
    else:
        _run_batched(job, writer, sys.stdin, args.batch_size * WINDOW_BATCHES)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        _configure_streams()
        run(args)
    except (UsageError, BundleError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (| head); say nothing more
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return 0
