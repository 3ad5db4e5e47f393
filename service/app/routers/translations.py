"""POST /v1/translate and GET /v1/translations/{id}."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from service.app.batching import DecodeOptions
from service.app.deps import ModelsDep, SchedulerDep, StateDep, StoreDep
from service.app.detection import detect_one_source
from service.app.documents import to_json, without_attention
from service.app.markup_translation import text_content, translate_html
from service.app.routers import error_responses
from service.app.schemas import TranslateRequest, TranslationResult
from service.app.translation import (
    JSON_MEDIA_TYPE,
    check_max_length,
    check_texts,
    load_document_json,
    result_response,
    translate_texts,
)

router = APIRouter(prefix="/v1", tags=["translations"])


@router.post(
    "/translate",
    response_model=TranslationResult,
    responses=error_responses(400, 413, 415, 422, 503, 504),
    summary="Translate texts, with the attention matrix and word alignment of each translation",
)
async def translate(
    request: TranslateRequest, state: StateDep, models: ModelsDep, scheduler: SchedulerDep, store: StoreDep
) -> Response:
    texts = request.texts
    check_texts(texts, state.settings)
    check_max_length(request.max_length, state.settings)
    source = request.source
    html = request.format == "html"
    if source == "auto":  # each text's language detected; they must agree, as the result has one source
        detected = await text_content(texts) if html else texts  # HTML: its text, not its markup
        source = await detect_one_source(models, detected, request.target)
    translator = models.resolve(source, request.target, request.model)
    beam_size = request.beam_for(translator.default_beam_size)
    options = DecodeOptions(
        beam_size=beam_size, n_best=request.n_best, max_length=request.max_length,
        alignment_method=request.alignment_method,
    )  # fmt: skip
    translate = translate_html if html else translate_texts
    translations = await translate(state, scheduler, translator, texts, options)
    return await result_response(
        state, store, translator, translations, with_n_best=request.n_best > 1, keep=request.store,
        attention=request.attention,
    )  # fmt: skip


def _strip_attention(body: bytes) -> bytes:
    return to_json(without_attention(json.loads(body)))


@router.get(
    "/translations/{result_id}",
    response_model=TranslationResult,
    responses=error_responses(404, 410, 503),
    summary="Fetch a stored result again by its id",
)
async def get_translation(
    result_id: str,
    state: StateDep,
    store: StoreDep,
    attention: Annotated[
        bool, Query(description="Include the attention matrices, if they were stored (only when asked at translation).")
    ] = True,
) -> Response:
    body = await load_document_json(state, store, result_id)
    if not attention:
        body = await asyncio.to_thread(_strip_attention, body)
    return Response(body, media_type=JSON_MEDIA_TYPE)
