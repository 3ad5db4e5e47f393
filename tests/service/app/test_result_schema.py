"""Every result document heed answers matches the schema its OpenAPI declares (TranslationResult).

The service serializes a result once (orjson) and answers those bytes, so FastAPI never validates it against the
declared model; this test does, over a real server, for each shape a result can take: one sentence, several, n-best,
HTML, without attention, forced alignment, and the stored copy."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from service.app.schemas import TranslationResult
from tests.tiny_corpus import PAIRS

PARAGRAPH = f"{PAIRS[0][0]} {PAIRS[1][0]}\n\n{PAIRS[2][0]}"
BASE = {"source": "en", "target": "de"}
TRANSLATIONS = {
    "one sentence": {"text": PAIRS[3][0]},
    "several sentences": {"text": PARAGRAPH},
    "a list, n-best": {"text": [PARAGRAPH, PAIRS[4][0]], "beam_size": 3, "n_best": 2},
    "html": {"text": f"<p>{PAIRS[5][0]} <b>{PAIRS[6][0]}</b></p>", "format": "html"},
    "without attention": {"text": PARAGRAPH, "attention": False},
    "auto": {"text": PARAGRAPH, "source": "auto"},
}


def _valid(body: dict[str, Any]) -> TranslationResult:
    result = TranslationResult.model_validate(body, strict=True)
    assert result.model_dump(mode="json", exclude_unset=True) == body, "no field outside the schema"
    return result


@pytest.mark.parametrize("shape", TRANSLATIONS)
def test_translate_answers_and_stored_copies_match_the_declared_schema(client: httpx.Client, shape: str) -> None:
    response = client.post("/v1/translate", json={**BASE, **TRANSLATIONS[shape]})
    assert response.status_code == 200, response.text
    result = _valid(response.json())
    assert all(item.segments for item in result.translations)
    stored = client.get(f"/v1/translations/{result.id}")
    assert stored.content == response.content, "stored as the very bytes answered"


def test_align_answers_match_the_declared_schema(client: httpx.Client) -> None:
    translation = f"{PAIRS[0][1]} {PAIRS[1][1]}\n\n{PAIRS[2][1]}"
    response = client.post("/v1/align", json={**BASE, "text": PARAGRAPH, "translation": translation})
    assert response.status_code == 200, response.text
    (item,) = _valid(response.json()).translations
    assert [segment.text for segment in item.segments] == [PAIRS[0][1], PAIRS[1][1], PAIRS[2][1]]
