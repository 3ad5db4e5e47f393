"""`python -m export` as a user runs it: one-line errors with non-zero exits, and full int8 exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import onnx
import pytest
import torch

from export.manifest import read_manifest, verify_files
from service.runtime import ModelRegistry, Translator
from tests.tiny_corpus import PAIRS

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "export", *map(str, args)]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600, check=False)


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int, *fragments: str) -> None:
    """Progress lines may precede it, but the failure itself is exactly one line, the last, and no traceback."""
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert errors == lines[-1:], result.stderr
    assert all(line.startswith("export: ") for line in lines[:-1]), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in errors[0]


def test_missing_checkpoint(tmp_path: Path) -> None:
    result = run_cli("--checkpoint", tmp_path / "nope.pt", "--out", tmp_path / "artifacts" / "en-de")
    assert_one_line_error(result, 2, "nope.pt: no such checkpoint")
    assert not (tmp_path / "artifacts").exists()


def test_a_file_that_is_not_a_checkpoint(tmp_path: Path) -> None:
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint\n")
    assert_one_line_error(run_cli("--checkpoint", text, "--out", tmp_path / "a"), 2, "not a readable checkpoint")
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    assert_one_line_error(run_cli("--checkpoint", other, "--out", tmp_path / "b"), 2, "not a heed-checkpoint/1 file")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_checkpoint_with_the_right_tag_but_broken_contents(tiny_checkpoint: Path, tmp_path: Path) -> None:
    raw = torch.load(tiny_checkpoint, map_location="cpu", weights_only=False)
    del raw["model"]["generator.bias"]
    broken = tmp_path / "broken.pt"
    torch.save(raw, broken)
    assert_one_line_error(run_cli("--checkpoint", broken, "--out", tmp_path / "out"), 2, "not a usable checkpoint")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ((), "the following arguments are required: --checkpoint, --out"),
        (("--checkpoint", "x.pt", "--out", "o", "--quantize", "int4"), "invalid choice: 'int4'"),
        (("--checkpoint", "x.pt", "--out", "o", "--precision", "int4"), "invalid choice: 'int4'"),
        (("--checkpoint", "x.pt", "--out", "o", "--valid-src", "v.en"), "--valid-src and --valid-tgt go together"),
        (("--checkpoint", "x.pt", "--out", "o", "--opset", "eleven"), "invalid int value"),
        (("--checkpoint", "x.pt", "--out", "o", "--min-int8-agreement", "1.5"), "between 0 and 1"),
    ],
)
def test_bad_command_lines(args: tuple[str, ...], fragment: str) -> None:
    assert_one_line_error(run_cli(*args), 2, fragment)


def test_unsupported_opset_and_missing_sentence_file(tiny_checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "artifacts" / "en-de"
    result = run_cli("--checkpoint", tiny_checkpoint, "--out", out, "--opset", "9")
    assert_one_line_error(result, 2, "--opset must be 14-20, got 9")
    result = run_cli("--checkpoint", tiny_checkpoint, "--out", out, "--check-src", tmp_path / "missing.en")
    assert_one_line_error(result, 2, "missing.en: no such file")
    assert not out.exists()


def test_existing_bundle_needs_force(tiny_checkpoint: Path, tiny_bundle: Path) -> None:
    before = (tiny_bundle / "manifest.json").read_bytes()
    result = run_cli("--checkpoint", tiny_checkpoint, "--out", tiny_bundle)
    assert_one_line_error(result, 2, "already exists; pass --force")
    assert (tiny_bundle / "manifest.json").read_bytes() == before


def test_a_failed_self_check_exits_one_with_the_parity_error(tiny_checkpoint: Path, tmp_path: Path) -> None:
    raw = torch.load(tiny_checkpoint, map_location="cpu", weights_only=False)
    raw["model"]["decoder.readout.weight"][0, 0] = float("nan")  # as a diverged training run leaves it
    diverged = tmp_path / "diverged.pt"
    torch.save(raw, diverged)
    out = tmp_path / "artifacts" / "en-de"
    result = run_cli("--checkpoint", diverged, "--out", out)
    assert_one_line_error(result, 1, "ParityError", "non-finite values")
    assert not out.exists() and list(out.parent.iterdir()) == []


def export_scored(checkpoint: Path, corpus: tuple[Path, Path], out: Path, *options: str) -> str:
    """Exports with 12 check sentences and greedy BLEU on the tiny corpus; the export's stdout, once it succeeded."""
    src, tgt = corpus
    result = run_cli(
        "--checkpoint", checkpoint, "--out", out, *options,
        "--valid-src", src, "--valid-tgt", tgt, "--check-src", src, "--check-limit", "12",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "parity with PyTorch: 12 sentences" in result.stdout
    assert "float32 BLEU: cased sacreBLEU 100.00" in result.stdout
    return result.stdout


def assert_bleu_change_recorded(stdout: str, int8_manifest: dict[str, Any]) -> None:
    """One "BLEU change" line, agreeing with the int8 scores the manifest records (float32 scored 100)."""
    change = [line for line in stdout.splitlines() if "BLEU change (int8 - float32)" in line]
    assert len(change) == 1
    assert f"cased {int8_manifest['metrics']['val']['cased_bleu'] - 100.0:+.2f}" in change[0]


def test_int8_export_reports_the_bleu_change(
    tiny_checkpoint: Path, tiny_corpus: tuple[Path, Path], tmp_path: Path
) -> None:
    out = tmp_path / "artifacts" / "en-de"
    stdout = export_scored(tiny_checkpoint, tiny_corpus, out, "--quantize", "int8")
    assert f"wrote {out} (en-de " in stdout and f"wrote {out.with_name('en-de-int8')} (en-de-int8 " in stdout
    assert "int8 vs float32: " in stdout and "/12 greedy outputs identical" in stdout
    int8_manifest = json.loads((out.with_name("en-de-int8") / "manifest.json").read_text(encoding="utf-8"))
    assert_bleu_change_recorded(stdout, int8_manifest)
    assert int8_manifest["quantization"] == "int8-weights"
    assert json.loads((out / "manifest.json").read_text(encoding="utf-8"))["quantization"] is None


def test_an_existing_int8_destination_stops_the_export_before_any_work(tiny_checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "artifacts" / "en-de"
    out.with_name("en-de-int8").mkdir(parents=True)
    result = run_cli("--checkpoint", tiny_checkpoint, "--out", out, "--quantize", "int8")
    assert_one_line_error(result, 2, "en-de-int8 already exists; pass --force")
    assert not out.exists()


def hidden_entries(folder: Path) -> list[str]:
    """Staging folders (.en-de.partial-*, .en-de.float32-*) and retired bundles left behind."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_precision_int8_writes_only_the_int8_bundle_under_the_plain_name(
    tiny_checkpoint: Path, tiny_corpus: tuple[Path, Path], tmp_path: Path
) -> None:
    out = tmp_path / "artifacts" / "en-de"
    stdout = export_scored(tiny_checkpoint, tiny_corpus, out, "--precision", "int8")
    assert [p.name for p in out.parent.iterdir()] == ["en-de"], "no -int8 sibling, no staging folder left"
    verify_files(out)
    manifest = read_manifest(out)
    assert (manifest["name"], manifest["quantization"]) == ("en-de", "int8-weights")
    for graph in ("encoder.onnx", "decoder.onnx"):
        initializers = onnx.load(str(out / graph)).graph.initializer
        assert any(t.data_type == onnx.TensorProto.INT8 for t in initializers)

    origin = manifest["quantized_from"]
    assert set(origin) == {"name", "version", "parity", "int8_agreement"}
    assert origin["name"] == "en-de"
    assert re.fullmatch(r"\d{8}-[0-9a-f]{8}", origin["version"]) and origin["version"] != manifest["version"]
    assert origin["parity"]["sentences"] == 12 and origin["parity"]["decoder_steps"] > 0
    assert origin["parity"]["tolerance"] == 1e-4
    assert 0.0 <= max(origin["parity"]["max_difference"].values()) <= 1e-4
    agreement = origin["int8_agreement"]
    assert set(agreement) == {"sentences", "identical"} and agreement["sentences"] == 12
    assert 0.8 * 12 <= agreement["identical"] <= 12  # --min-int8-agreement's default held

    assert f"checked float32 en-de {origin['version']} (staged, not published)" in stdout
    assert f"wrote {out} (en-de {manifest['version']}, int8)" in stdout
    assert f"int8 vs float32: {agreement['identical']}/12 greedy outputs identical" in stdout
    assert "int8 BLEU: " in stdout
    assert set(manifest["metrics"]["val"]) == {"cased_bleu", "comparable_bleu"}
    assert_bleu_change_recorded(stdout, manifest)

    translator = Translator.load(out)  # the service reads the bundle from its own manifest alone
    assert (translator.name, translator.version) == ("en-de", manifest["version"])
    sources = [source for source, _ in PAIRS[:6]]
    translations = translator.translate_batch(sources, beam_size=1)
    correct = sum(t.text == target for t, (_, target) in zip(translations, PAIRS, strict=False))
    assert correct >= 5, [t.text for t in translations]
    registry = ModelRegistry.load_dir(out.parent)
    assert registry.failures == {} and registry.get("en", "de").name == "en-de"


def test_precision_int8_does_not_go_with_quantize(tiny_checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "artifacts" / "en-de"
    result = run_cli("--checkpoint", tiny_checkpoint, "--out", out, "--precision", "int8", "--quantize", "int8")
    assert_one_line_error(result, 2, "--precision int8", "--quantize")
    assert len(result.stderr.strip().splitlines()) == 1  # refused before any work
    assert not out.parent.exists()


def test_precision_int8_refuses_an_existing_out_before_any_work_and_replaces_it_with_force(
    tiny_checkpoint: Path, tiny_bundle: Path, tmp_path: Path
) -> None:
    out = tmp_path / "artifacts" / "en-de"
    shutil.copytree(tiny_bundle, out)  # a float32 bundle already published there
    before = (out / "manifest.json").read_bytes()
    args = ("--checkpoint", tiny_checkpoint, "--out", out, "--precision", "int8", "--check-limit", "4")
    result = run_cli(*args)
    assert_one_line_error(result, 2, "en-de already exists; pass --force")
    assert len(result.stderr.strip().splitlines()) == 1  # no progress line: nothing was exported
    assert (out / "manifest.json").read_bytes() == before
    assert [p.name for p in out.parent.iterdir()] == ["en-de"]

    result = run_cli(*args, "--force")
    assert result.returncode == 0, result.stderr
    manifest = read_manifest(out)
    assert (manifest["name"], manifest["quantization"]) == ("en-de", "int8-weights")
    graphs_digest = json.loads(before)["version"].split("-")[1]  # same checkpoint, same float32 graphs
    assert manifest["quantized_from"]["version"].split("-")[1] == graphs_digest
    assert [p.name for p in out.parent.iterdir()] == ["en-de"]


def test_a_failed_self_check_with_precision_int8_leaves_nothing_behind(tiny_checkpoint: Path, tmp_path: Path) -> None:
    raw = torch.load(tiny_checkpoint, map_location="cpu", weights_only=False)
    raw["model"]["decoder.readout.weight"][0, 0] = float("nan")
    diverged = tmp_path / "diverged.pt"
    torch.save(raw, diverged)
    out = tmp_path / "artifacts" / "en-de"
    result = run_cli("--checkpoint", diverged, "--out", out, "--precision", "int8")
    assert_one_line_error(result, 1, "ParityError", "non-finite values")
    assert not out.exists() and hidden_entries(out.parent) == []
