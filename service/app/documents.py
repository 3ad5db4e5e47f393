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


def translation_item(translation: Translation, *, with_n_best: bool) -> dict[str, Any]:
    item: dict[str, Any] = {
        "source": translation.source,
        "text": translation.text,
        "score": round(float(translation.score), SCORE_DECIMALS),
        "source_tokens": list(translation.source_tokens),
        "target_tokens": list(translation.target_tokens),
        "attention": rounded_attention(translation.attention),
        "alignment": translation.alignment,
        "alignment_method": translation.alignment_method,
        "confidence": {
            "mean_log_prob": round(float(translation.confidence.mean_log_prob), SCORE_DECIMALS),
            "attention_entropy": round(float(translation.confidence.attention_entropy), SCORE_DECIMALS),
        },
        "source_words": list(translation.source_words),
        "target_words": list(translation.target_words),
        "truncated": bool(getattr(translation, "truncated", False)),
    }
    if with_n_best:
        item["n_best"] = [
            {"text": hypothesis.text, "score": round(float(hypothesis.score), SCORE_DECIMALS)}
            for hypothesis in translation.n_best
        ]
    return item


def result_document(
    result_id: str,
    translator: Translator,
    translations: Sequence[Translation],
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


def without_attention(document: dict[str, Any]) -> dict[str, Any]:
    items = [{key: value for key, value in item.items() if key != "attention"} for item in document["translations"]]
    return {**document, "translations": items}


def to_json(document: Any) -> bytes:
    """Compact UTF-8 JSON; numpy arrays (the attention matrices) are written as nested lists."""
    return orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY)


def pack(document_json: bytes) -> bytes:
    return zlib.compress(document_json, _COMPRESSION_LEVEL)


def unpack(stored: bytes) -> bytes:
    return zlib.decompress(stored)
