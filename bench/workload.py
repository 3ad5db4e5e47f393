"""What the clients send: one test sentence per request, as an ordinary client of heed's API sends it.

The body names the language pair, the text and the beam size, and leaves every other field at the API's
default, which is what a client that has read the docs' first example does: the response carries the
attention matrices and the result is stored for a later fetch. The PyTorch baseline gets the same bytes.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path

from bench.httpload import build_request

TRANSLATE_PATH = "/v1/translate"
SHARED_RAW = Path(__file__).resolve().parents[2] / "shared" / "data" / "multi30k" / "raw"
TEST_SET = "test_2016_flickr"


def default_sentences_path(source_language: str) -> Path:
    return SHARED_RAW / f"{TEST_SET}.{source_language}.gz"


def read_sentences(path: Path) -> list[str]:
    """Non-empty lines of a text file, gzip-compressed when its name ends in .gz."""
    raw = path.read_bytes()
    text = (gzip.decompress(raw) if path.suffix == ".gz" else raw).decode("utf-8")
    sentences = [line.strip() for line in text.splitlines()]
    found = [sentence for sentence in sentences if sentence]
    if not found:
        raise ValueError(f"{path} holds no sentences")
    return found


def request_body(source: str, target: str, text: str, beam_size: int) -> dict[str, object]:
    return {"source": source, "target": target, "text": text, "beam_size": beam_size}


@dataclass(frozen=True)
class Workload:
    source_language: str
    target_language: str
    sentences: list[str]

    def bodies(self, beam_size: int) -> list[bytes]:
        return [
            json.dumps(request_body(self.source_language, self.target_language, text, beam_size)).encode()
            for text in self.sentences
        ]

    def requests(self, host: str, port: int, beam_size: int) -> list[bytes]:
        """Complete HTTP requests, built once so that sending one costs the load generator nothing."""
        return [build_request("POST", host, port, TRANSLATE_PATH, body) for body in self.bodies(beam_size)]


def count_translation(body: bytes) -> tuple[int, int]:
    """(target words, target tokens incl. "</s>") of a one-text answer from heed or the baseline."""
    translation = json.loads(body)["translations"][0]
    return len(translation["text"].split()), len(translation["target_tokens"])
