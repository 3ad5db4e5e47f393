"""Where the self-check's sentences come from, and how they become source ids."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sentencepiece as spm

from export.errors import ExportInputError
from model.data import CorpusError, read_lines

MAX_SOURCE_TOKENS = 250  # as model.decode.translate_greedy truncates

BUILT_IN_SENTENCES: dict[str, tuple[str, ...]] = {
    "en": (
        "A man in a blue shirt is standing on a ladder.",
        "Two young children are playing with a ball in the park.",
        "A woman sells vegetables at a market.",
        "The dog jumps over a fallen tree.",
        "People are walking down a busy street at night.",
        "A girl in a red dress smiles.",
        "Several workers are repairing the roof of a house, while a crowd watches from the sidewalk.",
        "Hi!",
    ),
    "de": (
        "Ein Mann in einem blauen Hemd steht auf einer Leiter.",
        "Zwei kleine Kinder spielen im Park mit einem Ball.",
        "Eine Frau verkauft Gemüse auf einem Markt.",
        "Der Hund springt über einen umgestürzten Baum.",
        "Menschen gehen nachts eine belebte Straße entlang.",
        "Ein Mädchen in einem roten Kleid lächelt.",
        "Mehrere Arbeiter reparieren das Dach eines Hauses, während eine Menge vom Gehweg aus zusieht.",
        "Hallo!",
    ),
    "fr": (
        "Un homme en chemise bleue est debout sur une échelle.",
        "Deux jeunes enfants jouent au ballon dans le parc.",
        "Une femme vend des légumes au marché.",
        "Le chien saute par-dessus un arbre tombé.",
        "Des gens marchent dans une rue animée la nuit.",
        "Une fille en robe rouge sourit.",
        "Plusieurs ouvriers réparent le toit d'une maison, pendant qu'une foule regarde depuis le trottoir.",
        "Salut !",
    ),
}


def check_sentences(
    check_src: Path | None, train_args: dict[str, Any], src_lang: str, limit: int
) -> tuple[list[str], str]:
    """The sentences to check with and where they came from.

    Order of preference: --check-src, the validation source named in the checkpoint's
    train_args (when that file still exists), the built-in sentences for the source language.
    """
    if check_src is not None:
        return _read(check_src, limit), str(check_src)
    valid_src = train_args.get("valid_src")
    if isinstance(valid_src, str) and Path(valid_src).is_file():
        return _read(Path(valid_src), limit), valid_src
    if src_lang in BUILT_IN_SENTENCES:
        return list(BUILT_IN_SENTENCES[src_lang][:limit]), f"built-in {src_lang} sentences"
    raise ExportInputError(f"no built-in {src_lang!r} sentences to check the export with; pass --check-src FILE")


def _read(path: Path, limit: int) -> list[str]:
    try:
        lines = [line.strip() for line in read_lines(path)]
    except CorpusError as error:
        raise ExportInputError(str(error)) from None
    sentences = [line for line in lines if line][:limit]
    if not sentences:
        raise ExportInputError(f"{path}: no sentences to check the export with")
    return sentences


def encode_sources(src_sp: spm.SentencePieceProcessor, sentences: Sequence[str], eos_id: int) -> list[list[int]]:
    """SentencePiece ids with EOS appended, as the model was trained on."""
    return [[*ids[: MAX_SOURCE_TOKENS - 1], eos_id] for ids in src_sp.encode(list(sentences))]
