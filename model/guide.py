"""Guided alignment training (Chen et al. 2016): statistical word links become attention targets.

The training corpus is word-aligned once with eflomal (both directions, symmetrized with
grow-diag-final-and) on Moses tokens, the same words the gold alignment sets count. Those links are
cached in the run folder. At every start they are mapped onto SentencePiece pieces through character
offsets: target piece t is guided toward every source piece of every source word linked to a word
that piece t overlaps. The final </s> row is guided to the source </s>, so the end of a sentence also
has a place to look. The loss is the cross-entropy of the attention against those targets.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import sentencepiece as spm
import torch
from sacremoses import MosesTokenizer
from torch import Tensor

Links = list[tuple[int, int]]  # (source word, target word) pairs, as in Pharaoh "s-t" files
Guide = list[tuple[int, int]]  # (target position, source position) pairs over a sentence pair's pieces

# eflomal 2.0's defaults, written out so that they are part of the cache key
ALIGNER_SETTINGS = {"model": 3, "n_samplers": 3, "rel_iterations": 1.0, "null_prior": 0.2}
# bumped whenever tokenization or symmetrization changes, so that old caches are not reused
CACHE_FORMAT = "heed-word-links/1"
GUIDE_EPSILON = 1e-6  # keeps log() finite where the attention gives a guided piece exactly nothing

NEIGHBOURS = ((-1, 0), (0, -1), (1, 0), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1))


def grow_diag_final_and(forward: Links, reverse: Links, src_len: int, tgt_len: int) -> Links:
    """Symmetrizes two directional alignments as Koehn et al. (2003) and Moses do.

    Start from the intersection; repeatedly add any union link next to (also diagonally) a kept link
    whose source or target word is still unlinked; finally add, from each direction in turn, links
    whose source and target words are both still unlinked.
    """
    union = set(forward) | set(reverse)
    kept = set(forward) & set(reverse)
    linked_src = {s for s, _ in kept}
    linked_tgt = {t for _, t in kept}

    def add(s: int, t: int) -> None:
        kept.add((s, t))
        linked_src.add(s)
        linked_tgt.add(t)

    grew = True
    while grew:
        grew = False
        for s in range(src_len):
            for t in range(tgt_len):
                if (s, t) not in kept:
                    continue
                for ds, dt in NEIGHBOURS:
                    new = (s + ds, t + dt)
                    if new in union and new not in kept and (new[0] not in linked_src or new[1] not in linked_tgt):
                        add(*new)
                        grew = True
    for direction in (forward, reverse):
        for s, t in sorted(direction):
            if s not in linked_src and t not in linked_tgt:
                add(s, t)
    return sorted(kept)


def moses_words(text: str, tokenizer: MosesTokenizer) -> tuple[list[str], list[tuple[int, int] | None]]:
    """Moses tokens of a sentence and each one's character span in it (None when the tokenizer rewrote it)."""
    words = tokenizer.tokenize(text, escape=False)
    spans: list[tuple[int, int] | None] = []
    cursor = 0
    for word in words:
        begin = text.find(word, cursor)
        if begin < 0:
            spans.append(None)
            continue
        spans.append((begin, begin + len(word)))
        cursor = begin + len(word)
    return words, spans


def parse_links(line: str) -> Links:
    return [(int(s), int(t)) for s, t in (link.split("-") for link in line.split())]


def format_links(links: Links) -> str:
    return " ".join(f"{s}-{t}" for s, t in links)


def align_words(src_words: Sequence[Sequence[str]], tgt_words: Sequence[Sequence[str]]) -> list[Links]:
    """eflomal in both directions, symmetrized; one link list per sentence pair."""
    import eflomal  # type: ignore[import-untyped]  # compiled, train-only; imported only when guiding

    with tempfile.TemporaryDirectory(prefix="heed-eflomal-") as folder:
        forward_path, reverse_path = Path(folder) / "forward", Path(folder) / "reverse"
        eflomal.Aligner(**ALIGNER_SETTINGS).align(
            [" ".join(words) for words in src_words],
            [" ".join(words) for words in tgt_words],
            links_filename_fwd=str(forward_path),
            links_filename_rev=str(reverse_path),
        )
        forward = forward_path.read_text(encoding="utf-8").splitlines()
        reverse = reverse_path.read_text(encoding="utf-8").splitlines()
    return [
        grow_diag_final_and(parse_links(f), parse_links(r), len(s), len(t))
        for f, r, s, t in zip(forward, reverse, src_words, tgt_words, strict=True)
    ]


def cache_key(pairs: Sequence[tuple[str, str]], src_lang: str, tgt_lang: str) -> str:
    digest = hashlib.sha256(json.dumps([CACHE_FORMAT, ALIGNER_SETTINGS, src_lang, tgt_lang]).encode())
    for src, tgt in pairs:
        digest.update(f"{src}\t{tgt}\n".encode())
    return digest.hexdigest()[:16]


def cached_word_links(pairs: Sequence[tuple[str, str]], src_lang: str, tgt_lang: str, folder: Path) -> list[Links]:
    """The corpus's symmetrized word links, read from FOLDER/word-links-KEY.txt or computed and written there.

    The key covers the corpus text, the languages (which pick the Moses rules) and the aligner settings.
    eflomal seeds itself from /dev/urandom and cannot be given a seed, so the cache is what makes a run's
    guide reproducible: a resumed run reads the same links its start computed.
    """
    path = folder / f"word-links-{cache_key(pairs, src_lang, tgt_lang)}.txt"
    if path.is_file():
        lines = path.read_text(encoding="utf-8").splitlines()
        if len(lines) == len(pairs):
            return [parse_links(line) for line in lines]
    src_tok, tgt_tok = MosesTokenizer(lang=src_lang), MosesTokenizer(lang=tgt_lang)
    started = time.monotonic()
    links = align_words([moses_words(s, src_tok)[0] for s, _ in pairs], [moses_words(t, tgt_tok)[0] for _, t in pairs])
    print(f"eflomal aligned {len(pairs)} pairs in {time.monotonic() - started:.1f} s -> {path}", file=sys.stderr)
    folder.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text("".join(format_links(sentence) + "\n" for sentence in links), encoding="utf-8")
    os.replace(partial, path)  # a run killed mid-write leaves no half cache behind
    return links


def pieces_of_words(
    text: str, tokenizer: MosesTokenizer, sp: spm.SentencePieceProcessor, max_pieces: int
) -> list[list[int]]:
    """For each Moses word of TEXT, the positions of the SentencePiece pieces that overlap it.

    Only the first max_pieces pieces count, as training truncates there. Pieces made only of the
    word-boundary mark overlap no word and so are never guided.
    """
    _, spans = moses_words(text, tokenizer)
    pieces = sp.encode(text, return_type="proto").pieces[:max_pieces]
    result: list[list[int]] = []
    for span in spans:
        if span is None:
            result.append([])
            continue
        begin, end = span
        result.append([i for i, piece in enumerate(pieces) if piece.begin < end and begin < piece.end])
    return result


def piece_guides(
    pairs: Sequence[tuple[str, str]],
    word_links: Sequence[Links],
    languages: tuple[str, str],
    vocabularies: tuple[spm.SentencePieceProcessor, spm.SentencePieceProcessor],
    encoded: Sequence[tuple[list[int], list[int]]],
) -> list[Guide]:
    """Per pair, (target position, source position) links over the encoded pieces, </s> linked to </s>.

    ENCODED is what training batches (pieces truncated to max_len - 1, then </s>); positions follow it.
    """
    src_tok, tgt_tok = MosesTokenizer(lang=languages[0]), MosesTokenizer(lang=languages[1])
    src_sp, tgt_sp = vocabularies
    guides: list[Guide] = []
    for (src, tgt), links, (src_ids, tgt_ids) in zip(pairs, word_links, encoded, strict=True):
        src_pieces = pieces_of_words(src, src_tok, src_sp, len(src_ids) - 1)
        tgt_pieces = pieces_of_words(tgt, tgt_tok, tgt_sp, len(tgt_ids) - 1)
        guide = {
            (t, s)
            for sw, tw in links
            if sw < len(src_pieces) and tw < len(tgt_pieces)
            for t in tgt_pieces[tw]
            for s in src_pieces[sw]
        }
        guide.add((len(tgt_ids) - 1, len(src_ids) - 1))
        guides.append(sorted(guide))
    return guides


def guide_matrix(guides: Sequence[Guide], target_len: int, source_len: int) -> Tensor:
    """(B, T, S): each guided row spreads 1 evenly over its linked source positions; other rows are 0."""
    matrix = torch.zeros(len(guides), target_len, source_len)
    for row, links in enumerate(guides):
        if links:
            t, s = zip(*links, strict=True)
            matrix[row, list(t), list(s)] = 1.0
    totals = matrix.sum(dim=-1, keepdim=True)
    return matrix / totals.clamp(min=1.0)


def guided_alignment_loss(attention: Tensor, guide: Tensor) -> Tensor:
    """Cross-entropy of the attention (B, T, S) against the guide, averaged over the rows that have one."""
    per_row = -(guide * torch.log(attention + GUIDE_EPSILON)).sum(dim=-1)  # (B, T)
    guided_rows = guide.sum(dim=-1) > 0
    return per_row.sum() / guided_rows.sum().clamp(min=1)
