"""ROC AUC and `python -m export.confidence_eval` over the tiny bundle."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from export.confidence_eval import main, of_length, roc_auc
from model.cli import UsageError
from tests.tiny_corpus import PAIRS

PARLIAMENT = [
    "mr president , the committee adopted the budget resolution yesterday .",
    "honourable senators , the motion before the house concerns fiscal transfers .",
    "we must ratify the intergovernmental conference protocols without delay .",
    "the minister of finance tabled amendments to the pension legislation .",
]


def test_roc_auc_is_the_chance_a_trusted_score_beats_a_distrusted_one() -> None:
    assert roc_auc([3.0, 4.0], [1.0, 2.0]) == 1.0
    assert roc_auc([1.0, 2.0], [3.0, 4.0]) == 0.0
    # pairs: (1 vs 1) tie 0.5, (1 vs 3) 0, (4 vs 1) 1, (4 vs 3) 1 -> 2.5 / 4
    assert roc_auc([1.0, 4.0], [1.0, 3.0]) == 0.625


def test_of_length_keeps_sentences_of_so_many_words() -> None:
    assert of_length(["a b", "a b c", "a"], "2,3") == ["a b", "a b c"]
    with pytest.raises(UsageError, match="no sentence has 5 to 9 words"):
        of_length(["a b"], "5,9")
    with pytest.raises(UsageError, match="MIN,MAX"):
        of_length(["a b"], "5")


def test_the_command_separates_the_training_sentences_from_parliament_text(
    tiny_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inside, outside = tmp_path / "captions.en", tmp_path / "parliament.en"
    inside.write_text("".join(source + "\n" for source, _ in PAIRS), encoding="utf-8")
    outside.write_text("".join(line + "\n" for line in PARLIAMENT), encoding="utf-8")
    arguments = ["--bundle", str(tiny_bundle), "--in-domain", str(inside), "--out-of-domain", str(outside)]
    cased = tmp_path / "train.en.gz"  # recases the lowercased captions back to how the model learned them
    with gzip.open(cased, "wt", encoding="utf-8") as out:
        out.write("".join(source + "\n" for source, _ in PAIRS))
    arguments += ["--recase-corpus", str(cased), "--cache-dir", str(tmp_path / "cache")]
    assert main(arguments) == 0
    rows = {row["signal"]: row for row in map(json.loads, capsys.readouterr().out.splitlines())}
    assert set(rows) == {"mean_log_prob", "attention_entropy"}
    for row in rows.values():
        assert (row["in_domain"], row["out_of_domain"]) == (len(PAIRS), len(PARLIAMENT))
        assert 0.0 <= row["roc_auc"] <= 1.0
    log_prob = rows["mean_log_prob"]
    assert log_prob["in_domain_mean"] > log_prob["out_of_domain_mean"] and log_prob["roc_auc"] > 0.9


def test_the_command_refuses_bad_input(tiny_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.en"
    assert main(["--bundle", str(tiny_bundle), "--in-domain", str(missing), "--out-of-domain", str(missing)]) == 2
    assert "no such file" in capsys.readouterr().err
