"""What the per-request work budget admits, and what its worst admitted requests cost.

    python -m bench.work_budget --models-dir artifacts --model en-de [--captions FILE] [--prose FILE] [--out FILE]

One `python -m service serve` with default settings (HEED_* variables still apply). Two parts, each request
sent alone, so its seconds are its own:
- documents: texts of at most 5,000 characters (the default text limit) of two kinds, at beams 1, 2 and 4:
  caption sentences in paragraphs of three (the Multi30k val source) and dense prose (the English side of the
  parliament alignment gold, detokenized: long sentences with many words a caption vocabulary cuts into small
  pieces). For each: sentences, source pieces, the cost model's estimate (service/app/cost.py, computed here as
  the server computes it), the work its decoding really takes (decoded here, in the server's slices, under an
  unlimited DecodingMeter: what the server's meter would count), the status the server answers, and its wall and
  CPU seconds.
- worst admitted requests: five shapes, each twice: as many texts as the budget admits (their decoding passes the
  decoding limit, so the meter stops them: 413 after about that limit's work), and as many as the decoding limit
  lets finish (200). Number sequences of 255 pieces (the model reads them whole and translates them to the output
  length limit, since digits never end) at beam 16, 4, 2 and 1, and 256-letter words at beam 4. These decode
  close to their estimate, so they are the most one admitted request can cost.
- the worst admitted alignment (/v1/align): pairs of a 255-piece number sequence and a translation cut at 512
  pieces (forced decoding takes every step it is estimated at, so its estimate is held to the lower of the budget
  and the decoding limit), as many as that admits. Its answer carries every pair's attention (513 x 256).
The server's peak resident memory closes the report. Timings depend on the machine and its load; compare
ratios within one run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

from bench.report import print_json_report
from bench.servers import ServerProcess, heed_arguments, launch
from bench.workload import SHARED_RAW, TRANSLATE_PATH, read_sentences
from service.app.batching import DecodeOptions, WorkLimits, decode_texts, metered
from service.app.cost import DecodingMeter, WorkEstimate, estimate_forced_work
from service.app.settings import Settings
from service.app.translation import sentence_rows
from service.runtime import Translator

ALIGNMENT_GOLD = SHARED_RAW.parents[1] / "alignment-gold"
PROSE = {"en-de": "europarl.en-de.en", "en-fr": "hansards.en-fr.en"}
NUMBERS = " ".join(str(number) for number in range(136))  # 255 pieces in the shipped vocabularies
LETTERS = "a" * 256  # 256 pieces, one per character
ALIGN_TRANSLATION = " ".join(str(number) for number in range(300))  # over 512 target pieces: cut at 512
ALIGN_PATH = "/v1/align"
BEAMS = (1, 2, 4)
WORST_SHAPES = (
    ("numbers", NUMBERS, 16), ("numbers", NUMBERS, 4), ("numbers", NUMBERS, 2), ("numbers", NUMBERS, 1),
    ("letters", LETTERS, 4),
)  # fmt: skip


def caption_paragraphs(sentences: Sequence[str], characters: int) -> str:
    """Sentences in paragraphs of three, as many as fit in `characters`."""
    chosen: list[str] = []
    for sentence in sentences:
        candidate = [*chosen, sentence]
        if len(_paragraphs(candidate)) > characters:
            break
        chosen = candidate
    return _paragraphs(chosen)


def _paragraphs(sentences: Sequence[str]) -> str:
    return "\n\n".join(" ".join(sentences[start : start + 3]) for start in range(0, len(sentences), 3))


def detokenized(line: str) -> str:
    """A lowercased, tokenized gold sentence as running prose: punctuation attached, first letter capital."""
    text = " ".join(line.split())
    for mark in (",", ".", "?", "!", ":", ";", "'s", "n't"):
        text = text.replace(" " + mark, mark)
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else text + "."


def prose(lines: Sequence[str], characters: int) -> str:
    text = ""
    for line in lines:
        candidate = f"{text} {detokenized(line)}".strip()
        if len(candidate) > characters:
            break
        text = candidate
    return text


class Estimator:
    """The cost model as the server applies it, with the server's settings."""

    def __init__(self, translator: Translator, settings: Settings) -> None:
        self.translator = translator
        self.settings = settings
        self.limits = WorkLimits.from_settings(settings)

    def rows(self, texts: Sequence[str]) -> list[str]:
        return sentence_rows(self.translator, texts)[0]

    def estimate(self, rows: Sequence[str], beam: int) -> WorkEstimate:
        return self.limits.estimate(self.translator, rows, beam, None, self.settings.max_batch_size)

    def work_of_rows(self, rows: Sequence[str], beam: int) -> int:
        return self.estimate(rows, beam).total

    def work(self, texts: Sequence[str], beam: int) -> int:
        return self.work_of_rows(self.rows(texts), beam)

    def decoded_work(self, rows: Sequence[str], beam: int, estimate: WorkEstimate) -> int:
        """The work units decoding `rows` really takes, in the batches the server would decode them in (those of
        their `estimate`)."""
        meter, options = DecodingMeter(sys.maxsize), DecodeOptions(beam_size=beam)
        for batch in estimate.batches:
            sources = [estimate.texts[index].source_tokens for index in batch]
            wanted, on_step = metered(meter, sources, lambda _: True)
            texts = [rows[index] for index in batch]
            decode_texts(self.translator, texts, options, self.limits.length_cap, wanted, on_step)
        return round(meter.used)

    def most_admitted(self, text: str, beam: int, budget: int | None = None) -> int:
        """How many copies of `text` one request may hold within `budget` (default: the per-request budget), at
        least 1."""
        rows = self.rows([text])
        return self._most(lambda count: self.work_of_rows(rows * count, beam), budget or self.settings.max_request_work)

    def alignment_work(self, pairs: int) -> int:
        return estimate_forced_work(self.translator, [NUMBERS] * pairs, [ALIGN_TRANSLATION] * pairs).total

    def most_aligned(self) -> int:
        """How many (NUMBERS, ALIGN_TRANSLATION) pairs one /v1/align request may hold (at least 1)."""
        return self._most(self.alignment_work, self.limits.forced_budget or sys.maxsize)

    def _most(self, work_of: Callable[[int], int], limit: int) -> int:
        """The largest count (from 1 to max_texts) whose work is within `limit`, counting up: at least 1."""
        count = 1
        while count < self.settings.max_texts and work_of(count + 1) <= limit:
            count += 1
        return count

    def most_finished(self, text: str, beam: int) -> int:
        """How many copies of a `text` whose outputs run to their length limit the decoding limit lets finish."""
        return self.most_admitted(text, beam, self.settings.max_decoding_work)


def _document(estimator: Estimator, name: str, text: str, beam: int) -> dict[str, Any]:
    rows = estimator.rows([text])
    pieces = sum(estimator.translator.source_tokenizer.count(row) for row in rows)
    estimate = estimator.estimate(rows, beam)
    return {"text": name, "characters": len(text), "sentences": len(rows), "source_pieces": pieces, "beam": beam,
            "estimate": estimate.total, "decoded": estimator.decoded_work(rows, beam, estimate)}  # fmt: skip


def _send(server: ServerProcess, pair: tuple[str, str], texts: list[str], beam: int) -> dict[str, Any]:
    body = {"source": pair[0], "target": pair[1], "text": texts, "beam_size": beam, "n_best": 1, "store": False}
    cpu, started = server.cpu_seconds(), time.perf_counter()
    response = httpx.post(server.url + TRANSLATE_PATH, json=body, timeout=600)
    return {
        "status": response.status_code,
        "wall_s": round(time.perf_counter() - started, 2),
        "cpu_s": round(server.cpu_seconds() - cpu, 2),
    }


def _align(server: ServerProcess, pair: tuple[str, str], estimator: Estimator) -> dict[str, Any]:
    count = estimator.most_aligned()
    body = {"source": pair[0], "target": pair[1], "text": [NUMBERS] * count,
            "translation": [ALIGN_TRANSLATION] * count, "store": False}  # fmt: skip
    cpu, started = server.cpu_seconds(), time.perf_counter()
    response = httpx.post(server.url + ALIGN_PATH, json=body, timeout=600)
    return {
        "pairs": count, "estimate": estimator.alignment_work(count), "status": response.status_code,
        "wall_s": round(time.perf_counter() - started, 2), "cpu_s": round(server.cpu_seconds() - cpu, 2),
        "response_bytes": len(response.content),
    }  # fmt: skip


def run(options: argparse.Namespace) -> dict[str, Any]:
    source, target = options.model.split("-")
    settings = Settings()
    estimator = Estimator(Translator.load(options.models_dir / options.model), settings)
    characters = settings.max_chars
    captions = options.captions or SHARED_RAW / f"val.{source}.gz"
    documents = {
        "caption paragraphs": caption_paragraphs(read_sentences(captions), characters),
        "dense prose": prose(read_sentences(options.prose or ALIGNMENT_GOLD / PROSE[options.model]), characters),
    }
    report: dict[str, Any] = {
        "model": options.model, "max_request_work": settings.max_request_work,
        "max_decoding_work": settings.max_decoding_work,
    }  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        server = launch(
            "heed", heed_arguments(options.models_dir, Path(folder) / "r.sqlite3", True), Path(folder) / "log"
        )
        try:
            server.wait_ready()
            _send(server, (source, target), ["A dog runs."], 1)  # warm-up
            report["documents"] = [
                {**_document(estimator, name, text, beam), **_send(server, (source, target), [text], beam)}
                for name, text in documents.items()
                for beam in BEAMS
            ]
            report["worst_admitted"] = []
            for name, text, beam in WORST_SHAPES:
                for count in sorted({estimator.most_finished(text, beam), estimator.most_admitted(text, beam)}):
                    measured = _send(server, (source, target), [text] * count, beam)
                    report["worst_admitted"].append(
                        {"shape": f"{count} x {name}", "texts": count, "beam": beam,
                         "estimate": estimator.work([text] * count, beam), **measured}
                    )  # fmt: skip
            report["worst_alignment"] = _align(server, (source, target), estimator)
            report["peak_rss_mib"] = round(server.peak_rss_bytes() / 2**20, 1)
        finally:
            server.stop()
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.work_budget", description=__doc__.split("\n")[0])
    parser.add_argument("--models-dir", type=Path, default=Path("artifacts"))
    parser.add_argument("--model", default="en-de", choices=sorted(PROSE), help="language pair: SOURCE-TARGET")
    parser.add_argument("--captions", type=Path, default=None, help="caption sentences, one a line (default: val)")
    parser.add_argument("--prose", type=Path, default=None, help="prose sentences, one a line, tokenized or not "
                        "(default: the parliament gold's English side)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=None, help="write the report here as JSON")
    options = parser.parse_args(argv)
    report = run(options)
    print_json_report(report, options.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
