"""The conditional-GRU decoder goes through the same export, quantization and runtime as Bahdanau's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from export.bundle import export_bundle, quantize_bundle, translate_with_bundle
from export.manifest import read_manifest, verify_files
from model.checkpoint import load_checkpoint
from model.decode import translate_greedy
from service.runtime import Translator
from tests.tiny_corpus import PAIRS

SOURCES = [source for source, _ in PAIRS]


def test_conditional_decoder_exports_within_parity_and_the_runtime_decodes_like_pytorch(
    conditional_checkpoint: Path, tmp_path: Path
) -> None:
    loaded = load_checkpoint(conditional_checkpoint)
    assert loaded.model.config.decoder == "conditional"
    exported = export_bundle(conditional_checkpoint, tmp_path / "artifacts" / "en-de")

    assert exported.parity is not None and exported.parity.sentences == len(PAIRS)
    assert max(exported.parity.max_difference.values()) <= 1e-4
    assert exported.manifest["model"]["decoder"] == "conditional"
    assert exported.manifest["model"]["parameters"] == loaded.model.num_parameters()
    verify_files(exported.path)
    assert translate_with_bundle(exported.path, SOURCES) == translate_greedy(
        loaded.model, loaded.src_sp, loaded.tgt_sp, SOURCES
    )
    results = Translator.load(exported.path).translate_batch(SOURCES[:4], beam_size=1)
    with torch.no_grad():
        for source, result in zip(SOURCES[:4], results, strict=True):
            src = torch.tensor([[*loaded.src_sp.encode(source), loaded.model.config.eos_id]])
            _, expected = loaded.model.greedy_decode(src, torch.tensor([src.size(1)]), max_len=40)
            assert np.abs(np.asarray(result.attention) - expected[0].numpy()).max() <= 1e-4


def test_conditional_decoder_quantizes_to_int8(conditional_checkpoint: Path, tmp_path: Path) -> None:
    fp32 = export_bundle(conditional_checkpoint, tmp_path / "artifacts" / "en-de").path
    int8 = quantize_bundle(fp32, sentences=SOURCES, min_agreement=0.5)
    assert int8.agreement is not None and int8.agreement.rate >= 0.5
    assert read_manifest(int8.path)["model"]["decoder"] == "conditional"
