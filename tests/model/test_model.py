"""The network's invariants: attention is a distribution over real tokens only, for every score function
and both decoders."""

from __future__ import annotations

import pytest
import torch

from model.data import EOS_ID, pad
from model.model import DECODER_KINDS, SCORE_FUNCTIONS, ModelConfig, Seq2Seq


def make_model(score: str, decoder: str = "bahdanau") -> Seq2Seq:
    torch.manual_seed(0)
    config = ModelConfig(
        src_vocab_size=50, tgt_vocab_size=40, emb_dim=16, enc_hidden=12, dec_hidden=24,
        attn_dim=10, readout_dim=16, score=score, decoder=decoder, dropout=0.0,
    )  # fmt: skip
    return Seq2Seq(config).eval()


VARIANTS = [(score, "bahdanau") for score in SCORE_FUNCTIONS] + [("additive", "conditional"), ("dot", "conditional")]


SENTENCES = [[5, 9, 14, 7, EOS_ID], [6, 8, EOS_ID], [11, 12, 13, 20, 21, 22, 23, EOS_ID]]


def batch_of(sentences: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    return pad(sentences), torch.tensor([len(s) for s in sentences])


@pytest.mark.parametrize(("score", "decoder"), VARIANTS)
def test_attention_rows_sum_to_one_and_padding_gets_exactly_zero(score: str, decoder: str) -> None:
    model = make_model(score, decoder)
    src, lengths = batch_of(SENTENCES)
    tgt_in = torch.tensor([[2, 7, 8, 9, 10]] * len(SENTENCES))
    with torch.no_grad():
        _, attention = model(src, lengths, tgt_in)  # (B, T, S)
    assert torch.allclose(attention.sum(-1), torch.ones(attention.shape[:2]), atol=1e-6)
    for b, length in enumerate(lengths.tolist()):
        assert torch.all(attention[b, :, length:] == 0.0)
        assert torch.all(attention[b, :, :length] > 0.0)


@pytest.mark.parametrize(("score", "decoder"), VARIANTS)
def test_sentence_alone_gets_the_same_weights_as_in_a_padded_batch(score: str, decoder: str) -> None:
    model = make_model(score, decoder)
    src, lengths = batch_of(SENTENCES)
    with torch.no_grad():
        _, batched = model.greedy_decode(src, lengths, max_len=12)
        for b, sentence in enumerate(SENTENCES):
            _, alone = model.greedy_decode(*batch_of([sentence]), max_len=12)
            assert alone[0].shape == batched[b].shape
            assert torch.allclose(alone[0], batched[b], atol=1e-6)


def test_encoder_ignores_what_sits_in_the_padding() -> None:
    model = make_model("additive")
    src, lengths = batch_of(SENTENCES)
    noisy = src.clone()
    noisy[src == 0] = 17  # garbage where padding should be; lengths still say where sentences end
    with torch.no_grad():
        clean_annotations, clean_state = model.encoder(src, lengths, src != 0)
        noisy_annotations, noisy_state = model.encoder(noisy, lengths, src != 0)
    assert torch.allclose(clean_annotations, noisy_annotations, atol=1e-6)
    assert torch.allclose(clean_state, noisy_state, atol=1e-6)


def test_invalid_configurations_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown score function"):
        ModelConfig(src_vocab_size=10, tgt_vocab_size=10, score="cosine")
    with pytest.raises(ValueError, match="dot score"):
        ModelConfig(src_vocab_size=10, tgt_vocab_size=10, score="dot", enc_hidden=8, dec_hidden=12)
    with pytest.raises(ValueError, match="tie_embeddings"):
        ModelConfig(src_vocab_size=10, tgt_vocab_size=10, emb_dim=8, readout_dim=16)
    with pytest.raises(ValueError, match="unknown decoder"):
        ModelConfig(src_vocab_size=10, tgt_vocab_size=10, decoder="lstm")
    assert set(DECODER_KINDS) == {"bahdanau", "conditional"}


def test_the_conditional_decoder_queries_attention_after_reading_the_previous_word() -> None:
    """Same state, different previous word: Bahdanau's attention cannot tell them apart, the conditional GRU's can."""
    src, lengths = batch_of(SENTENCES[:1])
    weights = {}
    for decoder in DECODER_KINDS:
        model = make_model("additive", decoder)
        with torch.no_grad():
            annotations, keys, state, mask = model.encode(src, lengths)
            _, _, first = model.decoder.step(torch.tensor([7]), state, annotations, keys, mask)
            _, _, second = model.decoder.step(torch.tensor([8]), state, annotations, keys, mask)
        weights[decoder] = (first - second).abs().max().item()
    assert weights["bahdanau"] == 0.0
    assert weights["conditional"] > 1e-6
