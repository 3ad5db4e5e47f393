"""GET /v1/translations/{id}/alignment (json, pharaoh, svg) and POST /v1/align (forced decoding)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from service.app.deps import ModelsDep, SchedulerDep, StateDep, StoreDep
from service.app.errors import NotFoundError, TooLargeForSvgError
from service.app.heatmap import MAX_SVG_CELLS, render_heatmap
from service.app.routers import error_responses
from service.app.schemas import AlignmentView, AlignRequest, TranslationResult
from service.app.store import AttentionNotStoredError
from service.app.translation import check_texts, force_decode, load_document, result_response

router = APIRouter(prefix="/v1", tags=["alignment"])

SVG_MEDIA_TYPE = "image/svg+xml"
AlignmentFormat = Literal["json", "pharaoh", "svg"]

_ALIGNMENT_CONTENT: dict[str, Any] = {
    "application/json": {"schema": AlignmentView.model_json_schema()},
    "text/plain": {"schema": {"type": "string"}, "example": "0-0 1-1 2-2 3-3"},
    SVG_MEDIA_TYPE: {"schema": {"type": "string"}, "example": '<?xml version="1.0" encoding="UTF-8"?><svg ...>'},
}


def _alignment_view(result_id: str, index: int, item: dict[str, Any]) -> dict[str, Any]:
    view = {"id": result_id, "index": index}
    for key in ("source", "text", "source_tokens", "target_tokens", "attention", "alignment", "source_words",
                "target_words"):  # fmt: skip
        view[key] = item[key]
    view["alignment_method"] = item.get("alignment_method")  # absent from results stored before it was recorded
    return view


def _svg(document: dict[str, Any], index: int, item: dict[str, Any]) -> str:
    cells = len(item["source_tokens"]) * len(item["target_tokens"])
    if cells > MAX_SVG_CELLS:
        raise TooLargeForSvgError(
            f"the matrix has {cells} cells, more than the {MAX_SVG_CELLS} an SVG heatmap may show; use format=json"
        )
    model = document["model"]
    pair = f"{document['source']}→{document['target']}"
    title = f"Attention {pair} · model {model['name']} · result {document['id']}, text {index}"
    return render_heatmap(
        item["source_tokens"], item["target_tokens"], item["attention"], title=title,
        description=f"{item['source']} → {item['text']}",
    )  # fmt: skip


@router.get(
    "/translations/{result_id}/alignment",
    responses={
        200: {"content": _ALIGNMENT_CONTENT, "description": "The alignment in the asked format"},
        **error_responses(404, 409, 410, 422, 503),
    },
    response_class=Response,
    summary="One translation's attention and alignment: as JSON, a Pharaoh line, or an SVG heatmap",
)
async def get_alignment(
    result_id: str,
    state: StateDep,
    store: StoreDep,
    index: Annotated[int, Query(ge=0, description="Which translation of the result (0-based).")] = 0,
    output_format: Annotated[AlignmentFormat, Query(alias="format", description="json, pharaoh or svg.")] = "json",
) -> Response:
    document = await load_document(state, store, result_id)
    items = document["translations"]
    if index >= len(items):
        raise NotFoundError(f"result {result_id!r} has {len(items)} translation(s); index {index} does not exist")
    item = items[index]
    if output_format == "pharaoh":
        return PlainTextResponse(item["alignment"] + "\n")
    if "attention" not in item:  # stored as asked: without attention
        raise AttentionNotStoredError()
    if output_format == "svg":
        svg = await asyncio.to_thread(_svg, document, index, item)
        return Response(svg, media_type=SVG_MEDIA_TYPE)
    return JSONResponse(_alignment_view(result_id, index, item))


@router.post(
    "/align",
    response_model=TranslationResult,
    responses=error_responses(400, 413, 415, 422, 503, 504),
    summary="Forced decoding: the attention and alignment the model gives an existing translation",
)
async def align(
    request: AlignRequest, state: StateDep, models: ModelsDep, scheduler: SchedulerDep, store: StoreDep
) -> Response:
    check_texts(request.texts, state.settings, "text")
    check_texts(request.translations, state.settings, "translation")
    translator = models.resolve(request.source, request.target, request.model)
    translations = await force_decode(
        state, scheduler, translator, request.texts, request.translations, request.alignment_method
    )
    return await result_response(
        state, store, translator, translations, with_n_best=False, keep=request.store, attention=True
    )
