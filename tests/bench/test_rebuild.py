"""The PyTorch model rebuilt from a bundle's ONNX graphs holds exactly the checkpoint's weights (float32 bundle)
or exactly the int8 bundle's weights dequantized (int8 bundle), and the check against the graphs catches a wrong one."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
import pytest
import torch
from onnx import numpy_helper

from bench.rebuild import (
    PARITY_TOLERANCE,
    RebuildError,
    check_against_bundle,
    dequantize_weight,
    graph_differences,
    module_of,
    onnx_gates_to_torch,
    rebuild_model,
)
from model.checkpoint import load_checkpoint
from tests.bench.conftest import probe_sentences

# the weights quantize_dynamic turns to int8 in the tiny model: every Linear's and both embedding tables
QUANTIZED_WEIGHTS = {
    "encoder.embedding.weight", "encoder.init_state.weight", "decoder.embedding.weight",
    "decoder.attention.key_proj.weight", "decoder.attention.query_proj.weight", "decoder.attention.energy.weight",
    "decoder.rnn.input_to_gates.weight", "decoder.rnn.hidden_to_gates.weight", "decoder.readout.weight",
    "generator.weight",
}  # fmt: skip


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


def test_a_bundle_of_another_quantization_is_refused_with_the_reason(tiny_bundle: Path, tmp_path: Path) -> None:
    bundle = Path(shutil.copytree(tiny_bundle, tmp_path / "en-de-float16"))
    manifest = json.loads((bundle / "manifest.json").read_text())
    (bundle / "manifest.json").write_text(json.dumps({**manifest, "quantization": "float16"}))
    with pytest.raises(RebuildError, match="float16-quantized"):
        rebuild_model(bundle)


def dequantized_initializers(bundle: Path) -> dict[str, npt.NDArray[np.float32]]:
    """Every "<name>_quantized" initializer of the bundle's graphs as (q - zero point) * scale, written out plainly:
    one scale per column of a 2-D weight when there are as many, else one for the whole tensor."""
    found = {}
    for graph in ("encoder.onnx", "decoder.onnx"):
        arrays = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(bundle / graph)).graph.initializer}
        for name, quantized in arrays.items():
            if name.endswith("_quantized"):
                base = name.removesuffix("_quantized")
                scale, zero = arrays[f"{base}_scale"], arrays[f"{base}_zero_point"]
                if scale.size > 1:
                    assert quantized.ndim == 2 and scale.shape == (quantized.shape[1],), name
                    scale, zero = scale.reshape(1, -1), zero.reshape(1, -1)
                found[base] = (quantized.astype(np.float32) - zero.astype(np.float32)) * scale
    return found


def test_the_int8_rebuild_holds_exactly_the_dequantized_weights(
    rebuilt_int8: Any, tiny_int8_bundle: Path, tiny_checkpoint: Path
) -> None:
    restored = rebuilt_int8.model.state_dict()
    original = load_checkpoint(tiny_checkpoint).model.state_dict()
    assert set(restored) == set(original)
    dequantized = dequantized_initializers(tiny_int8_bundle)
    matched: dict[str, str] = {}
    for name, tensor in restored.items():
        for base, array in dequantized.items():
            # embedding tables are looked up as they are; a Linear's weight is multiplied as (in, out)
            expected = array if name.endswith("embedding.weight") else array.T
            if tuple(tensor.shape) == expected.shape and np.array_equal(tensor.numpy(), expected):
                assert name not in matched, f"{name} equals both {matched[name]} and {base}"
                matched[name] = base
    assert set(matched) == QUANTIZED_WEIGHTS
    assert sorted(matched.values()) == sorted(dequantized)  # each int8 weight of the graphs, once
    for name, tensor in original.items():
        if name in matched:  # within one int8 step of the float32 weight
            step = float(tensor.abs().max()) / 127
            assert float((restored[name] - tensor).abs().max()) <= step, name
        else:  # the encoder's GRUs and every bias stay float32
            assert torch.equal(restored[name], tensor), name


def test_tied_embeddings_are_untied_to_keep_both_int8_copies(rebuilt_int8: Any, rebuilt: Any) -> None:
    assert rebuilt_int8.model.config.tie_embeddings
    assert rebuilt.model.generator.weight is rebuilt.model.decoder.embedding.weight
    int8 = rebuilt_int8.model
    assert int8.generator.weight is not int8.decoder.embedding.weight
    assert not torch.equal(int8.generator.weight, int8.decoder.embedding.weight)
    assert not int8.training


def test_the_int8_rebuild_passes_its_check_at_float32_parity(rebuilt_int8: Any, tiny_int8_bundle: Path) -> None:
    """Weight-only int8 computes in float32, so the rebuilt model matches its graphs as a float32 bundle does."""
    differences = graph_differences(rebuilt_int8, tiny_int8_bundle)
    assert all(value <= PARITY_TOLERANCE for value in differences.values()), differences
    assert check_against_bundle(rebuilt_int8, tiny_int8_bundle) == max(differences.values())


def test_the_int8_baseline_translates_like_the_int8_runtime(tiny_int8_bundle: Path) -> None:
    from bench.torch_server import load_translator
    from service.runtime import Translator

    eager = load_translator(tiny_int8_bundle)  # rebuilds and checks
    runtime = Translator.load(tiny_int8_bundle)
    sentences = probe_sentences()
    identical = sum(
        eager.translate(text, 1, attention=False).text == runtime.translate_batch([text], beam_size=1)[0].text
        for text in sentences
    )
    assert identical == len(sentences), f"{identical} of {len(sentences)}"


def _transpose_init_state(model: Any) -> None:
    weight = model.encoder.init_state.weight  # (dec_hidden, 2 * enc_hidden): square in the tiny model
    assert weight.shape[0] == weight.shape[1], "a transposed weight of another shape fails to load instead"
    weight.copy_(weight.T.clone())


def _swap_reset_and_update_gates(model: Any) -> None:
    weight = model.decoder.rnn.hidden_to_gates.weight
    reset, update, new = weight.chunk(3)
    weight.copy_(torch.cat([update, reset, new]))


def _shift_output_rows(model: Any) -> None:
    model.generator.weight.copy_(model.generator.weight.roll(1, dims=0))


def _shift_source_embeddings(model: Any) -> None:  # a zero point off by one step: the float32 encoder shows it
    table = model.encoder.embedding.weight
    table.add_(float(table.max() - table.min()) / 255)


@pytest.mark.parametrize(
    ("corrupt", "output"),
    [
        (_transpose_init_state, "init_state"),
        (_swap_reset_and_update_gates, "new_state"),
        (_shift_output_rows, "log_probs"),
        (_shift_source_embeddings, "annotations"),
    ],
)
def test_the_int8_check_catches_a_wrong_weight(
    tiny_int8_bundle: Path, corrupt: Callable[[Any], None], output: str
) -> None:
    damaged = rebuild_model(tiny_int8_bundle)
    with torch.no_grad():
        corrupt(damaged.model)
    with pytest.raises(RebuildError, match=f"differs from .*{output} by"):
        check_against_bundle(damaged, tiny_int8_bundle)


def test_dequantizing_follows_the_scale_per_channel_or_per_tensor() -> None:
    quantized = np.array([[-2, 0, 4], [6, -8, 10]], dtype=np.int8)
    per_column = dequantize_weight(
        quantized, np.array([0.5, 1.0, 2.0], np.float32), np.array([0, 0, 2], np.int8), 1, "MatMulInteger"
    )
    np.testing.assert_array_equal(per_column, [[-1.0, 0.0, 4.0], [3.0, -8.0, 16.0]])
    assert per_column.dtype == np.float32
    table = np.array([[0, 128], [255, 130]], dtype=np.uint8)
    per_tensor = dequantize_weight(table, np.array(0.25, np.float32), np.array(128, np.uint8), None, "Gather")
    np.testing.assert_array_equal(per_tensor, [[-32.0, 0.0], [31.75, 0.5]])
    with pytest.raises(RebuildError, match="fits no channel axis"):
        dequantize_weight(quantized, np.ones(2, np.float32), np.zeros(2, np.int8), 1, "MatMulInteger")
    with pytest.raises(RebuildError, match="fits no channel axis"):
        dequantize_weight(quantized, np.ones(3, np.float32), np.zeros(3, np.int8), None, "Gather")


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


def test_a_conditional_decoder_int8_bundle_rebuilds_and_passes_its_check(
    conditional_checkpoint: Path, tmp_path: Path
) -> None:
    from export.bundle import export_bundle, quantize_bundle

    fp32 = export_bundle(conditional_checkpoint, tmp_path / "artifacts" / "en-de").path
    int8 = quantize_bundle(fp32, tmp_path / "int8" / "en-de", name="en-de", min_agreement=0.0).path
    for bundle in (fp32, int8):
        rebuilt = rebuild_model(bundle)
        assert rebuilt.model.config.decoder == "conditional"
        assert rebuilt.model.decoder.query_rnn is not None
        check_against_bundle(rebuilt, bundle)


def test_a_bundle_becomes_a_training_checkpoint_with_its_embeddings_tied_again(
    tiny_int8_bundle: Path, rebuilt_int8: Any, tmp_path: Path
) -> None:
    from bench.rebuild import main
    from model.checkpoint import load_checkpoint

    out = tmp_path / "from-bundle.pt"
    assert main([str(tiny_int8_bundle), "--checkpoint-out", str(out)]) == 0
    loaded = load_checkpoint(out)
    model = loaded.model
    assert model.generator.weight is model.decoder.embedding.weight, "tied, as the network was trained"
    assert torch.equal(model.generator.weight, rebuilt_int8.model.generator.weight), "the projection's copy"
    untied = dict(rebuilt_int8.model.state_dict())
    for name, weight in model.state_dict().items():
        if name != "decoder.embedding.weight":
            assert torch.equal(weight, untied[name]), name
    assert loaded.src_spm_bytes == (tiny_int8_bundle / "source.spm").read_bytes()
    assert loaded.tgt_spm_bytes == (tiny_int8_bundle / "target.spm").read_bytes()
    assert (loaded.src_lang, loaded.tgt_lang) == ("en", "de")
    assert loaded.raw["rebuilt_from"]["name"] == "en-de-int8"


def test_a_folder_that_is_no_bundle_gives_no_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bench.rebuild import main

    assert main([str(tmp_path), "--checkpoint-out", str(tmp_path / "x.pt")]) == 2
    assert "no readable manifest.json" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()
