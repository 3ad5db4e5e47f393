"""Average the weights of several checkpoints of one run into one checkpoint.

    python -m model.average --out runs/en-de/avg.pt runs/en-de/epoch-17.pt runs/en-de/epoch-18.pt ... \\
        [--valid-src val.en.gz --valid-tgt val.de.gz]

The last epochs of a run sit near one optimum, and their mean usually translates a little better than
any one of them (Vaswani et al. 2017 average their last checkpoints). The checkpoints must share the
model configuration and both vocabularies. The result describes itself like any checkpoint: the
configuration, vocabularies and training record of the newest input, plus `progress["averaged_from"]`
naming the epochs that went in. With --valid-src/--valid-tgt it prints the greedy validation BLEU of
the average beside each input's (the one its run recorded after that epoch, else decoded anew), so that
the set to average is chosen on validation data.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from model.checkpoint import CheckpointError, LoadedCheckpoint, build_payload, load_checkpoint, save_checkpoint
from model.cli import OneLineParser, UsageError
from model.data import CorpusError, read_parallel
from model.decode import translate_greedy
from model.evaluate import Scores, score


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="python -m model.average", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+", type=Path, help="checkpoints of one run, e.g. its epoch-NN.pt")
    parser.add_argument("--out", required=True, type=Path, help="the averaged checkpoint to write")
    parser.add_argument("--valid-src", type=Path, help="validation source, to score the average greedily")
    parser.add_argument("--valid-tgt", type=Path, help="validation reference")
    return parser


def check_compatible(first: LoadedCheckpoint, other: LoadedCheckpoint, name: str) -> None:
    if other.model.config != first.model.config:
        raise CheckpointError(f"{name}: its model configuration differs from the first checkpoint's")
    if (other.src_spm_bytes, other.tgt_spm_bytes) != (first.src_spm_bytes, first.tgt_spm_bytes):
        raise CheckpointError(f"{name}: its vocabularies differ from the first checkpoint's")


def average_state(states: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The element-wise mean of floating-point tensors; other tensors are taken from the first state."""
    averaged: dict[str, torch.Tensor] = {}
    for key, first in states[0].items():
        if first.is_floating_point():
            averaged[key] = torch.stack([state[key].to(torch.float64) for state in states]).mean(0).to(first.dtype)
        else:
            averaged[key] = first.clone()
    return averaged


def average_checkpoints(
    paths: Sequence[Path], loaded: Sequence[LoadedCheckpoint]
) -> tuple[LoadedCheckpoint, dict[str, Any]]:
    """The newest checkpoint with its weights replaced by the mean of all, and its payload to save."""
    for path, other in zip(paths[1:], loaded[1:], strict=True):
        check_compatible(loaded[0], other, str(path))
    newest = max(loaded, key=lambda checkpoint: int(checkpoint.progress.get("epoch", 0)))
    newest.model.load_state_dict(average_state([checkpoint.model.state_dict() for checkpoint in loaded]))
    progress = {
        **newest.progress,
        "averaged_from": sorted(int(checkpoint.progress.get("epoch", 0)) for checkpoint in loaded),
    }
    payload = build_payload(
        newest.model, newest.src_lang, newest.tgt_lang, newest.src_spm_bytes, newest.tgt_spm_bytes,
        newest.train_args, progress,
    )  # fmt: skip
    return newest, payload


def greedy_scores(checkpoint: LoadedCheckpoint, valid_src: Path, valid_tgt: Path) -> Scores:
    pairs = read_parallel(valid_src, valid_tgt)
    hyps = translate_greedy(checkpoint.model, checkpoint.src_sp, checkpoint.tgt_sp, [s for s, _ in pairs])
    return score(hyps, [t for _, t in pairs], checkpoint.tgt_lang)


def recorded_bleu(checkpoint: LoadedCheckpoint) -> float | None:
    """The comparable validation BLEU the run recorded right after this checkpoint's epoch, if it did."""
    history = checkpoint.progress.get("history") or []
    last = history[-1] if history else {}
    if last.get("epoch") == checkpoint.progress.get("epoch") and "comparable_bleu" in last:
        return float(last["comparable_bleu"])
    return None


def input_bleu(checkpoint: LoadedCheckpoint, valid_src: Path, valid_tgt: Path) -> float:
    recorded = recorded_bleu(checkpoint)
    return recorded if recorded is not None else greedy_scores(checkpoint, valid_src, valid_tgt).comparable_bleu


def run(argv: Sequence[str] | None) -> None:
    args = build_parser().parse_args(argv)
    if (args.valid_src is None) != (args.valid_tgt is None):
        raise UsageError("--valid-src and --valid-tgt go together")
    loaded = [load_checkpoint(path) for path in args.checkpoints]
    inputs: dict[str, float] = {}
    if args.valid_src is not None:  # before averaging, which overwrites the newest input's weights
        named = zip(args.checkpoints, loaded, strict=True)
        inputs = {path.name: input_bleu(checkpoint, args.valid_src, args.valid_tgt) for path, checkpoint in named}
    averaged, payload = average_checkpoints(args.checkpoints, loaded)
    save_checkpoint(args.out, payload)
    epochs = payload["progress"]["averaged_from"]
    print(f"wrote {args.out}: the mean of epochs {', '.join(map(str, epochs))}", file=sys.stderr)
    if args.valid_src is not None:
        result = {"average": greedy_scores(averaged, args.valid_src, args.valid_tgt).comparable_bleu, **inputs}
        print(json.dumps({name: round(value, 2) for name, value in result.items()}))


def main(argv: Sequence[str] | None = None) -> int:
    try:
        run(argv)
    except (UsageError, CheckpointError, CorpusError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
