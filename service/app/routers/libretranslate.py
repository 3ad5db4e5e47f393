"""LibreTranslate's wire format: POST /translate and POST /detect (JSON or form data) and GET /languages.

Errors here are `{"error": "..."}` with status 400, as LibreTranslate answers them (see errors.py).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from service.app.batching import DecodeOptions, TranslationScheduler
from service.app.deps import ModelsDep, SchedulerDep, StateDep
from service.app.detection import check_translatable, detect_each, percent
from service.app.errors import ApiError, InvalidInputError
from service.app.languages import language_name
from service.app.schemas import (
    MAX_BEAM_SIZE,
    DetectedLanguage,
    LibreTranslateError,
    LibreTranslateLanguage,
    LibreTranslateRequest,
    LibreTranslateResponse,
    usable_texts,
)
from service.app.state import AppState, ServingModels
from service.app.translation import check_texts, translate_texts
from service.runtime import Translation
from service.text.detect import Detection, detect, detect_together

router = APIRouter(tags=["libretranslate"])

_FORM_SCHEMA = LibreTranslateRequest.model_json_schema()
_REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {"schema": _FORM_SCHEMA},
        "application/x-www-form-urlencoded": {"schema": _FORM_SCHEMA},
        "multipart/form-data": {"schema": _FORM_SCHEMA},
    },
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": LibreTranslateError, "description": "Invalid request"},
    413: {"model": LibreTranslateError, "description": "Request body too large"},
    503: {"model": LibreTranslateError, "description": "Not ready or overloaded"},
    504: {"model": LibreTranslateError, "description": "The translation did not finish in time"},
}


class _BadRequest(ApiError):
    status_code = 400
    code = "bad_request"


def _collect(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Form fields as a dict; `q` given several times becomes a list, like a JSON list."""
    fields: dict[str, Any] = {}
    queries = [value for key, value in pairs if key == "q"]
    for key, value in pairs:
        fields[key] = value
    if len(queries) > 1:
        fields["q"] = queries
    return fields


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


async def _read_fields(request: Request) -> dict[str, Any]:
    media_type = _media_type(request)
    body = await request.body()
    try:
        if _is_json(media_type):
            data = json.loads(body) if body else {}
            if not isinstance(data, dict):
                raise _BadRequest("Invalid request: the JSON body must be an object")
            return data
        if media_type == "multipart/form-data":
            form = await request.form()
            return _collect([(key, value) for key, value in form.multi_items() if isinstance(value, str)])
        text = body.decode("utf-8")
        return _collect(parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict"))
    except UnicodeDecodeError as error:
        raise _BadRequest(f"Invalid request: the body is not valid UTF-8 ({error.reason})") from None
    except json.JSONDecodeError as error:
        raise _BadRequest(f"Invalid request: malformed JSON: {error.msg} at {error.pos}") from None


def _parse(fields: dict[str, Any], *, typed: bool) -> LibreTranslateRequest:
    """Form fields are all text and are read as their types ("2" is 2); JSON values must have the right type."""
    try:
        return LibreTranslateRequest.model_validate(fields, strict=typed)
    except ValidationError as error:
        first = error.errors()[0]
        name = ".".join(str(part) for part in first["loc"]) or "body"
        if first["type"] == "missing":
            raise _BadRequest(f"Invalid request: missing {name} parameter") from None
        raise _BadRequest(f"Invalid request: {name}: {first['msg']}") from None


def _texts(request: LibreTranslateRequest) -> list[str]:
    texts = [request.q] if isinstance(request.q, str) else list(request.q)
    if not texts:
        raise _BadRequest("Invalid request: missing q parameter")
    try:
        usable_texts(request.q)
    except ValueError as error:
        raise _BadRequest(f"Invalid request: {str(error).replace('text', 'q', 1)}") from None
    return texts


def _distinct_alternatives(translation: Translation) -> list[str]:
    """The other hypotheses' texts, without repeats of the translation or of each other (as LibreTranslate)."""
    seen = {translation.text}
    texts = []
    for hypothesis in translation.n_best[1:]:
        if hypothesis.text not in seen:
            seen.add(hypothesis.text)
            texts.append(hypothesis.text)
    return texts


def _detected(detection: Detection) -> dict[str, Any]:
    """A detection as LibreTranslate answers it: confidence in percent."""
    return {"confidence": percent(detection), "language": detection.language}


async def _translate_by_source(
    state: AppState, scheduler: TranslationScheduler, models: ServingModels, texts: list[str], sources: list[str],
    target: str, wanted: int,
) -> list[Translation]:  # fmt: skip
    """Each text through the model for its own source language (detected texts may differ), in the texts' order."""

    async def translate_group(source: str) -> list[tuple[int, Translation]]:
        indices = [index for index, language in enumerate(sources) if language == source]
        translator = models.resolve(source, target)
        beam_size = min(max(translator.default_beam_size, wanted), MAX_BEAM_SIZE)
        options = DecodeOptions(beam_size=beam_size, n_best=wanted)
        group = await translate_texts(state, scheduler, translator, [texts[index] for index in indices], options)
        return list(zip(indices, group, strict=True))

    groups = await asyncio.gather(*(translate_group(source) for source in dict.fromkeys(sources)))
    return [
        translation for _, translation in sorted((pair for group in groups for pair in group), key=lambda pair: pair[0])
    ]


@router.post(
    "/translate",
    response_model=LibreTranslateResponse,
    response_model_exclude_none=True,
    responses=_ERRORS,
    openapi_extra={"requestBody": _REQUEST_BODY},
    summary="LibreTranslate-compatible translation (JSON or form data)",
)
async def libretranslate_translate(
    http_request: Request, state: StateDep, models: ModelsDep, scheduler: SchedulerDep
) -> JSONResponse:
    request = _parse(await _read_fields(http_request), typed=_is_json(_media_type(http_request)))
    if request.format != "text":
        raise _BadRequest(f"Invalid request: format {request.format!r} is not supported; use 'text'")
    texts = _texts(request)
    try:
        check_texts(texts, state.settings, "q")
    except InvalidInputError as error:
        raise _BadRequest(f"Invalid request: {error.message}") from None
    detections: list[Detection] | None = None
    if request.source == "auto":
        detections = await detect_each(texts)
        check_translatable(models, detections, request.target, "q")
    sources = (
        [detection.language for detection in detections] if detections is not None else [request.source] * len(texts)
    )
    translations = await _translate_by_source(state, scheduler, models, texts, sources, request.target,
                                              request.alternatives + 1)  # fmt: skip
    alternatives = [_distinct_alternatives(t) for t in translations]
    single = isinstance(request.q, str)
    body: dict[str, Any] = {"translatedText": translations[0].text if single else [t.text for t in translations]}
    if request.alternatives:
        body["alternatives"] = alternatives[0] if single else alternatives
    if detections is not None:
        detected = [_detected(detection) for detection in detections]
        body["detectedLanguage"] = detected[0] if single else detected
    return JSONResponse(body)


_DETECT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["q"],
    "properties": {
        "q": {**_FORM_SCHEMA["properties"]["q"], "description": "Text, or a list of texts detected together."},
        "api_key": {"anyOf": [{"type": "string"}, {"type": "null"}], "description": "API key"},
    },
}


def _detect_texts(fields: dict[str, Any]) -> list[str]:
    if not isinstance(fields.get("api_key", ""), str | None):
        raise _BadRequest("Invalid request: api_key must be a string")
    q = fields.get("q")
    if q is None or q == [] or q == "":
        raise _BadRequest("Invalid request: missing q parameter")
    if not isinstance(q, str) and not (isinstance(q, list) and all(isinstance(text, str) for text in q)):
        raise _BadRequest("Invalid request: q must be a string or a list of strings")
    try:
        usable_texts(q)
    except ValueError as error:
        raise _BadRequest(f"Invalid request: {str(error).replace('text', 'q', 1)}") from None
    return [q] if isinstance(q, str) else q


@router.post(
    "/detect",
    response_model=list[DetectedLanguage],
    responses={400: _ERRORS[400], 413: _ERRORS[413]},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {media_type: {"schema": _DETECT_SCHEMA} for media_type in _REQUEST_BODY["content"]},
        }
    },
    summary="LibreTranslate-compatible language detection: the likeliest languages, confidence in percent",
)
async def libretranslate_detect(http_request: Request, state: StateDep) -> JSONResponse:
    """For a list, each language's probability is averaged over the texts, weighted by their lengths."""
    fields = await _read_fields(http_request)
    texts = _detect_texts(fields)
    try:
        check_texts(texts, state.settings, "q")
    except InvalidInputError as error:
        raise _BadRequest(f"Invalid request: {error.message}") from None
    single = isinstance(fields["q"], str)
    detections = await asyncio.to_thread(lambda: detect(texts[0]) if single else detect_together(texts))
    return JSONResponse([_detected(detection) for detection in detections])


@router.get(
    "/languages",
    response_model=list[LibreTranslateLanguage],
    responses={503: _ERRORS[503]},
    summary="LibreTranslate-compatible list of languages and the targets each translates into",
)
async def libretranslate_languages(models: ModelsDep) -> list[LibreTranslateLanguage]:
    pairs = models.language_pairs()
    codes = sorted({code for pair in pairs for code in pair})
    return [
        LibreTranslateLanguage(
            code=code, name=language_name(code), targets=sorted({tgt for src, tgt in pairs if src == code})
        )
        for code in codes
    ]
