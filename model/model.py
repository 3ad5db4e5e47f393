"""The attentive encoder-decoder of Bahdanau, Cho & Bengio (2015), in one file.

Read top to bottom: configuration, the GRU step, the encoder, the three score
functions, the single-step decoder (Bahdanau's, or the conditional GRU of Sennrich
et al. 2017), and the whole model with greedy decoding.

Shapes use B for batch, S for source length, T for target length, H for the
encoder's per-direction size, D for the decoder's state size, V for a vocabulary.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

SCORE_FUNCTIONS = ("additive", "dot", "general")
DECODER_KINDS = ("bahdanau", "conditional")


@dataclass
class ModelConfig:
    src_vocab_size: int
    tgt_vocab_size: int
    emb_dim: int = 256
    enc_hidden: int = 256  # per direction: annotations are 2 * enc_hidden wide
    dec_hidden: int = 512
    attn_dim: int = 256  # width of the additive score's hidden layer; unused by dot and general
    score: str = "additive"  # additive (Bahdanau) | dot | general (Luong)
    readout_dim: int = 256  # the "pre-output" fed to the vocabulary projection; kept small because it multiplies V
    # bahdanau: attention is queried with the previous state; conditional: a first GRU reads the previous
    # word before attention is queried (Sennrich et al. 2017), so the query knows which word was just written
    decoder: str = "bahdanau"
    dropout: float = 0.3
    tie_embeddings: bool = True  # share the target embedding with the output projection (needs readout_dim == emb_dim)
    pad_id: int = 0
    unk_id: int = 1
    bos_id: int = 2
    eos_id: int = 3

    def __post_init__(self) -> None:
        if self.score not in SCORE_FUNCTIONS:
            raise ValueError(f"unknown score function {self.score!r}; choose one of {', '.join(SCORE_FUNCTIONS)}")
        if self.decoder not in DECODER_KINDS:
            raise ValueError(f"unknown decoder {self.decoder!r}; choose one of {', '.join(DECODER_KINDS)}")
        if self.score == "dot" and self.dec_hidden != 2 * self.enc_hidden:
            raise ValueError("the dot score needs dec_hidden == 2 * enc_hidden")
        if self.tie_embeddings and self.readout_dim != self.emb_dim:
            raise ValueError("tie_embeddings needs readout_dim == emb_dim")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError("dropout must be in [0, 1)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


class GRUStep(nn.Module):
    """One GRU step written out, so that it exports to plain ONNX MatMul/Sigmoid/Tanh."""

    def __init__(self, input_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.input_to_gates = nn.Linear(input_dim, 3 * hidden_dim)
        self.hidden_to_gates = nn.Linear(hidden_dim, 3 * hidden_dim)

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        xr, xz, xn = self.input_to_gates(x).chunk(3, dim=-1)  # 3 x (B, D)
        hr, hz, hn = self.hidden_to_gates(h).chunk(3, dim=-1)  # 3 x (B, D)
        reset = torch.sigmoid(xr + hr)
        update = torch.sigmoid(xz + hz)
        candidate = torch.tanh(xn + reset * hn)
        return (1.0 - update) * candidate + update * h  # (B, D)


def reverse_within_lengths(x: Tensor, lengths: Tensor) -> Tensor:
    """Reverse each sequence's first `length` steps and leave its padding in place.

    The backward GRU must start on a sentence's last real token, not on padding;
    reversing inside the lengths lets a plain (unpacked) GRU do that, which keeps
    the encoder exportable with dynamic lengths.
    """
    steps = torch.arange(x.size(1), device=x.device).unsqueeze(0)  # (1, S)
    last = lengths.unsqueeze(1) - 1  # (B, 1)
    index = torch.where(steps <= last, last - steps, steps)  # (B, S)
    return x.gather(1, index.unsqueeze(-1).expand_as(x))


class Encoder(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.embedding = nn.Embedding(config.src_vocab_size, config.emb_dim, padding_idx=config.pad_id)
        self.forward_rnn = nn.GRU(config.emb_dim, config.enc_hidden, batch_first=True)
        self.backward_rnn = nn.GRU(config.emb_dim, config.enc_hidden, batch_first=True)
        self.init_state = nn.Linear(2 * config.enc_hidden, config.dec_hidden)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, src: Tensor, lengths: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        embedded = self.dropout(self.embedding(src))  # (B, S, E)
        forward_states, _ = self.forward_rnn(embedded)  # (B, S, H)
        backward_states, _ = self.backward_rnn(reverse_within_lengths(embedded, lengths))
        backward_states = reverse_within_lengths(backward_states, lengths)  # (B, S, H)
        annotations = torch.cat([forward_states, backward_states], dim=-1)  # (B, S, 2H)
        annotations = annotations * mask.unsqueeze(-1).to(annotations.dtype)  # padding rows are exactly 0
        # the forward RNN's last real state and the backward RNN's state at position 0
        last_index = (lengths - 1).view(-1, 1, 1).expand(-1, 1, forward_states.size(-1))
        forward_final = forward_states.gather(1, last_index).squeeze(1)  # (B, H)
        backward_final = backward_states[:, 0]  # (B, H)
        initial_state = torch.tanh(self.init_state(torch.cat([forward_final, backward_final], dim=-1)))  # (B, D)
        return self.dropout(annotations), initial_state


class Attention(nn.Module):
    """Scores every annotation against the decoder state and softmaxes over real positions.

    `keys` holds the part of the score that depends only on the source, so
    inference computes it once per sentence instead of once per step.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.score = config.score
        annotation_dim = 2 * config.enc_hidden
        if self.score == "additive":
            self.key_proj = nn.Linear(annotation_dim, config.attn_dim, bias=False)
            self.query_proj = nn.Linear(config.dec_hidden, config.attn_dim)
            self.energy = nn.Linear(config.attn_dim, 1, bias=False)
        elif self.score == "general":
            self.key_proj = nn.Linear(annotation_dim, config.dec_hidden, bias=False)

    def keys(self, annotations: Tensor) -> Tensor:
        if self.score == "dot":
            return annotations  # (B, S, D)
        keys: Tensor = self.key_proj(annotations)  # (B, S, A) or (B, S, D)
        return keys

    def forward(self, query: Tensor, keys: Tensor, mask: Tensor) -> Tensor:
        if self.score == "additive":
            hidden = torch.tanh(keys + self.query_proj(query).unsqueeze(1))  # (B, S, A)
            scores = self.energy(hidden).squeeze(-1)  # (B, S)
        else:
            scores = torch.bmm(keys, query.unsqueeze(-1)).squeeze(-1)  # (B, S)
        # -inf makes softmax give padding exactly 0, not merely a small number
        scores = scores.masked_fill(~mask, float("-inf"))
        return torch.softmax(scores, dim=-1)  # (B, S)


class Decoder(nn.Module):
    """One decoding step, given the attention module, as in bentrevett's notebook 3."""

    def __init__(self, config: ModelConfig, attention: Attention) -> None:
        super().__init__()
        annotation_dim = 2 * config.enc_hidden
        self.attention = attention
        self.embedding = nn.Embedding(config.tgt_vocab_size, config.emb_dim, padding_idx=config.pad_id)
        self.query_rnn: GRUStep | None = None
        if config.decoder == "conditional":
            self.query_rnn = GRUStep(config.emb_dim, config.dec_hidden)
            self.rnn = GRUStep(annotation_dim, config.dec_hidden)
        else:
            self.rnn = GRUStep(config.emb_dim + annotation_dim, config.dec_hidden)
        self.readout = nn.Linear(config.dec_hidden + annotation_dim + config.emb_dim, config.readout_dim)
        self.dropout = nn.Dropout(config.dropout)

    def step(
        self, prev_tokens: Tensor, state: Tensor, annotations: Tensor, keys: Tensor, mask: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Returns the readout (before the vocabulary projection), the new state and the attention."""
        embedded = self.dropout(self.embedding(prev_tokens))  # (B, E)
        query = state if self.query_rnn is None else self.query_rnn(embedded, state)  # (B, D)
        weights = self.attention(query, keys, mask)  # (B, S)
        context = torch.bmm(weights.unsqueeze(1), annotations).squeeze(1)  # (B, 2H)
        if self.query_rnn is None:
            new_state = self.rnn(torch.cat([embedded, context], dim=-1), state)  # (B, D)
        else:  # the second GRU continues from the query state, having read the previous word already
            new_state = self.rnn(context, query)  # (B, D)
        readout = torch.tanh(self.readout(torch.cat([new_state, context, embedded], dim=-1)))  # (B, P)
        return self.dropout(readout), new_state, weights


class Seq2Seq(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config, Attention(config))
        self.generator = nn.Linear(config.readout_dim, config.tgt_vocab_size)
        if config.tie_embeddings:
            self.generator.weight = self.decoder.embedding.weight
        self._init_weights()

    def _init_weights(self) -> None:
        for name, param in self.named_parameters():
            if "bias" in name:
                nn.init.zeros_(param)
            elif "embedding" in name:
                nn.init.normal_(param, std=self.config.emb_dim**-0.5)
            elif param.dim() == 2:
                nn.init.xavier_uniform_(param)
        with torch.no_grad():
            self.encoder.embedding.weight[self.config.pad_id].zero_()
            self.decoder.embedding.weight[self.config.pad_id].zero_()

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def source_mask(self, src: Tensor) -> Tensor:
        return src != self.config.pad_id  # (B, S)

    def encode(self, src: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Returns annotations, attention keys, initial decoder state and source mask."""
        mask = self.source_mask(src)
        annotations, state = self.encoder(src, lengths, mask)
        return annotations, self.decoder.attention.keys(annotations), state, mask

    def forward(self, src: Tensor, lengths: Tensor, tgt_in: Tensor) -> tuple[Tensor, Tensor]:
        """Teacher-forced logits (B, T, V) and attention (B, T, S)."""
        annotations, keys, state, mask = self.encode(src, lengths)
        readouts, weights = [], []
        for t in range(tgt_in.size(1)):
            readout, state, attn = self.decoder.step(tgt_in[:, t], state, annotations, keys, mask)
            readouts.append(readout)
            weights.append(attn)
        # the vocabulary projection dominates the cost, so it runs once over all steps
        logits = self.generator(torch.stack(readouts, dim=1))  # (B, T, V)
        return logits, torch.stack(weights, dim=1)

    def step_log_probs(
        self, prev_tokens: Tensor, state: Tensor, annotations: Tensor, keys: Tensor, mask: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """One inference step: log-probabilities (B, V), new state (B, D), attention (B, S)."""
        readout, new_state, weights = self.decoder.step(prev_tokens, state, annotations, keys, mask)
        return F.log_softmax(self.generator(readout), dim=-1), new_state, weights

    @torch.no_grad()
    def greedy_decode(self, src: Tensor, lengths: Tensor, max_len: int) -> tuple[list[list[int]], list[Tensor]]:
        """Greedy decoding; returns token ids (without EOS) and attention (T_i + 1, S_i) per sentence."""
        annotations, keys, state, mask = self.encode(src, lengths)
        batch = src.size(0)
        prev = torch.full((batch,), self.config.bos_id, dtype=torch.long, device=src.device)
        finished = torch.zeros(batch, dtype=torch.bool, device=src.device)
        tokens, weights = [], []
        for _ in range(max_len):
            log_probs, state, attn = self.step_log_probs(prev, state, annotations, keys, mask)
            prev = log_probs.argmax(dim=-1).masked_fill(finished, self.config.pad_id)
            tokens.append(prev)
            weights.append(attn)
            finished = finished | (prev == self.config.eos_id)
            if bool(finished.all()):
                break
        token_matrix = torch.stack(tokens, dim=1).tolist()  # (B, T)
        attention = torch.stack(weights, dim=1)  # (B, T, S)
        outputs, matrices = [], []
        for b, row in enumerate(token_matrix):
            length = row.index(self.config.eos_id) if self.config.eos_id in row else len(row)
            outputs.append(row[:length])
            matrices.append(attention[b, : length + 1, : int(lengths[b])])
        return outputs, matrices


def count_flops_per_target_token(config: ModelConfig, src_len: int) -> int:
    """Multiply-adds x 2 of one decoder step, for cost accounting."""
    annotation_dim = 2 * config.enc_hidden
    gru = 2 * 3 * config.dec_hidden * (config.emb_dim + annotation_dim + config.dec_hidden)
    if config.decoder == "conditional":  # the query GRU adds a second hidden-to-gates product
        gru += 2 * 3 * config.dec_hidden * config.dec_hidden
    if config.score == "additive":
        attention = 2 * config.dec_hidden * config.attn_dim + 2 * src_len * config.attn_dim
    else:
        attention = 2 * src_len * config.dec_hidden
    context = 2 * src_len * annotation_dim
    readout = 2 * config.readout_dim * (config.dec_hidden + annotation_dim + config.emb_dim)
    projection = 2 * config.readout_dim * config.tgt_vocab_size
    return gru + attention + context + readout + projection
