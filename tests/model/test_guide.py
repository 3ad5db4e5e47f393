"""Guided alignment: symmetrization, word-to-piece guides, the loss, the eflomal cache, and training with it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sentencepiece as spm
import torch

from model.checkpoint import load_checkpoint
from model.data import encode_corpus, load_sentencepiece, read_parallel, train_sentencepiece
from model.guide import (
    cached_word_links,
    grow_diag_final_and,
    guide_matrix,
    guided_alignment_loss,
    piece_guides,
)
from model.train import main
from tests.conftest import train_tiny
from tests.tiny_corpus import PAIRS


def test_grow_diag_final_and_on_a_hand_checked_example() -> None:
    forward = [(0, 0), (1, 1), (3, 2), (1, 3), (4, 4)]  # one source word per target word
    reverse = [(0, 0), (1, 1), (3, 2), (2, 3)]  # one target word per source word; source 4 has none
    # intersection {0-0, 1-1, 3-2}; 2-3 is a union link diagonal to 3-2 with source 2 unlinked, so it grows;
    # 1-3 is then refused (source 1 and target 3 both linked); 4-4 touches no kept link, but final-and adds
    # it because both its words are still unlinked
    assert grow_diag_final_and(forward, reverse, 5, 5) == [(0, 0), (1, 1), (2, 3), (3, 2), (4, 4)]
    assert grow_diag_final_and(forward, reverse, 5, 5) == grow_diag_final_and(reverse, forward, 5, 5)


def test_grow_diag_final_and_keeps_only_union_links_and_all_of_the_intersection() -> None:
    forward = [(0, 0), (0, 1), (2, 2), (1, 3)]
    reverse = [(0, 0), (1, 1), (2, 3), (3, 3)]
    result = set(grow_diag_final_and(forward, reverse, 4, 4))
    assert {(0, 0)} <= result <= set(forward) | set(reverse)
    assert (0, 1) in result  # next to 0-0, target 1 unlinked
    assert (1, 1) in result  # diagonal to 0-0, source 1 unlinked


@pytest.fixture(scope="module")
def vocabularies() -> tuple[spm.SentencePieceProcessor, spm.SentencePieceProcessor]:
    return (
        load_sentencepiece(train_sentencepiece([s for s, _ in PAIRS], 120)),
        load_sentencepiece(train_sentencepiece([t for _, t in PAIRS], 120)),
    )


def guided_surfaces(guide: list[tuple[int, int]], src_pieces: list[str], tgt_pieces: list[str]) -> tuple[str, str]:
    target = "".join(tgt_pieces[t] for t in sorted({t for t, _ in guide})).replace("▁", "")
    source = "".join(src_pieces[s] for s in sorted({s for _, s in guide})).replace("▁", "")
    return target, source


def test_each_target_piece_of_a_word_is_guided_to_the_pieces_of_its_linked_word(
    vocabularies: tuple[spm.SentencePieceProcessor, spm.SentencePieceProcessor],
) -> None:
    src_sp, tgt_sp = vocabularies
    pairs = [("A man in a red shirt is climbing a rock.", "Ein Mann in einem roten Hemd klettert auf einen Felsen.")]
    encoded = encode_corpus(pairs, src_sp, tgt_sp, max_len=100)
    src_ids, tgt_ids = encoded[0]
    (guide,) = piece_guides(pairs, [[(5, 5)]], ("en", "de"), (src_sp, tgt_sp), encoded)  # shirt - Hemd
    eos = (len(tgt_ids) - 1, len(src_ids) - 1)
    assert eos in guide  # the </s> row looks at the source </s>
    words = [link for link in guide if link != eos]
    surfaces = guided_surfaces(words, src_sp.id_to_piece(src_ids), tgt_sp.id_to_piece(tgt_ids))
    assert surfaces == ("Hemd", "shirt")
    assert len(words) == len({t for t, _ in words}) * len({s for _, s in words})  # every piece to every piece


def test_links_past_the_truncation_are_dropped(
    vocabularies: tuple[spm.SentencePieceProcessor, spm.SentencePieceProcessor],
) -> None:
    src_sp, tgt_sp = vocabularies
    pairs = [("A man in a red shirt is climbing a rock.", "Ein Mann in einem roten Hemd klettert auf einen Felsen.")]
    encoded = encode_corpus(pairs, src_sp, tgt_sp, max_len=4)  # three pieces and </s> per side
    (guide,) = piece_guides(pairs, [[(0, 0), (5, 5)]], ("en", "de"), (src_sp, tgt_sp), encoded)
    assert guide[-1] == (3, 3)  # </s> to </s>
    assert all(t < 3 and s < 3 for t, s in guide[:-1]) and len(guide) > 1  # A - Ein stays, shirt - Hemd is gone


def test_guide_rows_are_distributions_and_unlinked_rows_stay_out_of_the_loss() -> None:
    guide = guide_matrix([[(0, 0), (0, 1), (2, 2)]], target_len=3, source_len=3)
    assert torch.equal(guide[0], torch.tensor([[0.5, 0.5, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0]]))
    attention = torch.tensor([[[0.25, 0.25, 0.5], [1.0, 0.0, 0.0], [0.1, 0.1, 0.8]]])
    expected = -(0.5 * torch.log(torch.tensor(0.25)) * 2 + torch.log(torch.tensor(0.8))) / 2  # two guided rows
    assert torch.allclose(guided_alignment_loss(attention, guide), expected, atol=1e-5)
    perfect = torch.tensor([[[0.5, 0.5, 0.0], [0.3, 0.3, 0.4], [0.0, 0.0, 1.0]]])
    assert guided_alignment_loss(perfect, guide) < guided_alignment_loss(attention, guide)


def test_word_links_are_computed_once_then_read_from_the_run_folder(tmp_path: Path) -> None:
    links = cached_word_links(PAIRS, "en", "de", tmp_path)
    (cache,) = tmp_path.glob("word-links-*.txt")
    assert len(links) == len(PAIRS) and all(links)
    assert (0, 0) in links[0]  # A - Ein
    planted = [[(0, 0)]] * len(PAIRS)  # eflomal would never give these: reading them proves the cache is used
    cache.write_text("0-0\n" * len(PAIRS))
    assert cached_word_links(PAIRS, "en", "de", tmp_path) == planted
    changed = [*PAIRS[:-1], ("Two girls are singing.", "Zwei Mädchen singen.")]
    cached_word_links(changed, "en", "de", tmp_path)
    assert len(list(tmp_path.glob("word-links-*.txt"))) == 2  # another corpus, another key


Guides = list[list[tuple[int, int]]]


def teacher_forced_attention(
    checkpoint: Path, corpus: tuple[Path, Path], links: Path
) -> tuple[list[torch.Tensor], Guides]:
    """Each tiny pair's attention (T, S) under teacher forcing, and its guide from the links cached in LINKS."""
    loaded = load_checkpoint(checkpoint)
    pairs = read_parallel(*corpus)
    encoded = encode_corpus(pairs, loaded.src_sp, loaded.tgt_sp, max_len=100)
    word_links = cached_word_links(pairs, "en", "de", links)
    guides = piece_guides(pairs, word_links, ("en", "de"), (loaded.src_sp, loaded.tgt_sp), encoded)
    attentions = []
    with torch.no_grad():
        for src_ids, tgt_ids in encoded:
            _, attention = loaded.model(
                torch.tensor([src_ids]), torch.tensor([len(src_ids)]), torch.tensor([[2, *tgt_ids[:-1]]])
            )
            attentions.append(attention[0])
    return attentions, guides


def alignment_error(attentions: list[torch.Tensor], guides: Guides) -> float:
    """AER of per-row argmax links against the guide's links (all Sure), over the guided rows."""
    predicted = {
        (i, t, int(a[t].argmax())) for i, (a, g) in enumerate(zip(attentions, guides, strict=True)) for t, _ in g
    }
    gold = {(i, t, s) for i, g in enumerate(guides) for t, s in g}
    return 1 - 2 * len(predicted & gold) / (len(predicted) + len(gold))


def test_guided_training_pulls_attention_toward_the_guide(tiny_corpus: tuple[Path, Path], tmp_path: Path) -> None:
    guided = train_tiny(tiny_corpus, tmp_path / "guided", "--epochs", "15", "--guided-alignment-weight", "1")
    plain = train_tiny(tiny_corpus, tmp_path / "plain", "--epochs", "15")
    assert not list(plain.parent.glob("word-links-*"))  # an unguided run never aligns
    # both runs are measured against the guided run's links (same seed, so same vocabularies)
    guided_attention, guides = teacher_forced_attention(guided.parent / "last.pt", tiny_corpus, guided.parent)
    plain_attention, same_guides = teacher_forced_attention(plain.parent / "last.pt", tiny_corpus, guided.parent)
    assert guides == same_guides
    guided_matrices = [guide_matrix([g], *a.shape)[0] for a, g in zip(guided_attention, guides, strict=True)]
    guided_loss = sum(
        float(guided_alignment_loss(a, g)) for a, g in zip(guided_attention, guided_matrices, strict=True)
    )
    plain_loss = sum(float(guided_alignment_loss(a, g)) for a, g in zip(plain_attention, guided_matrices, strict=True))
    assert guided_loss < 0.7 * plain_loss
    assert alignment_error(guided_attention, guides) < alignment_error(plain_attention, guides) - 0.15


def test_resumed_guided_run_reuses_its_links_and_reports_each_epochs_decayed_weight(
    tiny_corpus: tuple[Path, Path], tmp_path: Path
) -> None:
    options = ("--guided-alignment-weight", "0.8", "--guided-alignment-decay", "0.5")
    train_tiny(tiny_corpus, tmp_path / "resumed", "--epochs", "1", *options)
    (cache,) = (tmp_path / "resumed").glob("word-links-*.txt")
    written = cache.stat().st_mtime_ns
    # eflomal cannot be seeded: the straight run starts from the same links, so that only resuming differs
    (tmp_path / "straight").mkdir()
    (tmp_path / "straight" / cache.name).write_bytes(cache.read_bytes())
    train_tiny(tiny_corpus, tmp_path / "straight", "--epochs", "2", *options)
    train_tiny(tiny_corpus, tmp_path / "resumed", "--epochs", "2", *options)
    assert cache.stat().st_mtime_ns == written
    history = json.loads((tmp_path / "resumed" / "history.json").read_text())
    assert [entry["guide_weight"] for entry in history] == [0.8, 0.4]
    assert all(entry["guide_loss"] > 0 for entry in history)
    straight = load_checkpoint(tmp_path / "straight" / "last.pt")
    resumed = load_checkpoint(tmp_path / "resumed" / "last.pt")
    assert resumed.train_args["guided_alignment_weight"] == 0.8
    assert resumed.train_args["guided_alignment_decay"] == 0.5
    for name, weight in straight.model.state_dict().items():
        assert torch.allclose(weight, resumed.model.state_dict()[name], atol=1e-6), name


@pytest.mark.parametrize(
    ("option", "expected"),
    [("--guided-alignment-weight=-1", "weight must be at least 0"), ("--guided-alignment-decay=0", "decay must be in")],
)
def test_a_bad_guided_alignment_option_is_refused(
    tiny_corpus: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, expected: str
) -> None:
    src, tgt = tiny_corpus
    base = ["--src-lang", "en", "--tgt-lang", "de", "--train-src", str(src), "--train-tgt", str(tgt)]
    base += ["--valid-src", str(src), "--valid-tgt", str(tgt), "--out", str(tmp_path / "run")]
    assert main([*base, option]) == 2
    assert expected in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
