"""POST /v1/translate and GET /v1/translations/{id}."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from service.app.deps import StateDep, StoreDep, TranslationServiceDep
from service.app.documents import to_json, without_attention
from service.app.routers import result_responses
from service.app.schemas import TranslateRequest
from service.app.service import TranslationJob
from service.app.translation import JSON_MEDIA_TYPE, load_document_json

router = APIRouter(prefix="/v1", tags=["translations"])


def translation_job(request: TranslateRequest) -> TranslationJob:
    return TranslationJob(
        texts=request.texts, source=request.source, target=request.target, text_format=request.format,
        model=request.model, beam_size=request.beam_size, n_best=request.n_best, max_length=request.max_length,
        alignment_method=request.alignment_method,
    )  # fmt: skip


@router.post(
    "/translate",
    responses=result_responses(400, 413, 415, 422, 503, 504),
    summary="Translate texts, with the attention matrix and word alignment of each translation",
)
async def translate(request: TranslateRequest, service: TranslationServiceDep, store: StoreDep) -> Response:
    outcome = await service.translate(translation_job(request))
    body = await service.publish(
        outcome, store, with_n_best=request.n_best > 1, keep=request.store, attention=request.attention
    )
    return Response(body, media_type=JSON_MEDIA_TYPE)


def _strip_attention(body: bytes) -> bytes:
    return to_json(without_attention(json.loads(body)))


@router.get(
    "/translations/{result_id}",
    responses=result_responses(404, 410, 503),
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
