"""ONNX Runtime against PyTorch: the tiny corpus, dynamic shapes, and disagreements reported as typed errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import numpy_helper
from torch import Tensor, nn

from export.bundle import export_bundle, open_bundle
from export.defaults import FP32_TOLERANCE
from export.errors import ManifestError, ParityError
from export.parity import check_parity
from export.sentences import encode_sources
from model.checkpoint import LoadedCheckpoint, load_checkpoint
from model.data import pad
from model.decode import max_output_length
from tests.tiny_corpus import PAIRS

SOURCES = [source for source, _ in PAIRS]


def sessions(bundle: Path) -> tuple[ort.InferenceSession, ort.InferenceSession]:
    """Plain ONNX Runtime sessions, independent of the export package's own runner."""

    def load(name: str) -> ort.InferenceSession:
        return ort.InferenceSession(str(bundle / name), providers=["CPUExecutionProvider"])

    return load("encoder.onnx"), load("decoder.onnx")


def batch_of(loaded: LoadedCheckpoint, sentences: list[str]) -> tuple[Tensor, Tensor]:
    ids = encode_sources(loaded.src_sp, sentences, loaded.model.config.eos_id)
    return pad(ids), torch.tensor([len(seq) for seq in ids])


def max_abs_diff(ours: np.ndarray, theirs: Tensor) -> float:
    assert ours.shape == tuple(theirs.shape)
    return float(np.abs(ours - theirs.numpy()).max())


@torch.no_grad()
def test_all_tiny_sentences_decode_identically_within_tolerance(
    tiny_bundle: Path, tiny_loaded: LoadedCheckpoint
) -> None:
    """Greedy outputs identical; log-probs and attention within 1e-4 at every step, teacher-forced on torch's output."""
    model, config = tiny_loaded.model, tiny_loaded.model.config
    encoder, decoder = sessions(tiny_bundle)
    src, lengths = batch_of(tiny_loaded, SOURCES)
    max_len = max_output_length(int(lengths.max()))
    torch_tokens, torch_attention = model.greedy_decode(src, lengths, max_len)
    assert [tiny_loaded.tgt_sp.decode(t) for t in torch_tokens] == [target for _, target in PAIRS]

    annotations, keys, state, mask = model.encode(src, lengths)
    ort_annotations, ort_keys, ort_state = encoder.run(None, {"src_ids": src.numpy(), "src_lengths": lengths.numpy()})
    forced = pad([[config.bos_id, *tokens, config.eos_id] for tokens in torch_tokens])  # (B, T+1) after BOS
    ort_finished = np.zeros(len(SOURCES), dtype=bool)
    ort_tokens: list[np.ndarray] = []
    worst = {"log_probs": 0.0, "attention": 0.0}
    for step in range(forced.size(1) - 1):
        alive = forced[:, step + 1] != config.pad_id  # rows whose reference still has a token to predict
        log_probs, state, attention = model.step_log_probs(forced[:, step], state, annotations, keys, mask)
        feeds = {"prev_tokens": forced[:, step].numpy(), "state": ort_state, "annotations": ort_annotations}
        ort_log_probs, ort_state, ort_attention = decoder.run(
            None, {**feeds, "keys": ort_keys, "src_mask": mask.numpy()}
        )
        worst["log_probs"] = max(worst["log_probs"], max_abs_diff(ort_log_probs[alive], log_probs[alive]))
        worst["attention"] = max(worst["attention"], max_abs_diff(ort_attention[alive], attention[alive]))
        for b in range(len(SOURCES)):
            if alive[b]:
                row = torch_attention[b][step].numpy()
                assert np.abs(ort_attention[b, : int(lengths[b])] - row).max() <= FP32_TOLERANCE
        assert (ort_attention[~mask.numpy()] == 0.0).all(), "padding must get exactly zero attention"
        ort_prev = np.where(ort_finished, config.pad_id, ort_log_probs.argmax(-1))  # ORT's own greedy pick
        ort_tokens.append(ort_prev)
        ort_finished |= ort_prev == config.eos_id
    assert worst["log_probs"] <= FP32_TOLERANCE and worst["attention"] <= FP32_TOLERANCE, worst
    rows = np.stack(ort_tokens, axis=1).tolist()
    assert [row[: row.index(config.eos_id)] for row in rows] == torch_tokens


def test_the_exports_own_check_covers_all_twenty_sentences(tiny_bundle: Path, tiny_loaded: LoadedCheckpoint) -> None:
    runner, src_sp, _ = open_bundle(tiny_bundle)
    ids = encode_sources(src_sp, SOURCES, runner.special.eos)
    report = check_parity(tiny_loaded.model, runner, SOURCES, ids, max_output_length)
    assert report.sentences == 20
    assert report.decoder_steps > 20
    assert set(report.max_difference) == {
        "encoder.annotations", "encoder.keys", "encoder.init_state",
        "decoder.log_probs", "decoder.attention", "decoder.new_state",
    }  # fmt: skip
    assert all(0.0 <= value <= FP32_TOLERANCE for value in report.max_difference.values())


@pytest.mark.parametrize(
    "sentences",
    [
        pytest.param([SOURCES[12]], id="batch 1 short"),
        pytest.param([SOURCES[13]], id="batch 1 long"),
        pytest.param([SOURCES[i] for i in (12, 13, 0, 6, 17, 2, 9)], id="batch 7 mixed lengths"),
        pytest.param([" ".join(SOURCES[:4])] * 2 + [SOURCES[5]], id="longer than any training sentence"),
        pytest.param([""], id="empty sentence, EOS only"),
        pytest.param([SOURCES[3], "", SOURCES[13]], id="empty sentence inside a batch"),
    ],
)
@torch.no_grad()
def test_batch_and_source_length_axes_are_dynamic(
    tiny_bundle: Path, tiny_loaded: LoadedCheckpoint, sentences: list[str]
) -> None:
    model = tiny_loaded.model
    encoder, decoder = sessions(tiny_bundle)
    src, lengths = batch_of(tiny_loaded, sentences)
    annotations, keys, state, mask = model.encode(src, lengths)
    outputs = encoder.run(None, {"src_ids": src.numpy(), "src_lengths": lengths.numpy()})
    for ours, theirs in zip(outputs, (annotations, keys, state), strict=True):
        assert max_abs_diff(ours, theirs) <= FP32_TOLERANCE
    prev = torch.randint(4, model.config.tgt_vocab_size, (len(sentences),), generator=torch.Generator().manual_seed(0))
    feeds = {"prev_tokens": prev.numpy(), "state": outputs[2], "annotations": outputs[0], "keys": outputs[1]}
    step = decoder.run(None, {**feeds, "src_mask": mask.numpy()})
    for ours, theirs in zip(step, model.step_log_probs(prev, state, annotations, keys, mask), strict=True):
        assert max_abs_diff(ours, theirs) <= FP32_TOLERANCE
    assert (step[2][~mask.numpy()] == 0.0).all()
    assert np.allclose(step[2].sum(-1), 1.0, atol=1e-5)
    # each sentence alone gives what it gets inside the padded batch
    for b, sentence in enumerate(sentences):
        alone_src, alone_lengths = batch_of(tiny_loaded, [sentence])
        alone = encoder.run(None, {"src_ids": alone_src.numpy(), "src_lengths": alone_lengths.numpy()})
        assert np.abs(alone[0][0] - outputs[0][b, : int(lengths[b])]).max() <= 1e-5
        assert np.abs(alone[2][0] - outputs[2][b]).max() <= 1e-5


def perturb_initializer(graph_file: Path, name: str, delta: float) -> None:
    graph_model = onnx.load(str(graph_file))
    (tensor,) = [t for t in graph_model.graph.initializer if t.name == name]
    values = numpy_helper.to_array(tensor).copy()
    values.flat[0] += delta
    tensor.CopyFrom(numpy_helper.from_array(values, name))
    onnx.save(graph_model, str(graph_file))


@pytest.mark.parametrize(
    ("graph", "initializer", "tensor"),
    [("encoder", "model.encoder.init_state.bias", "init_state"), ("decoder", "model.generator.bias", "log_probs")],
)
def test_a_perturbed_graph_weight_is_a_parity_error(
    tiny_bundle: Path,
    tiny_loaded: LoadedCheckpoint,
    copy_bundle: Callable[[Path], Path],
    graph: str,
    initializer: str,
    tensor: str,
) -> None:
    bundle = copy_bundle(tiny_bundle)
    perturb_initializer(bundle / f"{graph}.onnx", initializer, 1e-2)
    with pytest.raises(ManifestError, match=f"{graph}.onnx does not match"):
        open_bundle(bundle)
    runner, src_sp, _ = open_bundle(bundle, verify=False)
    with pytest.raises(ParityError) as caught:
        check_parity(tiny_loaded.model, runner, SOURCES, encode_sources(src_sp, SOURCES, 3), max_output_length)
    error = caught.value
    assert (error.graph, error.tensor) == (graph, tensor)
    assert error.difference is not None and FP32_TOLERANCE < error.difference <= 1.01e-2
    assert error.sentence in SOURCES
    assert f"{error.difference:.3g}" in str(error) and repr(error.sentence) in str(error)


def add_to_one_logit(model: nn.Module, delta: float) -> torch.utils.hooks.RemovableHandle:
    """A forward hook on the vocabulary projection that shifts one token's logit by delta."""

    def hook(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> Tensor:
        shifted = output.clone()
        shifted[..., 5] += delta
        return shifted

    return model.generator.register_forward_hook(hook)


@pytest.mark.parametrize(("delta", "passes"), [(2e-5, True), (1e-3, False)])
def test_tolerance_is_one_e_minus_four_on_log_probs(
    tiny_checkpoint: Path, tiny_bundle: Path, delta: float, passes: bool
) -> None:
    """PyTorch's side drifts by delta in one logit (a hook): under 1e-4 passes, above fails naming the tensor."""
    loaded = load_checkpoint(tiny_checkpoint)
    runner, src_sp, _ = open_bundle(tiny_bundle)
    ids = encode_sources(src_sp, SOURCES, runner.special.eos)
    add_to_one_logit(loaded.model, delta)
    if passes:
        report = check_parity(loaded.model, runner, SOURCES, ids, max_output_length)
        assert delta / 2 < report.max_difference["decoder.log_probs"] <= FP32_TOLERANCE
        return
    with pytest.raises(ParityError) as caught:
        check_parity(loaded.model, runner, SOURCES, ids, max_output_length)
    assert (caught.value.graph, caught.value.tensor, caught.value.step) == ("decoder", "log_probs", 0)
    assert caught.value.difference is not None and delta / 2 <= caught.value.difference <= 1.05 * delta


def test_a_diverged_checkpoint_fails_export_and_publishes_nothing(tiny_checkpoint: Path, tmp_path: Path) -> None:
    raw = torch.load(tiny_checkpoint, map_location="cpu", weights_only=False)
    raw["model"]["generator.bias"][7] = float("nan")
    diverged = tmp_path / "diverged.pt"
    torch.save(raw, diverged)
    out = tmp_path / "artifacts" / "en-de"
    with pytest.raises(ParityError, match="non-finite"):
        export_bundle(diverged, out)
    assert not out.exists()
    assert list(out.parent.iterdir()) == []
