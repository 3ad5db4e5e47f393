"""The PyTorch model rebuilt from a bundle's ONNX graphs holds exactly the checkpoint's weights."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from bench.rebuild import RebuildError, check_against_bundle, module_of, onnx_gates_to_torch, rebuild_model
from model.checkpoint import load_checkpoint


def test_every_weight_equals_the_checkpoints(rebuilt: Any, tiny_checkpoint: Path) -> None:
    original = load_checkpoint(tiny_checkpoint).model.state_dict()
    restored = rebuilt.model.state_dict()
    assert set(restored) == set(original)
    for name, tensor in original.items():
        assert torch.equal(restored[name], tensor), name


def test_the_rebuilt_model_passes_its_check_against_the_graphs(rebuilt: Any, tiny_bundle: Path) -> None:
    assert check_against_bundle(rebuilt, tiny_bundle) < 1e-4
    assert not rebuilt.model.training


def test_the_check_catches_a_wrong_weight(tiny_bundle: Path) -> None:
    damaged = rebuild_model(tiny_bundle)
    with torch.no_grad():
        damaged.model.encoder.backward_rnn.weight_hh_l0[:4] *= 1.5
    with pytest.raises(RebuildError, match="differs"):
        check_against_bundle(damaged, tiny_bundle)


def test_a_quantized_bundle_is_refused_with_the_reason(tiny_bundle: Path, tmp_path: Path) -> None:
    bundle = Path(shutil.copytree(tiny_bundle, tmp_path / "en-de-int8"))
    manifest = json.loads((bundle / "manifest.json").read_text())
    (bundle / "manifest.json").write_text(json.dumps({**manifest, "quantization": "int8"}))
    with pytest.raises(RebuildError, match="int8-quantized"):
        rebuild_model(bundle)


def test_gates_go_from_onnx_order_to_pytorch_order() -> None:
    update, reset, hidden = np.full((2, 3), 1.0), np.full((2, 3), 2.0), np.full((2, 3), 3.0)
    reordered = onnx_gates_to_torch(np.concatenate([update, reset, hidden]).astype(np.float32))
    np.testing.assert_array_equal(reordered, np.concatenate([reset, update, hidden]))
    bias = onnx_gates_to_torch(np.array([1, 1, 2, 2, 3, 3], dtype=np.float32))
    np.testing.assert_array_equal(bias, [2, 2, 1, 1, 3, 3])


def test_node_scopes_name_their_module() -> None:
    modules = ["encoder", "encoder.forward_rnn", "decoder.attention", "decoder.attention.key_proj", "generator"]
    assert module_of("/encoder/forward_rnn/GRU", modules) == "encoder.forward_rnn"
    assert module_of("/key_proj/MatMul", modules) == "decoder.attention.key_proj"
    with pytest.raises(RebuildError, match="exactly one module"):
        module_of("/nowhere/MatMul", modules)
