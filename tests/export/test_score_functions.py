"""Every score function (additive, dot, general) exports and passes the parity check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from export.bundle import export_bundle, open_bundle
from export.manifest import verify_files
from model.checkpoint import load_checkpoint
from model.data import pad
from tests.tiny_corpus import PAIRS


@pytest.mark.parametrize("score", ["additive", "dot", "general"])
def test_export_passes_parity_for_each_score_function(
    score_checkpoints: dict[str, Path], tmp_path: Path, score: str
) -> None:
    loaded = load_checkpoint(score_checkpoints[score])
    config = loaded.model.config
    assert config.score == score

    exported = export_bundle(score_checkpoints[score], tmp_path / "artifacts" / "en-de")

    assert exported.parity is not None and exported.parity.sentences == len(PAIRS)
    assert max(exported.parity.max_difference.values()) <= 1e-4
    manifest = exported.manifest
    assert manifest["model"]["score"] == score
    verify_files(exported.path)
    key_width = config.attn_dim if score == "additive" else config.dec_hidden
    runner, src_sp, _ = open_bundle(exported.path)
    ids = [[*ids, config.eos_id] for ids in src_sp.encode([source for source, _ in PAIRS[:7]])]
    src, lengths = pad(ids), torch.tensor([len(i) for i in ids])
    encoded = runner.encode(src.numpy(), lengths.numpy())
    assert encoded.keys.shape == (7, src.size(1), key_width)
    with torch.no_grad():
        _, keys, _, _ = loaded.model.encode(src, lengths)
    assert np.abs(encoded.keys - keys.numpy()).max() <= 1e-4
    session = ort.InferenceSession(str(exported.path / "decoder.onnx"), providers=["CPUExecutionProvider"])
    assert [i.shape[2] for i in session.get_inputs() if i.name == "keys"] == [key_width]
