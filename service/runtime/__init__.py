"""heed's torch-free inference runtime: ONNX Runtime sessions, SentencePiece, numpy, nothing else.

    registry = ModelRegistry.load_dir("artifacts")
    translator = registry.get("en", "de")
    [translation] = translator.translate_batch(["A man is riding a bike."], beam_size=4)
    translation.text, translation.attention, translation.alignment

See translator.py (lengths, empty input), search.py (beam search and how attention follows each
hypothesis), alignment.py (the subword-to-word rule) and tokenizer.py (cleaning and the caps).
"""

from service.runtime.errors import BundleError, UnsupportedPairError
from service.runtime.manifest import BUNDLE_FORMAT, MAX_BEAM_SIZE
from service.runtime.registry import ModelRegistry
from service.runtime.tokenizer import MAX_SOURCE_PIECES, MAX_TARGET_PIECES
from service.runtime.translator import (
    DEFAULT_INTER_OP_THREADS,
    DEFAULT_INTRA_OP_THREADS,
    MAX_OUTPUT_PIECES,
    Hypothesis,
    Translation,
    Translator,
)

__all__ = [
    "BUNDLE_FORMAT",
    "DEFAULT_INTER_OP_THREADS",
    "DEFAULT_INTRA_OP_THREADS",
    "MAX_BEAM_SIZE",
    "MAX_OUTPUT_PIECES",
    "MAX_SOURCE_PIECES",
    "MAX_TARGET_PIECES",
    "BundleError",
    "Hypothesis",
    "ModelRegistry",
    "Translation",
    "Translator",
    "UnsupportedPairError",
]
