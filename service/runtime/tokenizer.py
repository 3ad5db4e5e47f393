"""SentencePiece on both sides, plus the cleaning and caps that keep odd input from hurting anyone.

Before segmentation every C0/C1 control character (tab and newline included) becomes a space and
every lone surrogate becomes U+FFFD. Both are one-for-one replacements, so character offsets into
the cleaned text are offsets into the text as given. Emoji and any other character the
vocabulary lacks become the unknown piece, which SentencePiece spells as the character itself on
the source side and as "<unk>" on the target side.

Caps: the model reads at most MAX_SOURCE_PIECES (256) source pieces; a longer input is cut there
and its translation is flagged `truncated`. Only the first MAX_INPUT_CHARACTERS characters of a text
are segmented at all, which bounds the work a huge input costs. Forced decoding scores at most
MAX_TARGET_PIECES (512) target pieces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sentencepiece as spm

from service.runtime.errors import BundleError
from service.runtime.manifest import SpecialTokens

MAX_SOURCE_PIECES = 256
MAX_TARGET_PIECES = 512
MAX_INPUT_CHARACTERS = 32 * MAX_TARGET_PIECES  # pieces are at most 16 characters, plus whitespace
EOS_PIECE = "</s>"

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """Control characters -> space, lone surrogates -> U+FFFD; the length never changes."""
    return _SURROGATE.sub("\ufffd", _CONTROL.sub(" ", text))


@dataclass(frozen=True)
class Segmentation:
    """A text cut into pieces; `spans` are each piece's character offsets into `text`."""

    text: str
    ids: list[int]  # without EOS
    pieces: list[str]
    spans: list[tuple[int, int]]
    truncated: bool = False


class Tokenizer:
    """One side's SentencePiece model, checked against the manifest at load."""

    def __init__(self, path: Path, special: SpecialTokens, vocab_size: int) -> None:
        self.path = path
        try:
            self.processor = spm.SentencePieceProcessor(model_file=str(path))
        except (OSError, RuntimeError) as error:
            raise BundleError(path, f"not a SentencePiece model ({error})") from None
        size = int(self.processor.get_piece_size())
        if size != vocab_size:
            raise BundleError(path, f"has {size} pieces; the manifest's model expects {vocab_size}")
        found = (self.processor.pad_id(), self.processor.unk_id(), self.processor.bos_id(), self.processor.eos_id())
        wanted = (special.pad, special.unk, special.bos, special.eos)
        if found != wanted:
            raise BundleError(path, f"special ids (pad, unk, bos, eos) are {found}; the manifest says {wanted}")
        if self.processor.id_to_piece(special.eos) != EOS_PIECE:
            raise BundleError(path, f"the end-of-sentence piece is not {EOS_PIECE!r}")
        self.unk_id = special.unk
        self.vocab_size = size

    def segment(self, text: str, max_pieces: int) -> Segmentation:
        """Pieces of the cleaned text, at most `max_pieces` of them."""
        cleaned = clean_text(text)
        cut = len(cleaned) > MAX_INPUT_CHARACTERS
        encoded: dict[str, Any] = self.processor.encode(cleaned[:MAX_INPUT_CHARACTERS], out_type="offset_mapping")
        ids, pieces, spans = encoded["ids"], encoded["pieces"], encoded["offsets"]
        return Segmentation(
            text=cleaned,
            ids=[int(i) for i in ids[:max_pieces]],
            pieces=[str(p) for p in pieces[:max_pieces]],
            spans=[(int(b), int(e)) for b, e in spans[:max_pieces]],
            truncated=cut or len(ids) > max_pieces,
        )

    def count(self, text: str) -> int:
        """Pieces in the whole cleaned text, with no cap."""
        return len(self.processor.encode(clean_text(text)))

    def detokenize(self, ids: list[int]) -> Segmentation:
        """The text for `ids` (no EOS) with each piece's offsets into it; pieces spelled as in the vocabulary."""
        if not ids:  # some SentencePiece versions fail on empty input for non-str outputs
            return Segmentation(text="", ids=[], pieces=[], spans=[])
        decoded: dict[str, Any] = self.processor.decode(ids, out_type="offset_mapping")
        return Segmentation(
            text=str(decoded["text"]),
            ids=list(ids),
            pieces=[str(p) for p in decoded["pieces"]],
            spans=[(int(b), int(e)) for b, e in decoded["offsets"]],
        )

    def piece_ids(self, pieces: list[str]) -> list[int]:
        """Vocabulary ids of pieces spelled as the vocabulary spells them; ValueError for any other string."""
        ids = [int(self.processor.piece_to_id(piece)) for piece in pieces]
        for piece, piece_id in zip(pieces, ids, strict=True):
            if piece_id == self.unk_id and piece != self.processor.id_to_piece(self.unk_id):
                raise ValueError(f"{piece!r} is not a piece of the target vocabulary")
        return ids
