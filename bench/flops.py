"""Cost per token: the model's FLOPs from the bundle's sizes, and the machine's attainable FLOP/s.

FLOPs count multiply-adds x 2 of the matrix products, as `model.model.count_flops_per_target_token` does
for one decoder step (the GRU's gates, attention, context, readout and vocabulary projection);
element-wise work (sigmoid, tanh, softmax) is left out. The encoder runs once per sentence:
two GRUs over each source token, the attention keys of each source token, and the initial
decoder state once. "Useful" FLOPs of a translation are those of greedy decoding its output
(target tokens incl. "</s>" decoder steps plus the encoder); beam search computes more rows than that,
and that extra work is overhead of the search, not counted as useful.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULT_MATMUL_SIZE = 2048


@dataclass(frozen=True)
class ModelSizes:
    """The sizes the FLOP count needs, as the manifest's "model" object holds them."""

    tgt_vocab_size: int
    emb_dim: int
    enc_hidden: int
    dec_hidden: int
    attn_dim: int
    readout_dim: int
    score: str
    decoder: str = "bahdanau"  # bundles exported before the conditional decoder existed do not name it

    @classmethod
    def from_manifest(cls, model: dict[str, Any]) -> ModelSizes:
        return cls(**{name: model[name] for name in cls.__dataclass_fields__ if name in model})


def decoder_flops_per_token(sizes: ModelSizes, source_tokens: int) -> int:
    """One decoder step over a source of `source_tokens` pieces (incl. "</s>"), by the model package's count."""
    from model.model import ModelConfig, count_flops_per_target_token

    config = ModelConfig(
        src_vocab_size=1,
        tgt_vocab_size=sizes.tgt_vocab_size,
        emb_dim=sizes.emb_dim,
        enc_hidden=sizes.enc_hidden,
        dec_hidden=sizes.dec_hidden,
        attn_dim=sizes.attn_dim,
        score=sizes.score,
        readout_dim=sizes.readout_dim,
        decoder=sizes.decoder,
        tie_embeddings=False,
    )
    return count_flops_per_target_token(config, source_tokens)


def encoder_flops(sizes: ModelSizes, source_tokens: int) -> int:
    """Encoding one sentence of `source_tokens` pieces (incl. "</s>")."""
    annotation_dim = 2 * sizes.enc_hidden
    per_direction = 2 * 3 * sizes.enc_hidden * (sizes.emb_dim + sizes.enc_hidden)  # input and hidden gates
    if sizes.score == "additive":
        keys = 2 * annotation_dim * sizes.attn_dim
    elif sizes.score == "general":
        keys = 2 * annotation_dim * sizes.dec_hidden
    else:  # dot: the annotations are the keys
        keys = 0
    initial_state = 2 * annotation_dim * sizes.dec_hidden
    return source_tokens * (2 * per_direction + keys) + initial_state


class FlopCounter:
    """Useful FLOPs of translations, with the decoder step's cost cached per source length."""

    def __init__(self, sizes: ModelSizes) -> None:
        self.sizes = sizes
        self._per_step: dict[int, int] = {}

    def decoder_step(self, source_tokens: int) -> int:
        if source_tokens not in self._per_step:
            self._per_step[source_tokens] = decoder_flops_per_token(self.sizes, source_tokens)
        return self._per_step[source_tokens]

    def translation(self, source_tokens: int, target_tokens: int) -> int:
        """Both counts include "</s>"."""
        return target_tokens * self.decoder_step(source_tokens) + encoder_flops(self.sizes, source_tokens)


@dataclass(frozen=True)
class Attainable:
    """The best rate of a large float32 matrix product, with numpy's BLAS on every core it uses."""

    size: int
    repeats: int
    best_seconds: float

    @property
    def flops_per_second(self) -> float:
        return 2.0 * self.size**3 / self.best_seconds


def measure_attainable(size: int = DEFAULT_MATMUL_SIZE, repeats: int = 5, seed: int = 0) -> Attainable:
    rng = np.random.default_rng(seed)
    left = rng.standard_normal((size, size), dtype=np.float32)
    right = rng.standard_normal((size, size), dtype=np.float32)
    out = np.empty((size, size), dtype=np.float32)
    np.matmul(left, right, out=out)  # warm-up: thread pool start, page faults
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        np.matmul(left, right, out=out)
        best = min(best, time.perf_counter() - started)
    return Attainable(size, repeats, best)
