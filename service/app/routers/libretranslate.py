"""LibreTranslate's wire format: POST /translate (JSON or form data) and GET /languages.

Errors here are `{"error": "..."}` with status 400, as LibreTranslate answers them (see errors.py).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from service.app.batching import DecodeOptions
from service.app.deps import ModelsDep, SchedulerDep, StateDep
from service.app.errors import ApiError, InvalidInputError
from service.app.languages import language_name
from service.app.schemas import (
    MAX_BEAM_SIZE,
    LibreTranslateError,
    LibreTranslateLanguage,
    LibreTranslateRequest,
    LibreTranslateResponse,
    usable_texts,
)
from service.app.state import ServingModels
from service.app.translation import check_texts, translate_texts
from service.runtime import Translation

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


def _source_language(models: ServingModels, source: str, target: str) -> str:
    if source != "auto":
        return source
    sources = sorted({src for src, tgt in models.language_pairs() if tgt == target})
    if len(sources) != 1:
        raise _BadRequest(
            "Invalid request: source 'auto' needs language detection, which heed does not do; "
            f"give the source language ({', '.join(models.pairs()) or 'no pairs served'})"
        )
    return sources[0]


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
    source = _source_language(models, request.source, request.target)
    translator = models.resolve(source, request.target)
    wanted = request.alternatives + 1
    options = DecodeOptions(beam_size=min(max(translator.default_beam_size, wanted), MAX_BEAM_SIZE), n_best=wanted)
    translations = await translate_texts(state, scheduler, translator, texts, options)
    alternatives = [_distinct_alternatives(t) for t in translations]
    single = isinstance(request.q, str)
    body: dict[str, Any] = {"translatedText": translations[0].text if single else [t.text for t in translations]}
    if request.alternatives:
        body["alternatives"] = alternatives[0] if single else alternatives
    if request.source == "auto":
        detected = {"language": source, "confidence": 100.0}
        body["detectedLanguage"] = detected if single else [detected] * len(texts)
    return JSONResponse(body)


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
