"""FLOP counts: by hand for the shipped model's sizes, and against PyTorch's own FLOP counter."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.flops import FlopCounter, ModelSizes, decoder_flops_per_token, encoder_flops, measure_attainable
from model.model import ModelConfig, Seq2Seq, count_flops_per_target_token

SHIPPED = ModelSizes(
    tgt_vocab_size=8000, emb_dim=256, enc_hidden=256, dec_hidden=512, attn_dim=256, readout_dim=256, score="additive"
)


def test_one_decoder_step_of_the_shipped_sizes_by_hand() -> None:
    gru = 2 * 3 * 512 * (256 + 512 + 512)  # input (embedding + context) and hidden gates: 3,932,160
    attention = 2 * 512 * 256 + 2 * 10 * 256  # query projection, energy over 10 positions: 267,264
    context = 2 * 10 * 512  # 10,240
    readout = 2 * 256 * (512 + 512 + 256)  # 655,360
    projection = 2 * 256 * 8000  # 4,096,000
    assert gru + attention + context + readout + projection == 8_961_024
    assert decoder_flops_per_token(SHIPPED, 10) == 8_961_024


def test_encoding_a_sentence_of_the_shipped_sizes_by_hand() -> None:
    per_token = 2 * (2 * 3 * 256 * (256 + 256)) + 2 * 512 * 256  # two GRUs and the attention key: 1,835,008
    initial_state = 2 * 512 * 512  # 524,288
    assert (per_token, initial_state) == (1_835_008, 524_288)
    assert encoder_flops(SHIPPED, 10) == 10 * per_token + initial_state == 18_874_368


def test_a_translation_costs_its_decoder_steps_and_its_encoder() -> None:
    counter = FlopCounter(SHIPPED)
    assert counter.translation(10, 12) == 12 * 8_961_024 + 18_874_368


@pytest.mark.parametrize(
    ("score", "decoder"),
    [("additive", "bahdanau"), ("general", "bahdanau"), ("dot", "bahdanau"), ("additive", "conditional")],
)
def test_the_counts_equal_pytorchs_flop_counter(score: str, decoder: str) -> None:
    config = ModelConfig(
        src_vocab_size=50, tgt_vocab_size=60, emb_dim=16, enc_hidden=10, dec_hidden=20, attn_dim=8, readout_dim=16,
        score=score, decoder=decoder,
    )  # fmt: skip
    model = Seq2Seq(config).eval()
    source = torch.randint(4, 50, (1, 7))
    lengths = torch.tensor([7])
    with torch.no_grad(), FlopCounterMode(display=False) as encoding:
        annotations, keys, state, mask = model.encode(source, lengths)
    with torch.no_grad(), FlopCounterMode(display=False) as step:
        model.step_log_probs(torch.tensor([config.bos_id]), state, annotations, keys, mask)
    sizes = ModelSizes.from_manifest({**config.to_dict(), "parameters": 0})
    assert count_flops_per_target_token(config, 7) == step.get_total_flops()
    assert decoder_flops_per_token(sizes, 7) == step.get_total_flops()
    assert encoder_flops(sizes, 7) == encoding.get_total_flops()


def test_a_manifest_from_before_the_conditional_decoder_counts_as_bahdanau() -> None:
    model = {"tgt_vocab_size": 8000, "emb_dim": 256, "enc_hidden": 256, "dec_hidden": 512, "attn_dim": 256,
             "readout_dim": 256, "score": "additive", "parameters": 1}  # fmt: skip
    assert ModelSizes.from_manifest(model) == SHIPPED
    conditional = ModelSizes.from_manifest({**model, "decoder": "conditional"})
    assert decoder_flops_per_token(conditional, 10) == 8_961_024 + 2 * 3 * 512 * 512


def test_the_attainable_rate_comes_from_the_measured_product() -> None:
    attainable = measure_attainable(size=64, repeats=2)
    assert (attainable.size, attainable.repeats) == (64, 2)
    assert attainable.flops_per_second == pytest.approx(2 * 64**3 / attainable.best_seconds)
