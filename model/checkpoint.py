"""Self-describing checkpoints: weights, model_args and both SentencePiece models in one file."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sentencepiece as spm
import torch

from model.data import load_sentencepiece
from model.model import ModelConfig, Seq2Seq

CHECKPOINT_FORMAT = "heed-checkpoint/1"


class CheckpointError(ValueError):
    """A file that is not a usable heed checkpoint."""


@dataclass
class LoadedCheckpoint:
    model: Seq2Seq
    src_sp: spm.SentencePieceProcessor
    tgt_sp: spm.SentencePieceProcessor
    src_lang: str
    tgt_lang: str
    src_spm_bytes: bytes
    tgt_spm_bytes: bytes
    train_args: dict[str, Any] = field(default_factory=dict)
    progress: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)  # optimizer and rng state, for resuming


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Writes atomically, so an interrupted run never leaves a half-written checkpoint."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save({"format": CHECKPOINT_FORMAT, **payload}, tmp)
    os.replace(tmp, path)


def build_payload(
    model: Seq2Seq,
    src_lang: str,
    tgt_lang: str,
    src_spm: bytes,
    tgt_spm: bytes,
    train_args: dict[str, Any],
    progress: dict[str, Any],
    **extra: Any,
) -> dict[str, Any]:
    return {
        "model_args": model.config.to_dict(),
        "model": model.state_dict(),
        "src_lang": src_lang,
        "tgt_lang": tgt_lang,
        "src_spm": src_spm,
        "tgt_spm": tgt_spm,
        "train_args": train_args,
        "progress": progress,
        **extra,
    }


def load_checkpoint(path: str | Path) -> LoadedCheckpoint:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # torch raises many unrelated types for a bad file
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(error).__name__})") from None
    if not isinstance(raw, dict) or raw.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a {CHECKPOINT_FORMAT} file")
    model = Seq2Seq(ModelConfig.from_dict(raw["model_args"]))
    model.load_state_dict(raw["model"])
    model.eval()
    return LoadedCheckpoint(
        model=model,
        src_sp=load_sentencepiece(raw["src_spm"]),
        tgt_sp=load_sentencepiece(raw["tgt_spm"]),
        src_lang=raw["src_lang"],
        tgt_lang=raw["tgt_lang"],
        src_spm_bytes=raw["src_spm"],
        tgt_spm_bytes=raw["tgt_spm"],
        train_args=raw.get("train_args", {}),
        progress=raw.get("progress", {}),
        raw=raw,
    )
