"""Word alignment from the subword attention matrix, in Pharaoh format.

Words are whitespace words: exactly what `str.split()` gives for the source text (after control
characters became spaces) and for the detokenized output. Punctuation stays attached to the word
it touches ("bike." is one word), just as whitespace splitting leaves it.

Subword-to-word merging rule:
- Each SentencePiece piece belongs to the word its characters fall in, found from the piece's
  character offsets (SentencePiece reports them for both encoding and decoding). A piece that
  covers no character of any word (a lone "▁", or a piece whose characters normalization
  removed) belongs to the next word, since "▁" opens a word; at the very end, to the last word.
  For ordinary text this is the familiar rule "a piece starting with ▁ starts a new word", but it
  also stays right where that rule breaks: unknown pieces, which detokenize to " ⁇ ", and
  characters like U+200B that SentencePiece treats as spaces and `str.split()` does not.
- "</s>" belongs to no word: its row (the step that ended the output) and its column are dropped.
- The word matrix sums the attention mass of all pieces of a word, on both axes:
  W[j, i] = sum of A[t, s] over target pieces t of target word j and source pieces s of source word i.
- Each target word j is linked to its most-attended source word i = argmax_i W[j, i] (the first one
  on a tie), giving exactly one link "i-j" per target word, listed in target order. A target word
  with no attention mass at all on source words (possible only when all of it went to "</s>") gets
  no link.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]


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


def _one_hot(word_of_piece: Sequence[int], words: int) -> npt.NDArray[np.float64]:
    matrix = np.zeros((words, len(word_of_piece)), dtype=np.float64)
    for piece, word in enumerate(word_of_piece):
        if 0 <= word < words:
            matrix[word, piece] = 1.0
    return matrix


def pharaoh(word_matrix: FloatArray) -> str:
    """One "i-j" link per target word j, to its most-attended source word i, in target order."""
    links = []
    for target, row in enumerate(np.asarray(word_matrix)):
        if row.size and float(row.max()) > 0.0:
            links.append(f"{int(np.argmax(row))}-{target}")
    return " ".join(links)
