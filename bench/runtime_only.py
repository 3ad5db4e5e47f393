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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from service.runtime import Translator

GRAPHS = ("encoder", "decoder")
RUNTIME_PARTS = (*GRAPHS, "python")  # how a sentence's time splits: inside each graph, and the rest


@dataclass(frozen=True)
class RuntimeTiming:
    beam_size: int
    batch_size: int
    sentences: int
    seconds: float
    graph_seconds: dict[str, float]  # time inside each ONNX Runtime session's run(), per graph

    @property
    def ms_per_sentence(self) -> float:
        return 1000.0 * self.seconds / self.sentences

    def parts_ms_per_sentence(self) -> dict[str, float]:
        """The total split into each graph and the rest (search bookkeeping, tokenizing, alignment) in Python."""
        parts = {name: 1000.0 * seconds / self.sentences for name, seconds in self.graph_seconds.items()}
        return {**parts, RUNTIME_PARTS[-1]: self.ms_per_sentence - sum(parts.values())}

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ms_per_sentence": self.ms_per_sentence, "parts": self.parts_ms_per_sentence()}


@contextmanager
def graph_clocks(translator: Translator) -> Iterator[dict[str, float]]:
    """Adds the wall time of every encoder and decoder run to the yielded totals, by wrapping the graphs' run()."""
    totals = dict.fromkeys(GRAPHS, 0.0)
    graphs = {name: getattr(translator, name) for name in GRAPHS}

    def clocked(name: str, run: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any) -> Any:
            started = time.perf_counter()
            try:
                return run(*args)
            finally:
                totals[name] += time.perf_counter() - started

        return timed

    for name, graph in graphs.items():
        graph.run = clocked(name, graph.run)  # an instance attribute shadows the class's method
    try:
        yield totals
    finally:
        for graph in graphs.values():
            del graph.run


def time_batches(translator: Translator, sentences: Sequence[str], beam_size: int, batch_size: int) -> RuntimeTiming:
    translator.translate_batch(list(sentences[:batch_size]), beam_size=beam_size)  # warm-up: first-call allocations
    with graph_clocks(translator) as graph_seconds:
        started = time.perf_counter()
        for start in range(0, len(sentences), batch_size):
            translator.translate_batch(list(sentences[start : start + batch_size]), beam_size=beam_size)
        seconds = time.perf_counter() - started
    return RuntimeTiming(beam_size, batch_size, len(sentences), seconds, dict(graph_seconds))


def measure_runtime(
    bundle: Path, sentences: Sequence[str], beams: Sequence[int], batch_sizes: Sequence[int]
) -> list[RuntimeTiming]:
    """ms per sentence for every (beam, batch size), with the runtime's default threads (one per session)."""
    translator = Translator.load(bundle)
    return [time_batches(translator, sentences, beam, batch) for beam in beams for batch in batch_sizes]


def batching_gains(timings: Sequence[RuntimeTiming]) -> list[dict[str, Any]]:
    """For each beam and batch size above 1: ms per sentence at batch 1 ÷ at that batch size, in all and per part."""
    single = {t.beam_size: t for t in timings if t.batch_size == 1}
    gains = []
    for timing in timings:
        alone = single.get(timing.beam_size)
        if timing.batch_size == 1 or alone is None:
            continue
        parts, alone_parts = timing.parts_ms_per_sentence(), alone.parts_ms_per_sentence()
        gains.append({
            "beam_size": timing.beam_size,
            "batch_size": timing.batch_size,
            "ratio": alone.ms_per_sentence / timing.ms_per_sentence,
            "parts": {name: alone_parts[name] / parts[name] for name in parts if parts[name] > 0.0},
        })  # fmt: skip
    return gains
