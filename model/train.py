"""Train an attentive encoder-decoder on a parallel corpus.

    python -m model.train --src-lang en --tgt-lang de \\
        --train-src train.en.gz --train-tgt train.de.gz \\
        --valid-src val.en.gz --valid-tgt val.de.gz --out runs/en-de [--config configs/en-de.toml]

Writes OUT/last.pt after every epoch and OUT/best.pt whenever validation BLEU (the
comparable score) improves. Running again on an existing OUT resumes from last.pt.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm import tqdm

from model.checkpoint import CheckpointError, LoadedCheckpoint, build_payload, load_checkpoint, save_checkpoint
from model.cli import OneLineParser, UsageError
from model.data import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    UNK_ID,
    Batch,
    CorpusError,
    collate,
    encode_corpus,
    length_bucketed_batches,
    load_sentencepiece,
    read_parallel,
    train_sentencepiece,
)
from model.decode import translate_greedy
from model.evaluate import score
from model.guide import cached_word_links, guide_matrix, guided_alignment_loss, piece_guides
from model.model import DECODER_KINDS, SCORE_FUNCTIONS, ModelConfig, Seq2Seq

MODEL_OPTIONS = (
    "emb_dim", "enc_hidden", "dec_hidden", "attn_dim", "readout_dim", "score", "decoder", "dropout", "tie_embeddings",
)  # fmt: skip


def build_parser() -> OneLineParser:
    p = OneLineParser(prog="python -m model.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", help="TOML file whose keys (option names, - or _) supply defaults")
    data = p.add_argument_group("data")
    data.add_argument("--src-lang", required=True)
    data.add_argument("--tgt-lang", required=True)
    for name in ("train-src", "train-tgt", "valid-src", "valid-tgt"):
        data.add_argument(f"--{name}", required=True, help="plain or gzipped text, one sentence per line")
    data.add_argument("--out", required=True, help="run folder; resumed when it holds last.pt")
    data.add_argument(
        "--init-from", default=None,
        help="start a new run from this checkpoint's weights and vocabularies (fine-tuning: a fresh optimizer, the "
        "checkpoint's model options); python -m bench.rebuild BUNDLE --checkpoint-out FILE writes one from a bundle",
    )  # fmt: skip
    data.add_argument("--src-vocab-size", type=int, default=8000)
    data.add_argument("--tgt-vocab-size", type=int, default=8000)
    data.add_argument("--spm-model-type", choices=("unigram", "bpe"), default="unigram")
    data.add_argument("--max-len", type=int, default=100, help="subword tokens kept per training sentence")
    net = p.add_argument_group("model")
    net.add_argument("--emb-dim", type=int, default=256)
    net.add_argument("--enc-hidden", type=int, default=256, help="per direction")
    net.add_argument("--dec-hidden", type=int, default=512)
    net.add_argument("--attn-dim", type=int, default=256)
    net.add_argument("--readout-dim", type=int, default=256)
    net.add_argument("--score", choices=SCORE_FUNCTIONS, default="additive")
    net.add_argument(
        "--decoder", choices=DECODER_KINDS, default="bahdanau",
        help="conditional: a first GRU reads the previous word before attention is queried",
    )  # fmt: skip
    net.add_argument("--dropout", type=float, default=0.3)
    net.add_argument("--tie-embeddings", action=argparse.BooleanOptionalAction, default=True)
    opt = p.add_argument_group("optimization")
    opt.add_argument("--epochs", type=int, default=30)
    opt.add_argument("--batch-size", type=int, default=64, help="sentence pairs per batch")
    opt.add_argument("--lr", type=float, default=1e-3)
    opt.add_argument("--weight-decay", type=float, default=0.0)
    opt.add_argument("--label-smoothing", type=float, default=0.1)
    opt.add_argument(
        "--word-dropout", type=float, default=0.0,
        help="chance that a source or target input token is replaced by <unk> during training",
    )  # fmt: skip
    opt.add_argument(
        "--guided-alignment-weight", type=float, default=0.0,
        help="weight of the loss pulling attention toward eflomal's word links (Chen et al. 2016); 0 is off",
    )  # fmt: skip
    opt.add_argument(
        "--guided-alignment-decay", type=float, default=1.0,
        help="factor applied to that weight after every epoch: epoch e (from 0) uses weight * decay**e",
    )  # fmt: skip
    opt.add_argument("--clip-norm", type=float, default=1.0)
    opt.add_argument("--lr-decay", type=float, default=0.5, help="factor applied when validation BLEU stalls")
    opt.add_argument("--patience", type=int, default=1, help="stalled epochs before the learning rate decays")
    opt.add_argument("--early-stop", type=int, default=4, help="stalled epochs before training stops")
    opt.add_argument(
        "--epoch-checkpoints", action=argparse.BooleanOptionalAction, default=False,
        help="also keep OUT/epoch-NN.pt (weights only) after every epoch, for checkpoint averaging",
    )  # fmt: skip
    opt.add_argument("--seed", type=int, default=1)
    opt.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    opt.add_argument("--max-minutes", type=float, default=None, help="stop cleanly after this wall time")
    return p


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = build_parser()
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    known, _ = pre.parse_known_args(argv)
    if known.config:
        parser.set_defaults(**read_config(known.config, parser))
        for action in parser._actions:  # a key in the config satisfies a required option
            if action.dest in parser._defaults:
                action.required = False
    args = parser.parse_args(argv)
    if args.guided_alignment_weight < 0:
        raise UsageError("--guided-alignment-weight must be at least 0")
    if not 0 < args.guided_alignment_decay <= 1:
        raise UsageError("--guided-alignment-decay must be in (0, 1]")
    return args


def read_config(path: str, parser: argparse.ArgumentParser) -> dict[str, Any]:
    try:
        values = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise UsageError(f"config {path}: {error}") from None
    dests = {a.dest for a in parser._actions}
    config = {key.replace("-", "_"): value for key, value in values.items()}
    unknown = sorted(set(config) - dests)
    if unknown:
        raise UsageError(f"config {path}: unknown option(s) {', '.join(unknown)}")
    if "score" in config and config["score"] not in SCORE_FUNCTIONS:
        raise UsageError(f"config {path}: unknown score function {config['score']!r}")
    if "decoder" in config and config["decoder"] not in DECODER_KINDS:
        raise UsageError(f"config {path}: unknown decoder {config['decoder']!r}")
    return config


def drop_words(ids: torch.Tensor, rate: float) -> torch.Tensor:
    """Replaces real tokens by <unk> at random, so that no single input word can carry a prediction alone.

    BOS and EOS mark the sentence's edges and padding is masked anyway, so those stay.
    """
    if rate <= 0.0:
        return ids
    droppable = (ids != PAD_ID) & (ids != EOS_ID) & (ids != BOS_ID)  # (B, L)
    return ids.masked_fill(droppable & (torch.rand(ids.shape) < rate), UNK_ID)


def fresh_progress(lr: float) -> dict[str, Any]:
    """A run's bookkeeping before its first batch."""
    return {
        "epoch": 0, "batch": 0, "step": 0, "best_bleu": -1.0, "best_epoch": 0,
        "stalled": 0, "lr": lr, "elapsed_seconds": 0.0, "history": [], "done": False,
    }  # fmt: skip


class Trainer:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.out = Path(args.out)
        self.train_pairs = read_parallel(args.train_src, args.train_tgt)
        self.valid_pairs = read_parallel(args.valid_src, args.valid_tgt)
        self.started = time.monotonic()
        resume = self.out / "last.pt"
        if resume.is_file():
            self._resume(resume)
        elif args.init_from:
            self._start_from(Path(args.init_from))
        else:
            self._start_fresh()
        self.encoded = encode_corpus(self.train_pairs, self.src_sp, self.tgt_sp, args.max_len)
        self.guides = self._guides() if args.guided_alignment_weight > 0 else None

    def _guides(self) -> list[list[tuple[int, int]]]:
        """Each training pair's attention targets, from word links cached in the run folder."""
        args = self.args
        word_links = cached_word_links(self.train_pairs, args.src_lang, args.tgt_lang, self.out)
        guides = piece_guides(
            self.train_pairs, word_links, (args.src_lang, args.tgt_lang), (self.src_sp, self.tgt_sp), self.encoded
        )
        guided_rows = sum(len({t for t, _ in guide}) for guide in guides)
        print(
            f"guided alignment: weight {args.guided_alignment_weight}, decay {args.guided_alignment_decay}; "
            f"{guided_rows / sum(len(t) for _, t in self.encoded):.1%} of target positions guided",
            file=sys.stderr,
        )
        return guides

    def _start_fresh(self) -> None:
        args = self.args
        torch.manual_seed(args.seed)
        self.src_spm = train_sentencepiece([s for s, _ in self.train_pairs], args.src_vocab_size, args.spm_model_type)
        self.tgt_spm = train_sentencepiece([t for _, t in self.train_pairs], args.tgt_vocab_size, args.spm_model_type)
        self.src_sp, self.tgt_sp = load_sentencepiece(self.src_spm), load_sentencepiece(self.tgt_spm)
        config = ModelConfig(
            src_vocab_size=self.src_sp.get_piece_size(),
            tgt_vocab_size=self.tgt_sp.get_piece_size(),
            pad_id=PAD_ID,
            unk_id=UNK_ID,
            bos_id=BOS_ID,
            eos_id=EOS_ID,
            **{name: getattr(args, name) for name in MODEL_OPTIONS},
        )
        self.model = Seq2Seq(config)
        self.optimizer = self._make_optimizer()
        self.progress: dict[str, Any] = fresh_progress(args.lr)
        self.out.mkdir(parents=True, exist_ok=True)

    def _start_from(self, path: Path) -> None:
        """A new run whose first weights and vocabularies are a checkpoint's (a finished run's, or a bundle's)."""
        args = self.args
        loaded = load_checkpoint(path)
        if (loaded.src_lang, loaded.tgt_lang) != (args.src_lang, args.tgt_lang):
            raise CheckpointError(f"{path} is {loaded.src_lang}-{loaded.tgt_lang}, not {args.src_lang}-{args.tgt_lang}")
        torch.manual_seed(args.seed)
        self._take(loaded)
        self.progress = fresh_progress(args.lr)
        self.out.mkdir(parents=True, exist_ok=True)
        print(f"starting from the weights of {path}", file=sys.stderr)

    def _take(self, loaded: LoadedCheckpoint) -> None:
        """The checkpoint's network (in training mode) and vocabularies, with a fresh optimizer over it."""
        self.model, self.src_sp, self.tgt_sp = loaded.model, loaded.src_sp, loaded.tgt_sp
        self.src_spm, self.tgt_spm = loaded.src_spm_bytes, loaded.tgt_spm_bytes
        self.model.train()
        self.optimizer = self._make_optimizer()

    def _resume(self, path: Path) -> None:
        loaded = load_checkpoint(path)
        self._take(loaded)
        self.optimizer.load_state_dict(loaded.raw["optimizer"])
        self.progress = loaded.progress
        # a longer --epochs (or a laxer --early-stop) continues a run that had finished
        self.progress["done"] = (
            self.progress["epoch"] >= self.args.epochs or self.progress["stalled"] >= self.args.early_stop
        )
        torch.set_rng_state(loaded.raw["torch_rng"])
        print(f"resuming {path} at epoch {self.progress['epoch'] + 1}, batch {self.progress['batch']}", file=sys.stderr)

    def _make_optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.model.parameters(), lr=self.args.lr, weight_decay=self.args.weight_decay)

    def elapsed(self) -> float:
        return float(self.progress["elapsed_seconds"]) + time.monotonic() - self.started

    def over_budget(self) -> bool:
        return self.args.max_minutes is not None and self.elapsed() > 60 * self.args.max_minutes

    def guide_weight(self) -> float:
        return float(self.args.guided_alignment_weight * self.args.guided_alignment_decay ** self.progress["epoch"])

    def loss(self, batch: Batch) -> tuple[torch.Tensor, int, float | None]:
        """The training loss, the target tokens it covers and the guided-alignment loss (None when off).

        Attention row t is the one that predicts tgt_out[:, t], so it is the row guided by target piece t.
        """
        rate = self.args.word_dropout
        src, tgt_in = drop_words(batch.src, rate), drop_words(batch.tgt_in, rate)
        logits, attention = self.model(src, batch.src_lengths, tgt_in)  # (B, T, V), (B, T, S)
        tokens = int((batch.tgt_out != PAD_ID).sum())
        loss = F.cross_entropy(
            logits.reshape(-1, logits.size(-1)),
            batch.tgt_out.reshape(-1),
            ignore_index=PAD_ID,
            label_smoothing=self.args.label_smoothing,
            reduction="sum",
        )
        loss = loss / tokens
        if self.guides is None:
            return loss, tokens, None
        guide = guide_matrix([self.guides[i] for i in batch.indices], attention.size(1), attention.size(2))
        guide_loss = guided_alignment_loss(attention, guide)
        return loss + self.guide_weight() * guide_loss, tokens, float(guide_loss.detach())

    def run_epoch(self) -> bool:
        """Trains the current epoch from where it stopped; returns False when the budget ran out."""
        epoch = int(self.progress["epoch"])
        epoch_rng = random.Random(self.args.seed * 7919 + epoch)  # each epoch's order is reproducible on resume
        batches = length_bucketed_batches(self.encoded, self.args.batch_size, epoch_rng)
        self.model.train()
        bar = tqdm(
            batches, initial=self.progress["batch"], total=len(batches), desc=f"epoch {epoch + 1}",
            mininterval=1.0 if sys.stderr.isatty() else 30.0, file=sys.stderr,
        )  # fmt: skip
        seen, tick = 0, time.monotonic()
        for indices in batches[self.progress["batch"] :]:
            batch = collate(self.encoded, indices)
            loss, _, guide_loss = self.loss(batch)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.args.clip_norm)
            self.optimizer.step()
            self.progress["batch"] += 1
            self.progress["step"] += 1
            seen += batch.size
            bar.update(1)
            postfix = {"loss": f"{loss.item():.3f}", "sent_s": f"{seen / (time.monotonic() - tick):.0f}"}
            if guide_loss is not None:
                self.note_guide_loss(guide_loss)
                postfix["guide"] = f"{guide_loss:.3f}"
            bar.set_postfix(postfix, refresh=False)
            if self.over_budget():
                bar.close()
                return False
        bar.close()
        self.progress["epoch"] += 1
        self.progress["batch"] = 0
        return True

    def note_guide_loss(self, value: float) -> None:
        """Sums the epoch's guide loss in progress, so that a resumed epoch still reports its whole mean."""
        progress = self.progress
        progress["guide_weight"] = self.guide_weight()
        progress["guide_loss_sum"] = progress.get("guide_loss_sum", 0.0) + value
        progress["guide_batches"] = progress.get("guide_batches", 0) + 1

    def validate(self) -> dict[str, float]:
        sources = [s for s, _ in self.valid_pairs]
        hyps = translate_greedy(self.model, self.src_sp, self.tgt_sp, sources)
        scores = score(hyps, [t for _, t in self.valid_pairs], self.args.tgt_lang)
        return {"cased_bleu": scores.cased_bleu, "comparable_bleu": scores.comparable_bleu}

    def after_validation(self, scores: dict[str, float]) -> None:
        progress = self.progress
        entry = {"epoch": progress["epoch"], "step": progress["step"], "lr": progress["lr"], **scores}
        if progress.get("guide_batches"):
            entry["guide_weight"] = progress["guide_weight"]
            entry["guide_loss"] = round(progress["guide_loss_sum"] / progress["guide_batches"], 4)
            if progress["batch"] == 0:  # the epoch is whole; the next one sums afresh
                progress.update(guide_loss_sum=0.0, guide_batches=0)
        entry["elapsed_seconds"] = round(self.elapsed(), 1)
        progress["history"].append(entry)
        improved = scores["comparable_bleu"] > progress["best_bleu"]
        print(
            f"validation after epoch {progress['epoch']} (batch {progress['batch']}): cased {scores['cased_bleu']:.2f}"
            f" | comparable {scores['comparable_bleu']:.2f}{' (best)' if improved else ''}",
            file=sys.stderr,
        )
        if improved:
            progress.update(best_bleu=scores["comparable_bleu"], best_epoch=progress["epoch"], stalled=0)
            progress["best_scores"] = scores
            self.save(self.out / "best.pt", with_optimizer=False)
        elif progress["batch"] == 0:  # only a whole epoch counts as stalling
            progress["stalled"] += 1
            if progress["stalled"] % self.args.patience == 0:
                progress["lr"] *= self.args.lr_decay
                for group in self.optimizer.param_groups:
                    group["lr"] = progress["lr"]
            if progress["stalled"] >= self.args.early_stop:
                progress["done"] = True
        if progress["epoch"] >= self.args.epochs:
            progress["done"] = True

    def save(self, path: Path, with_optimizer: bool) -> None:
        now = time.monotonic()
        self.progress["elapsed_seconds"] += now - self.started
        self.started = now
        extra: dict[str, Any] = {}
        if with_optimizer:
            extra = {"optimizer": self.optimizer.state_dict(), "torch_rng": torch.get_rng_state()}
        train_args = {k: v for k, v in vars(self.args).items() if k != "threads"}
        payload = build_payload(
            self.model, self.args.src_lang, self.args.tgt_lang, self.src_spm, self.tgt_spm,
            train_args, dict(self.progress), **extra,
        )  # fmt: skip
        save_checkpoint(path, payload)

    def save_last(self) -> None:
        self.save(self.out / "last.pt", with_optimizer=True)
        (self.out / "history.json").write_text(json.dumps(self.progress["history"], indent=1) + "\n")

    def fit(self) -> dict[str, Any]:
        print(
            f"{len(self.train_pairs)} training pairs, {len(self.valid_pairs)} validation pairs, "
            f"{self.model.num_parameters():,} parameters, vocabularies {self.model.config.src_vocab_size}"
            f"/{self.model.config.tgt_vocab_size}",
            file=sys.stderr,
        )
        while not self.progress["done"]:
            finished_epoch = self.run_epoch()
            self.after_validation(self.validate())
            self.save_last()
            if finished_epoch and self.args.epoch_checkpoints:
                self.save(self.out / f"epoch-{self.progress['epoch']:02d}.pt", with_optimizer=False)
            if not finished_epoch:
                print(f"stopped at the {self.args.max_minutes}-minute budget; run again to resume", file=sys.stderr)
                break
        return self.progress


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parse_args(argv)
        torch.set_num_threads(max(1, args.threads))
        progress = Trainer(args).fit()
    except (UsageError, CorpusError, CheckpointError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps({k: progress[k] for k in ("epoch", "best_epoch", "best_bleu", "elapsed_seconds")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
