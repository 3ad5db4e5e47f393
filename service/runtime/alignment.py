"""Word alignment from the subword attention matrix, in Pharaoh format.

Words are whitespace words: exactly what `str.split()` gives for the source text (after control
characters became spaces) and for the detokenized output. Punctuation stays attached to the word
it touches ("bike." is one word), just as whitespace splitting leaves it. The functions below take
any sorted, non-overlapping word spans, so other word boundaries (a gold set's tokens) work the same.

Subword-to-word merging rule:
- Each SentencePiece piece belongs to the word its characters fall in, found from the piece's
  character offsets (SentencePiece reports them for both encoding and decoding). A piece that
  covers no character of any word (a lone "▁", or a piece whose characters normalization
  removed) belongs to the next word, since "▁" opens a word; at the very end, to the last word.
  For ordinary text this is the familiar rule "a piece starting with ▁ starts a new word", but it
  also stays right where that rule breaks: unknown pieces, which detokenize to " ⁇ ", and
  characters like U+200B that SentencePiece treats as spaces and `str.split()` does not.
  So a lone "▁" piece's column adds to the next source word's mass, and its row (the step that
  wrote it, already attending to what comes next) counts as one of the next target word's pieces.
- "</s>" belongs to no word: its row (the step that ended the output) and its column are dropped.
  Rows are not renormalized afterwards: a target word whose attention went mostly to the source's
  "</s>" keeps only its small mass on real words, which a threshold can then leave unlinked.
- `word_attention` (what the page shows) sums the attention mass of all pieces of a word, on both axes:
  W[j, i] = sum of A[t, s] over target pieces t of target word j and source pieces s of source word i.
- `link_weights` (what links are extracted from) sums over a source word's pieces but averages over
  a target word's pieces: L[j, i] = W[j, i] / (pieces of target word j). Each row then is the share of
  the word's attention that went to each source word (at most 1 in total), so the rows of a long and a
  short word can be compared, which the per-source argmax and the threshold need. Row maxima, and so
  the per-target argmax, are the same for W and L.

Extraction methods (`AlignmentMethod`), links "i-j" (source word i, target word j):
- "target-argmax": each target word j to its most-attended source word argmax_i L[j, i] (the first one on
  a tie). A target word with no attention mass on source words (all of it went to "</s>") gets no link.
- "source-argmax": each source word i to the target word that attended to it most, argmax_j L[j, i];
  a source word no target word attended to gets no link.
- "intersection", "union" of those two; "grow-diag-final-and" of those two (`grow_diag_final_and`,
  Koehn et al. 2003), the usual symmetrization of two alignment directions.
- "threshold": every (i, j) with L[j, i] > `threshold`.
Links are listed in target order, then source order.

The defaults are measured with `python -m export.align_eval` (forced alignment of the gold translations)
on the Multi30k val gold sets, with the int8 bundles en-de 20261130-63c5ca94 and en-fr 20261130-09817b65:
per-source argmax had the lowest AER on both (en-de 21.2, en-fr 20.8; grow-diag-final-and 22.0 and 22.0,
per-target argmax 26.9 and 26.5), so it is DEFAULT_ALIGNMENT_METHOD. Of the thresholds 0.2-0.4, 0.3 had
the lowest mean AER over the two sets (28.6 and 27.9), hence DEFAULT_THRESHOLD. The guided en-fr bundle that
replaced that en-fr (20261130-439b9ff1) gives source-argmax 12.7 and grow-diag-final-and 12.6, a tie within the
gold set's noise (50 pairs); source-argmax keeps the lower mean over the two shipped bundles (17.0 against 17.3).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from typing import Literal, get_args

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
Link = tuple[int, int]  # (source word, target word)

AlignmentMethod = Literal["target-argmax", "source-argmax", "intersection", "union", "grow-diag-final-and", "threshold"]
ALIGNMENT_METHODS: tuple[AlignmentMethod, ...] = get_args(AlignmentMethod)
DEFAULT_ALIGNMENT_METHOD: AlignmentMethod = "source-argmax"  # measured, see above
DEFAULT_THRESHOLD = 0.3


def word_spans(text: str) -> list[tuple[int, int]]:
    """Character offsets of the words `text.split()` returns, in order."""
    spans: list[tuple[int, int]] = []
    start = -1
    for position, char in enumerate(text):
        if char.isspace():
            if start >= 0:
                spans.append((start, position))
                start = -1
        elif start < 0:
            start = position
    if start >= 0:
        spans.append((start, len(text)))
    return spans


def words_of_pieces(piece_spans: Sequence[tuple[int, int]], spans_of_words: Sequence[tuple[int, int]]) -> list[int]:
    """The word index of each piece (see the module docstring); -1 for every piece when there are no words."""
    if not spans_of_words:
        return [-1] * len(piece_spans)
    word_ends = [end for _, end in spans_of_words]
    last = len(spans_of_words) - 1
    # the first word ending after the piece begins either overlaps the piece or is the next word after it
    return [min(bisect_right(word_ends, begin), last) for begin, _ in piece_spans]


def word_attention(
    attention: FloatArray,
    target_word_of_piece: Sequence[int],
    target_words: int,
    source_word_of_piece: Sequence[int],
    source_words: int,
) -> FloatArray:
    """Sums piece attention (T_pieces [+ "</s>"], S_pieces [+ "</s>"]) into (target_words, source_words).

    Rows and columns past the given piece lists ("</s>") and pieces with word index -1 are dropped.
    """
    rows, cols = len(target_word_of_piece), len(source_word_of_piece)
    pieces = np.asarray(attention, dtype=np.float64)[:rows, :cols]
    target_map = _one_hot(target_word_of_piece, target_words)  # (target_words, rows)
    source_map = _one_hot(source_word_of_piece, source_words)  # (source_words, cols)
    return (target_map @ pieces @ source_map.T).astype(np.float32)


def link_weights(
    attention: FloatArray,
    target_word_of_piece: Sequence[int],
    target_words: int,
    source_word_of_piece: Sequence[int],
    source_words: int,
) -> FloatArray:
    """`word_attention` with each target word's row divided by its number of pieces (the mean over them)."""
    summed = word_attention(attention, target_word_of_piece, target_words, source_word_of_piece, source_words)
    pieces = _one_hot(target_word_of_piece, target_words).sum(axis=1)
    means: FloatArray = (summed / np.maximum(pieces, 1.0)[:, None]).astype(np.float32)
    return means


def _one_hot(word_of_piece: Sequence[int], words: int) -> npt.NDArray[np.float64]:
    matrix = np.zeros((words, len(word_of_piece)), dtype=np.float64)
    for piece, word in enumerate(word_of_piece):
        if 0 <= word < words:
            matrix[word, piece] = 1.0
    return matrix


def target_argmax_links(weights: FloatArray) -> set[Link]:
    """Each target word (row) to its heaviest source word; rows without mass get nothing."""
    matrix = np.asarray(weights)
    return {(int(np.argmax(row)), target) for target, row in enumerate(matrix) if row.size and row.max() > 0.0}


def source_argmax_links(weights: FloatArray) -> set[Link]:
    """Each source word (column) to the target word that gave it the most weight; columns without mass get nothing."""
    matrix = np.asarray(weights)
    return {(source, int(np.argmax(col))) for source, col in enumerate(matrix.T) if col.size and col.max() > 0.0}


_NEIGHBOURS = ((-1, 0), (0, -1), (1, 0), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1))


def grow_diag_final_and(forward: Iterable[Link], backward: Iterable[Link]) -> set[Link]:
    """Symmetrizes two alignments of one sentence pair (links (i, j), source word i, target word j).

    Koehn et al. 2003, as Moses' symal and fast_align's atools do it: start from the intersection; grow
    it, until nothing changes, by any union link that neighbours (also diagonally) an alignment link
    and whose source or target word is not yet aligned; then add each link of the forward, then of the
    backward alignment whose source and target words are both still unaligned. Links are visited in
    (source, target) order, a link added during a pass being grown from later in the same pass, as the
    usual loop over all source and target positions does; so the result is deterministic.
    """
    forward, backward = set(forward), set(backward)
    union = forward | backward
    alignment = forward & backward
    aligned_source = {i for i, _ in alignment}
    aligned_target = {j for _, j in alignment}

    def add(link: Link) -> None:
        alignment.add(link)
        aligned_source.add(link[0])
        aligned_target.add(link[1])

    grown = True
    while grown:
        grown = False
        for i, j in sorted(union):  # every alignment link is a union link; one added here is grown from in this pass
            if (i, j) not in alignment:
                continue
            for di, dj in _NEIGHBOURS:
                point = (i + di, j + dj)
                unaligned_word = point[0] not in aligned_source or point[1] not in aligned_target
                if unaligned_word and point in union and point not in alignment:
                    add(point)
                    grown = True
    for direction in (forward, backward):
        for point in sorted(direction):
            if point[0] not in aligned_source and point[1] not in aligned_target:
                add(point)
    return alignment


def align_words(
    weights: FloatArray, method: AlignmentMethod = DEFAULT_ALIGNMENT_METHOD, threshold: float = DEFAULT_THRESHOLD
) -> list[Link]:
    """The links `method` extracts from a (target words, source words) weight matrix, target order then source."""
    if method == "threshold":
        targets, sources = np.nonzero(np.asarray(weights) > threshold)
        links = {(int(i), int(j)) for j, i in zip(targets, sources, strict=True)}
    elif method == "target-argmax":
        links = target_argmax_links(weights)
    elif method == "source-argmax":
        links = source_argmax_links(weights)
    elif method == "intersection":
        links = target_argmax_links(weights) & source_argmax_links(weights)
    elif method == "union":
        links = target_argmax_links(weights) | source_argmax_links(weights)
    elif method == "grow-diag-final-and":
        links = grow_diag_final_and(target_argmax_links(weights), source_argmax_links(weights))
    else:
        raise ValueError(f"unknown alignment method {method!r}; choose one of {', '.join(ALIGNMENT_METHODS)}")
    return sorted(links, key=lambda link: (link[1], link[0]))


def pharaoh_line(links: Iterable[Link]) -> str:
    """ "i-j i-j ..." for links (source i, target j), in the given order."""
    return " ".join(f"{i}-{j}" for i, j in links)


def pharaoh(word_matrix: FloatArray) -> str:
    """One "i-j" link per target word j, to its most-attended source word i, in target order."""
    return pharaoh_line(align_words(word_matrix, "target-argmax"))
