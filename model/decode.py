"""Translating plain sentences with the PyTorch model (validation during training, baselines)."""

from __future__ import annotations

from collections.abc import Sequence

import sentencepiece as spm
import torch

from model.data import EOS_ID, pad
from model.model import Seq2Seq


def max_output_length(src_len: int) -> int:
    return 2 * src_len + 10


@torch.no_grad()
def translate_greedy(
    model: Seq2Seq,
    src_sp: spm.SentencePieceProcessor,
    tgt_sp: spm.SentencePieceProcessor,
    sentences: Sequence[str],
    batch_size: int = 128,
    max_src_len: int = 250,
) -> list[str]:
    """Greedy translations in input order; batches sentences of similar length."""
    was_training = model.training
    model.eval()
    ids = [[*s[: max_src_len - 1], EOS_ID] for s in src_sp.encode(list(sentences))]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    outputs: list[str] = [""] * len(ids)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        src = pad([ids[i] for i in chunk])
        lengths = torch.tensor([len(ids[i]) for i in chunk], dtype=torch.long)
        tokens, _ = model.greedy_decode(src, lengths, max_output_length(int(lengths.max())))
        for i, out in zip(chunk, tokens, strict=True):
            outputs[i] = tgt_sp.decode(out)
    model.train(was_training)
    return outputs
