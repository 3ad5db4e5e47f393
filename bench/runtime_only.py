"""The serving runtime alone, in this process, with no HTTP: what batching can gain at most.

The unbatched server decodes every request by itself, i.e. at batch 1; the batched one decodes up to
max_batch_size sentences per call. Timing `Translator.translate_batch` over the same sentences at batch 1
and at larger batches, on one thread like one of the server's workers, gives what batching gains in the
runtime itself: the reference for the served batched ÷ unbatched ratio. HTTP, JSON and the store cost the
same per request in both modes and pull the served ratio toward 1; the unbatched server's parallel batch-1
decodes contend for the cores and can push it slightly above.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from service.runtime import Translator


@dataclass(frozen=True)
class RuntimeTiming:
    beam_size: int
    batch_size: int
    sentences: int
    seconds: float

    @property
    def ms_per_sentence(self) -> float:
        return 1000.0 * self.seconds / self.sentences

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ms_per_sentence": self.ms_per_sentence}


def time_batches(translator: Translator, sentences: Sequence[str], beam_size: int, batch_size: int) -> RuntimeTiming:
    translator.translate_batch(list(sentences[:batch_size]), beam_size=beam_size)  # warm-up: first-call allocations
    started = time.perf_counter()
    for start in range(0, len(sentences), batch_size):
        translator.translate_batch(list(sentences[start : start + batch_size]), beam_size=beam_size)
    return RuntimeTiming(beam_size, batch_size, len(sentences), time.perf_counter() - started)


def measure_runtime(
    bundle: Path, sentences: Sequence[str], beams: Sequence[int], batch_sizes: Sequence[int]
) -> list[RuntimeTiming]:
    """ms per sentence for every (beam, batch size), with the runtime's default threads (one per session)."""
    translator = Translator.load(bundle)
    return [time_batches(translator, sentences, beam, batch) for beam in beams for batch in batch_sizes]


def batching_gains(timings: Sequence[RuntimeTiming]) -> list[dict[str, Any]]:
    """For each beam and batch size above 1: ms per sentence at batch 1 ÷ at that batch size."""
    single = {t.beam_size: t.ms_per_sentence for t in timings if t.batch_size == 1}
    return [
        {"beam_size": t.beam_size, "batch_size": t.batch_size, "ratio": single[t.beam_size] / t.ms_per_sentence}
        for t in timings
        if t.batch_size > 1 and t.beam_size in single
    ]
