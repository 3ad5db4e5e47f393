"""Result documents: what a translation request answers, and what the store keeps (compressed) under its id.

Attention matrices are rounded to four decimals: they stay readable and precise enough to plot and align,
and the document shrinks to a third of full float precision.
"""

from __future__ import annotations

import secrets
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson

from service.app.sentences import Segment, TextTranslation
from service.runtime import Translation, Translator

ATTENTION_DECIMALS = 4
SCORE_DECIMALS = 6
# level 1 keeps most of the size gain (attention JSON is repetitive) at a third of level 6's CPU cost
_COMPRESSION_LEVEL = 1


def new_result_id() -> str:
    """128 random bits, URL-safe, 22 characters."""
    return secrets.token_urlsafe(16)


def iso_timestamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def rounded_attention(matrix: np.ndarray) -> np.ndarray:
    """The matrix as float64 rounded to ATTENTION_DECIMALS; to_json writes it as nested lists."""
    return np.round(np.asarray(matrix, dtype=np.float64), ATTENTION_DECIMALS)


def _confidence(translation: Translation) -> dict[str, float]:
    return {
        "mean_log_prob": round(float(translation.confidence.mean_log_prob), SCORE_DECIMALS),
        "attention_entropy": round(float(translation.confidence.attention_entropy), SCORE_DECIMALS),
    }


def segment_item(segment: Segment) -> dict[str, Any]:
    """One sentence of a text: where it lies in the text-level answer, and its own translation."""
    translation = segment.translation
    return {
        "source": translation.source,
        "text": translation.text,
        "source_start": segment.source_start,
        "source_end": segment.source_end,
        "text_start": segment.text_start,
        "text_end": segment.text_end,
        "source_word_offset": segment.source_word_offset,
        "target_word_offset": segment.target_word_offset,
        "score": round(float(translation.score), SCORE_DECIMALS),
        "source_tokens": list(translation.source_tokens),
        "target_tokens": list(translation.target_tokens),
        "attention": rounded_attention(translation.attention),
        "alignment": translation.alignment,
        "confidence": _confidence(translation),
        "source_words": list(translation.source_words),
        "target_words": list(translation.target_words),
        "truncated": bool(translation.truncated),
    }


def translation_item(text: TextTranslation, *, with_n_best: bool) -> dict[str, Any]:
    """A text's translation; its attention at text level only when it is one segment (service.app.sentences)."""
    item: dict[str, Any] = {
        "source": text.source,
        "text": text.text,
        "score": round(float(text.score), SCORE_DECIMALS),
        "source_tokens": list(text.source_tokens),
        "target_tokens": list(text.target_tokens),
        "attention": rounded_attention(text.attention) if len(text.segments) == 1 else None,
        "alignment": text.alignment,
        "alignment_method": text.alignment_method,
        "confidence": _confidence(text),
        "source_words": list(text.source_words),
        "target_words": list(text.target_words),
        "truncated": bool(text.truncated),
        "segments": [segment_item(segment) for segment in text.segments],
    }
    if with_n_best:
        item["n_best"] = [
            {"text": hypothesis.text, "score": round(float(hypothesis.score), SCORE_DECIMALS)}
            for hypothesis in text.n_best
        ]
    return item


def result_document(
    result_id: str,
    translator: Translator,
    translations: Sequence[TextTranslation],
    *,
    with_n_best: bool,
    created_at: float,
    expires_at: float | None,
) -> dict[str, Any]:
    return {
        "id": result_id,
        "model": {"name": translator.name, "version": translator.version},
        "source": translator.source_language,
        "target": translator.target_language,
        "created_at": iso_timestamp(created_at),
        "stored": expires_at is not None,
        "stored_reason": None if expires_at is not None else "not_requested",
        "expires_at": None if expires_at is None else iso_timestamp(expires_at),
        "translations": [translation_item(t, with_n_best=with_n_best) for t in translations],
    }


def marked_unstored(document: dict[str, Any], reason: str) -> dict[str, Any]:
    return {**document, "stored": False, "stored_reason": reason, "expires_at": None}


def _without_attention(item: dict[str, Any]) -> dict[str, Any]:
    kept = {key: value for key, value in item.items() if key != "attention"}
    if "segments" in kept:
        kept["segments"] = [_without_attention(segment) for segment in kept["segments"]]
    return kept


def without_attention(document: dict[str, Any]) -> dict[str, Any]:
    """The document without its attention matrices, at text level and in every segment."""
    return {**document, "translations": [_without_attention(item) for item in document["translations"]]}


def to_json(document: Any) -> bytes:
    """Compact UTF-8 JSON; numpy arrays (the attention matrices) are written as nested lists."""
    return orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY)


def pack(document_json: bytes) -> bytes:
    return zlib.compress(document_json, _COMPRESSION_LEVEL)


def unpack(stored: bytes) -> bytes:
    return zlib.decompress(stored)
