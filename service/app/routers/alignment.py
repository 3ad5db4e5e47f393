"""GET /v1/translations/{id}/alignment (json, pharaoh, svg) and POST /v1/align (forced decoding)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from service.app.deps import StateDep, StoreDep, TranslationServiceDep
from service.app.errors import NotFoundError, TooLargeForSvgError
from service.app.headers import shown
from service.app.heatmap import MAX_SVG_CELLS, render_heatmap
from service.app.routers import error_responses, result_responses
from service.app.schemas import AlignmentView, AlignRequest
from service.app.service import AlignmentJob
from service.app.store import AttentionNotStoredError
from service.app.translation import JSON_MEDIA_TYPE, load_document

router = APIRouter(prefix="/v1", tags=["alignment"])

SVG_MEDIA_TYPE = "image/svg+xml"
AlignmentFormat = Literal["json", "pharaoh", "svg"]

_ALIGNMENT_CONTENT: dict[str, Any] = {
    "application/json": {"schema": AlignmentView.model_json_schema()},
    "text/plain": {"schema": {"type": "string"}, "example": "0-0 1-1 2-2 3-3"},
    SVG_MEDIA_TYPE: {"schema": {"type": "string"}, "example": '<?xml version="1.0" encoding="UTF-8"?><svg ...>'},
}


_VIEW_KEYS = ("source", "text", "source_tokens", "target_tokens", "attention", "alignment", "source_words",
              "target_words")  # fmt: skip


def _alignment_view(result_id: str, index: int, item: dict[str, Any], segment: int | None) -> dict[str, Any]:
    """The text's view (with its segments), or one segment's when `segment` is given."""
    part = item if segment is None else item["segments"][segment]
    view: dict[str, Any] = {"id": result_id, "index": index, "segment": segment}
    view.update({key: part.get(key) for key in _VIEW_KEYS})
    view["alignment_method"] = item.get("alignment_method")  # absent from results stored before it was recorded
    view["segments"] = item.get("segments", []) if segment is None else []
    return view


def _matrix(item: dict[str, Any]) -> list[list[float]]:
    """The text's attention: its own (a text of one sentence), or the block diagonal of its sentences'."""
    if item.get("attention") is not None:
        matrix: list[list[float]] = item["attention"]
        return matrix
    columns = len(item["source_tokens"])
    rows: list[list[float]] = []
    before = 0
    for segment in item["segments"]:
        width = len(segment["source_tokens"])
        rows.extend([0.0] * before + row + [0.0] * (columns - before - width) for row in segment["attention"])
        before += width
    return rows


def _svg(document: dict[str, Any], index: int, item: dict[str, Any], segment: int | None) -> str:
    part = item if segment is None else item["segments"][segment]
    cells = len(part["source_tokens"]) * len(part["target_tokens"])
    if cells > MAX_SVG_CELLS:
        several = segment is None and len(item.get("segments", [])) > 1
        raise TooLargeForSvgError(
            f"the matrix has {cells} cells, more than the {MAX_SVG_CELLS} an SVG heatmap may show; use format=json"
            + (" or ask for one sentence with segment=" if several else "")
        )
    model = document["model"]
    pair = f"{document['source']}→{document['target']}"
    where = f"text {index}" if segment is None else f"text {index}, sentence {segment}"
    title = f"Attention {pair} · model {model['name']} · result {document['id']}, {where}"
    matrix = _matrix(part) if segment is None else part["attention"]
    return render_heatmap(
        part["source_tokens"], part["target_tokens"], matrix, title=title,
        description=f"{part['source']} → {part['text']}",
    )  # fmt: skip


def _has_attention(item: dict[str, Any]) -> bool:
    """Whether the result was stored with attention (it is stored as asked)."""
    if item.get("attention") is not None:
        return True
    return bool(item.get("segments")) and "attention" in item["segments"][0]


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
    segment: Annotated[
        int | None,
        Query(ge=0, description="One sentence of the text (0-based, see `segments`); left out: the whole text."),
    ] = None,
) -> Response:
    document = await load_document(state, store, result_id)
    items = document["translations"]
    if index >= len(items):
        raise NotFoundError(f"result {shown(result_id)} has {len(items)} translation(s); index {index} does not exist")
    item = items[index]
    segments = item.get("segments", [])
    if segment is not None and segment >= max(len(segments), 1):
        raise NotFoundError(f"text {index} of result {shown(result_id)} has {len(segments)} sentence(s); "
                            f"segment {segment} does not exist")  # fmt: skip
    if segment is not None and not segments:  # stored before segments were recorded: the text is its one segment
        segment = None
    if output_format == "pharaoh":
        alignment = item["alignment"] if segment is None else segments[segment]["alignment"]
        return PlainTextResponse(alignment + "\n")
    if not _has_attention(item):  # stored as asked: without attention
        raise AttentionNotStoredError()
    if output_format == "svg":
        svg = await asyncio.to_thread(_svg, document, index, item, segment)
        return Response(svg, media_type=SVG_MEDIA_TYPE)
    return JSONResponse(_alignment_view(result_id, index, item, segment))


@router.post(
    "/align",
    responses=result_responses(400, 413, 415, 422, 503, 504),
    summary="Forced decoding: the attention and alignment the model gives an existing translation",
)
async def align(request: AlignRequest, service: TranslationServiceDep, store: StoreDep) -> Response:
    job = AlignmentJob(
        texts=request.texts, translations=request.translations, source=request.source, target=request.target,
        model=request.model, alignment_method=request.alignment_method,
    )  # fmt: skip
    body = await service.publish(await service.align(job), store, with_n_best=False, keep=request.store,
                                       attention=True)  # fmt: skip
    return Response(body, media_type=JSON_MEDIA_TYPE)
