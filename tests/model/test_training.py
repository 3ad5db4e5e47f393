"""Training end to end on a tiny corpus: it learns, it saves what it needs, it resumes, it refuses bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from model.checkpoint import load_checkpoint
from model.data import BOS_ID, EOS_ID, PAD_ID, UNK_ID
from model.decode import translate_greedy
from model.train import drop_words, main
from tests.tiny_corpus import PAIRS, TINY_MODEL_ARGS

REPO = Path(__file__).resolve().parents[2]


def train_args(corpus: tuple[Path, Path], out: Path, *extra: str) -> list[str]:
    src, tgt = corpus
    return [
        "--src-lang", "en", "--tgt-lang", "de", "--train-src", str(src), "--train-tgt", str(tgt),
        "--valid-src", str(src), "--valid-tgt", str(tgt), "--out", str(out), *TINY_MODEL_ARGS, *extra,
    ]  # fmt: skip


def test_small_model_overfits_until_greedy_reproduces_every_target(tiny_checkpoint: Path) -> None:
    loaded = load_checkpoint(tiny_checkpoint)
    outputs = translate_greedy(loaded.model, loaded.src_sp, loaded.tgt_sp, [s for s, _ in PAIRS])
    assert outputs == [t for _, t in PAIRS]


def test_checkpoint_rebuilds_an_identical_model_with_no_other_file(tiny_checkpoint: Path, tmp_path: Path) -> None:
    moved = tmp_path / "elsewhere.pt"
    moved.write_bytes(tiny_checkpoint.read_bytes())
    original, rebuilt = load_checkpoint(tiny_checkpoint), load_checkpoint(moved)
    src = torch.tensor([[*original.src_sp.encode(PAIRS[3][0]), 3]])
    lengths = torch.tensor([src.size(1)])
    tgt_in = torch.tensor([[2, *original.tgt_sp.encode(PAIRS[3][1])]])
    with torch.no_grad():
        logits_a, attention_a = original.model(src, lengths, tgt_in)
        logits_b, attention_b = rebuilt.model(src, lengths, tgt_in)
    assert torch.equal(logits_a, logits_b) and torch.equal(attention_a, attention_b)
    assert rebuilt.src_sp.encode(PAIRS[0][0]) == original.src_sp.encode(PAIRS[0][0])
    assert rebuilt.model.config == original.model.config


def test_same_seed_gives_the_same_weights_and_guide_weight_0_is_unguided(
    tiny_corpus: tuple[Path, Path], tmp_path: Path
) -> None:
    assert main(train_args(tiny_corpus, tmp_path / "a", "--epochs", "2")) == 0
    assert main(train_args(tiny_corpus, tmp_path / "b", "--epochs", "2", "--guided-alignment-weight", "0")) == 0
    assert not list((tmp_path / "b").glob("word-links-*"))  # weight 0 never runs the aligner
    a, b = load_checkpoint(tmp_path / "a" / "last.pt"), load_checkpoint(tmp_path / "b" / "last.pt")
    assert "guide_loss" not in json.loads((tmp_path / "b" / "history.json").read_text())[-1]
    for (name, pa), (_, pb) in zip(a.model.state_dict().items(), b.model.state_dict().items(), strict=True):
        assert torch.equal(pa, pb), name


def test_resumed_run_matches_an_uninterrupted_one(tiny_corpus: tuple[Path, Path], tmp_path: Path) -> None:
    assert main(train_args(tiny_corpus, tmp_path / "straight", "--epochs", "3")) == 0
    assert main(train_args(tiny_corpus, tmp_path / "resumed", "--epochs", "1")) == 0
    assert main(train_args(tiny_corpus, tmp_path / "resumed", "--epochs", "3")) == 0
    straight = load_checkpoint(tmp_path / "straight" / "last.pt")
    resumed = load_checkpoint(tmp_path / "resumed" / "last.pt")
    assert resumed.progress["epoch"] == straight.progress["epoch"] == 3
    resumed_weights = resumed.model.state_dict()
    for name, weight in straight.model.state_dict().items():
        assert torch.allclose(weight, resumed_weights[name], atol=1e-6), name


def test_time_budget_stops_cleanly_with_a_best_checkpoint(tiny_corpus: tuple[Path, Path], tmp_path: Path) -> None:
    assert main(train_args(tiny_corpus, tmp_path, "--epochs", "500", "--max-minutes", "0.02")) == 0
    best, last = load_checkpoint(tmp_path / "best.pt"), load_checkpoint(tmp_path / "last.pt")
    assert last.progress["epoch"] < 500 and not last.progress["done"]
    assert best.progress["best_bleu"] >= 0.0
    assert (tmp_path / "history.json").is_file()


def test_word_dropout_replaces_only_real_tokens_by_unk_at_the_given_rate() -> None:
    torch.manual_seed(0)
    ids = torch.randint(4, 500, (64, 40))
    ids[:, 0], ids[:, 30], ids[:, 31:] = BOS_ID, EOS_ID, PAD_ID
    assert torch.equal(drop_words(ids, 0.0), ids)
    dropped = drop_words(ids, 0.25)
    changed = dropped != ids
    assert torch.all(dropped[changed] == UNK_ID)
    assert not changed[:, 0].any() and not changed[:, 30:].any()
    assert abs(changed[:, 1:30].float().mean().item() - 0.25) < 0.02


def test_config_file_supplies_options(tiny_corpus: tuple[Path, Path], tmp_path: Path) -> None:
    src, tgt = tiny_corpus
    options = dict(zip(TINY_MODEL_ARGS[::2], TINY_MODEL_ARGS[1::2], strict=True))
    options.update({"--emb-dim": "24", "--readout-dim": "24", "--epochs": "1"})
    lines = [f"{name[2:]} = {value}" for name, value in options.items()]
    lines += [f'{key} = "{value}"' for key, value in [
        ("src-lang", "en"), ("tgt-lang", "de"), ("train-src", src), ("train-tgt", tgt),
        ("valid-src", src), ("valid-tgt", tgt), ("score", "general"),
    ]]  # fmt: skip
    config = tmp_path / "run.toml"
    config.write_text("\n".join(lines) + "\n")
    assert main(["--config", str(config), "--out", str(tmp_path / "run")]) == 0
    loaded = load_checkpoint(tmp_path / "run" / "best.pt")
    assert loaded.model.config.score == "general" and loaded.model.config.emb_dim == 24


def test_config_file_with_an_unknown_key_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "run.toml"
    config.write_text('src-lang = "en"\nhidden-size = 3\n')
    result = run_cli("--config", str(config), "--out", str(tmp_path / "run"))
    assert result.returncode != 0 and "unknown option(s) hidden_size" in result.stderr


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "model.train", *args], cwd=REPO, capture_output=True, text=True)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing", "no such file"),
        ("unequal", "has 3 lines but"),
        ("empty", "no non-empty sentence pair"),
        ("score", "invalid choice: 'cosine'"),
    ],
)
def test_bad_input_exits_non_zero_with_one_line_and_no_traceback(tmp_path: Path, case: str, expected: str) -> None:
    src, tgt = tmp_path / "a.en", tmp_path / "a.de"
    src.write_text("one\ntwo\nthree\n")
    tgt.write_text({"unequal": "eins\nzwei\n", "empty": "\n\n\n"}.get(case, "eins\nzwei\ndrei\n"))
    if case == "empty":
        src.write_text("\n \n\n")
    train_src = tmp_path / "missing.en" if case == "missing" else src
    extra = ["--score", "cosine"] if case == "score" else []
    result = run_cli(
        "--src-lang", "en", "--tgt-lang", "de", "--train-src", str(train_src), "--train-tgt", str(tgt),
        "--valid-src", str(src), "--valid-tgt", str(tgt), "--out", str(tmp_path / "out"), *extra,
    )  # fmt: skip
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_a_run_started_from_a_checkpoint_begins_with_its_weights_and_vocabularies(
    tiny_corpus: tuple[Path, Path], tiny_checkpoint: Path, tmp_path: Path
) -> None:
    """Fine-tuning: at a learning rate too small to move anything, one epoch leaves the weights where they started
    and validates as the finished model does, far above what one epoch from scratch reaches."""
    start = load_checkpoint(tiny_checkpoint)
    out = tmp_path / "tuned"
    assert (
        main(train_args(tiny_corpus, out, "--epochs", "1", "--lr", "1e-12", "--init-from", str(tiny_checkpoint))) == 0
    )
    tuned = load_checkpoint(out / "last.pt")
    assert tuned.src_spm_bytes == start.src_spm_bytes and tuned.tgt_spm_bytes == start.tgt_spm_bytes
    weights = tuned.model.state_dict()
    for name, weight in start.model.state_dict().items():
        assert torch.allclose(weight, weights[name], atol=1e-6), name
    assert tuned.progress["epoch"] == 1 and len(tuned.progress["history"]) == 1
    assert tuned.progress["history"][0]["comparable_bleu"] > 90
    assert main(train_args(tiny_corpus, tmp_path / "scratch", "--epochs", "1")) == 0
    assert load_checkpoint(tmp_path / "scratch" / "last.pt").progress["best_bleu"] < 50


def test_a_checkpoint_of_another_language_pair_is_refused(tiny_checkpoint: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "c.en", tmp_path / "c.fr"
    for path in corpus:
        path.write_text("a b c\n", encoding="utf-8")
    args = train_args(corpus, tmp_path / "out", "--init-from", str(tiny_checkpoint))
    args[args.index("de")] = "fr"
    assert main(args) == 2
