"""model.average: the mean of a run's checkpoints, as a checkpoint that describes itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from model.average import main
from model.checkpoint import build_payload, load_checkpoint, save_checkpoint
from model.model import ModelConfig, Seq2Seq


def _shifted_copy(source: Path, target: Path, shift: float, epoch: int) -> None:
    """A copy of `source` with every floating weight moved by `shift`, claiming to be `epoch`."""
    loaded = load_checkpoint(source)
    with torch.no_grad():
        for parameter in loaded.model.parameters():  # each once: the tied embedding is one parameter
            parameter.add_(shift)
    progress = {**loaded.progress, "epoch": epoch}
    payload = build_payload(
        loaded.model, loaded.src_lang, loaded.tgt_lang, loaded.src_spm_bytes, loaded.tgt_spm_bytes,
        loaded.train_args, progress,
    )  # fmt: skip
    save_checkpoint(target, payload)


def test_the_average_holds_the_mean_weights_and_names_its_epochs(tiny_checkpoint: Path, tmp_path: Path) -> None:
    low, high = tmp_path / "epoch-07.pt", tmp_path / "epoch-09.pt"
    _shifted_copy(tiny_checkpoint, low, -0.25, epoch=7)
    _shifted_copy(tiny_checkpoint, high, 0.75, epoch=9)
    out = tmp_path / "avg.pt"

    assert main([str(low), str(high), "--out", str(out)]) == 0

    original = load_checkpoint(tiny_checkpoint).model.state_dict()
    averaged = load_checkpoint(out)
    for name, tensor in averaged.model.state_dict().items():
        expected = original[name] + 0.25 if tensor.is_floating_point() else original[name]
        torch.testing.assert_close(tensor, expected, rtol=0, atol=1e-6)
    assert averaged.progress["averaged_from"] == [7, 9]
    assert averaged.progress["epoch"] == 9  # the newest input's record
    assert averaged.model.config == load_checkpoint(tiny_checkpoint).model.config


def test_averaging_one_checkpoint_gives_it_back_and_scores_on_validation(
    tiny_checkpoint: Path, tiny_corpus: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "avg.pt"
    src, tgt = tiny_corpus
    assert main([str(tiny_checkpoint), "--out", str(out), "--valid-src", str(src), "--valid-tgt", str(tgt)]) == 0
    printed = json.loads(capsys.readouterr().out)
    recorded = load_checkpoint(tiny_checkpoint).progress["history"][-1]["comparable_bleu"]
    assert printed[tiny_checkpoint.name] == round(recorded, 2)  # the run's own record, not decoded again
    assert printed["average"] == pytest.approx(recorded, abs=0.01)  # one checkpoint averages to itself
    before, after = load_checkpoint(tiny_checkpoint).model.state_dict(), load_checkpoint(out).model.state_dict()
    for name, tensor in after.items():
        torch.testing.assert_close(tensor, before[name], rtol=0, atol=1e-7)


def test_checkpoints_of_different_models_are_refused(
    tiny_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    loaded = load_checkpoint(tiny_checkpoint)
    config = ModelConfig.from_dict({**loaded.model.config.to_dict(), "dec_hidden": loaded.model.config.dec_hidden + 8})
    other = tmp_path / "other.pt"
    payload = build_payload(
        Seq2Seq(config), loaded.src_lang, loaded.tgt_lang, loaded.src_spm_bytes, loaded.tgt_spm_bytes,
        loaded.train_args, loaded.progress,
    )  # fmt: skip
    save_checkpoint(other, payload)
    out = tmp_path / "avg.pt"

    assert main([str(tiny_checkpoint), str(other), "--out", str(out)]) == 2
    assert "model configuration differs" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["missing.pt", "--out", "avg.pt"], "no such checkpoint"),
        (["--out", "avg.pt"], "arguments are required"),
        (["{ckpt}", "--out", "avg.pt", "--valid-src", "x"], "go together"),
    ],
)
def test_bad_command_lines_exit_2_with_one_line(
    arguments: list[str], message: str, tiny_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [a.replace("{ckpt}", str(tiny_checkpoint)).replace("avg.pt", str(tmp_path / "avg.pt")) for a in arguments]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
