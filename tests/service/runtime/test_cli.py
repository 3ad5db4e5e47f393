"""`python -m service translate` as a user runs it: a real subprocess over the real tiny bundle."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.tiny_corpus import PAIRS

REPO = Path(__file__).resolve().parents[3]


def run_cli(args: list[str], stdin: bytes | str) -> subprocess.CompletedProcess[bytes]:
    data = stdin.encode("utf-8") if isinstance(stdin, str) else stdin
    return subprocess.run(
        [sys.executable, "-m", "service", *args], cwd=REPO, input=data, capture_output=True, timeout=300
    )


def translate(bundle: Path, *options: str) -> list[str]:
    return ["translate", "--model", bundle.name, "--models-dir", str(bundle.parent), *options]


def test_text_output_has_one_line_per_input_line_in_order(tiny_bundle: Path) -> None:
    pairs = PAIRS[:5]
    lines = [pairs[0][0], "", pairs[1][0], "   ", *[s for s, _ in pairs[2:]]]
    result = run_cli(translate(tiny_bundle, "--beam-size", "3", "--batch-size", "2"), "\n".join(lines) + "\n")
    assert result.returncode == 0, result.stderr
    expected = [pairs[0][1], "", pairs[1][1], "", *[t for _, t in pairs[2:]]]
    assert result.stdout.decode("utf-8").split("\n") == [*expected, ""]
    assert result.stderr == b""  # short input: no progress bar


def test_jsonl_output_carries_tokens_score_attention_and_alignment(tiny_bundle: Path) -> None:
    source = PAIRS[3][0]
    result = run_cli(
        translate(tiny_bundle, "--format", "jsonl", "--n-best", "2", "--beam-size", "2"), f"{source}\r\n\n"
    )
    assert result.returncode == 0, result.stderr
    first, blank = (json.loads(line) for line in result.stdout.decode("utf-8").splitlines())
    assert first["line"] == 1 and first["source"] == source and first["text"] == PAIRS[3][1]
    assert first["source_tokens"][-1] == first["target_tokens"][-1] == "</s>"
    attention = first["attention"]
    assert len(attention) == len(first["target_tokens"]) and {len(row) for row in attention} == {
        len(first["source_tokens"])
    }
    assert all(abs(sum(row) - 1.0) < 1e-4 for row in attention)
    assert first["target_words"] == first["text"].split() and first["source_words"] == source.split()
    links = [tuple(map(int, link.split("-"))) for link in first["alignment"].split()]
    assert links and all(0 <= i < len(first["source_words"]) and 0 <= j < len(first["target_words"]) for i, j in links)
    assert isinstance(first["score"], float) and first["score"] < 0 and first["truncated"] is False
    assert [h["score"] for h in first["n_best"]] == sorted((h["score"] for h in first["n_best"]), reverse=True)
    assert len(first["n_best"]) == 2 and first["n_best"][0]["text"] == first["text"]
    assert blank == {"line": 2, "source": "", "error": "empty line"}


def test_long_input_shows_progress_on_stderr(tiny_bundle: Path) -> None:
    lines = [PAIRS[i % len(PAIRS)][0] for i in range(150)]
    result = run_cli(translate(tiny_bundle, "--beam-size", "1"), "\n".join(lines))  # no final newline
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode("utf-8").splitlines() == [PAIRS[i % len(PAIRS)][1] for i in range(150)]
    assert "150/150 lines" in result.stderr.decode("utf-8")


def test_undecodable_input_bytes_do_not_stop_the_run(tiny_bundle: Path) -> None:
    result = run_cli(translate(tiny_bundle), b"A man \xff\xfe is riding a bike.\n" + PAIRS[0][0].encode() + b"\n")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.decode("utf-8").splitlines()) == 2


def test_an_unknown_model_is_a_one_line_error(tiny_bundle: Path) -> None:
    result = run_cli(["translate", "--model", "xx-yy", "--models-dir", str(tiny_bundle.parent)], "A man.\n")
    assert result.returncode == 2
    assert result.stderr.decode("utf-8") == (
        f"error: no model 'xx-yy' in {tiny_bundle.parent} (available: {tiny_bundle.name})\n"
    )


def test_bad_options_are_one_line_errors(tiny_bundle: Path) -> None:
    result = run_cli(translate(tiny_bundle, "--beam-size", "2", "--n-best", "3"), "A man.\n")
    assert result.returncode == 2
    assert result.stderr.decode("utf-8").startswith("error: need 1 <= --n-best (3) <= --beam-size (2)")
    result = run_cli(translate(tiny_bundle, "--batch-size", "0"), "A man.\n")
    assert result.returncode == 2 and b"--batch-size: 0 is not a positive integer" in result.stderr


def test_a_damaged_bundle_is_a_one_line_error(bundle_copy: Path) -> None:
    (bundle_copy / "target.spm").unlink()
    result = run_cli(translate(bundle_copy), "A man.\n")
    assert result.returncode == 2
    assert result.stderr.decode("utf-8") == "error: en-de/target.spm: missing (listed in manifest.json)\n"


def test_the_command_dispatcher(tiny_bundle: Path) -> None:
    assert run_cli([], "").returncode == 2
    assert b"translate" in run_cli([], "").stderr
    unknown = run_cli(["frobnicate"], "")
    assert unknown.returncode == 2 and b"unknown command 'frobnicate'" in unknown.stderr
    helped = run_cli(["translate", "--help"], "")
    assert helped.returncode == 0 and b"--models-dir" in helped.stdout
