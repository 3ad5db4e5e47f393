"""LibreTranslate 1.9.6's routes: /translate, /detect and /translate_file (parameters from JSON, form data or the
query string), /languages, /download_file/<name>, /frontend/settings, /suggest (disabled), /health and /spec.

Errors here are `{"error": "..."}` with LibreTranslate's status codes (see errors.py; keys: middleware.py).
"""

from __future__ import annotations

import json
import re
from pathlib import PurePath
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.datastructures import UploadFile

from service.app.deps import ModelsDep, StateDep, StoreDep, TranslationServiceDep
from service.app.detection import percent
from service.app.errors import ApiError, BadRequestError, is_libretranslate_path
from service.app.languages import language_name
from service.app.schemas import (
    DetectedLanguage,
    LibreTranslateError,
    LibreTranslateLanguage,
    LibreTranslateRequest,
    LibreTranslateResponse,
    usable_texts,
)
from service.app.service import TranslationJob
from service.app.translated_files import (
    DOWNLOAD_NAME_PATTERN,
    MEDIA_TYPES,
    load_file,
    read_upload,
    translate_file,
)
from service.runtime import Translation
from service.text.detect import Detection
from service.text.files import FORMATS

router = APIRouter(tags=["libretranslate"])

_JSON_SCHEMA = LibreTranslateRequest.model_json_schema()
# Form fields are text: `format` may be empty there, not null.
_FORM_SCHEMA = {**_JSON_SCHEMA, "properties": {**_JSON_SCHEMA["properties"],
                                               "format": {**_JSON_SCHEMA["properties"]["format"], "anyOf": [
                                                   {"type": "string", "enum": ["text", "html", ""]}]}}}  # fmt: skip
_REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {"schema": _JSON_SCHEMA},
        "application/x-www-form-urlencoded": {"schema": _FORM_SCHEMA},
        "multipart/form-data": {"schema": _FORM_SCHEMA},
    },
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": LibreTranslateError, "description": "Invalid request"},
    413: {
        "model": LibreTranslateError,
        "description": "Request body too large, or too much work: over the per-request budget, or stopped at the "
        "decoding limit",
    },
    503: {"model": LibreTranslateError, "description": "Not ready or overloaded"},
    504: {"model": LibreTranslateError, "description": "The translation did not finish in time"},
}


FRONTEND_TIMEOUT_MS = 500  # LibreTranslate's default: how long its page waits after typing before translating


class LibreTranslateFileResponse(BaseModel):
    translatedFileUrl: str  # LibreTranslate's field name

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"translatedFileUrl": "http://localhost:8000/download_file/Xq3v0b8kPZ1mJ2c9YwT4nA.talk.srt"}
    ]})  # fmt: skip


class LibreTranslateLanguageName(BaseModel):
    code: str
    name: str


class LibreTranslateSettings(BaseModel):
    """LibreTranslate's /frontend/settings fields."""

    charLimit: int
    frontendTimeout: int
    apiKeys: bool
    keyRequired: bool
    suggestions: bool
    filesTranslation: bool
    supportedFilesFormat: list[str]
    language: dict[str, LibreTranslateLanguageName]

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "charLimit": 5000, "frontendTimeout": 500, "apiKeys": False, "keyRequired": False, "suggestions": False,
        "filesTranslation": True, "supportedFilesFormat": [".txt", ".srt", ".vtt", ".html", ".htm"],
        "language": {"source": {"code": "en", "name": "English"}, "target": {"code": "de", "name": "German"}},
    }]})  # fmt: skip


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


_DIGITS = re.compile(r"[0-9]+")


def _normalised(fields: dict[str, Any]) -> dict[str, Any]:
    """LibreTranslate's leniencies: language codes in any case, `format` null or "" for text, and `alternatives`
    as a numeric string."""
    for name in ("source", "target"):
        if isinstance(fields.get(name), str):
            fields[name] = fields[name].strip().lower()
    if fields.get("format", "text") in (None, ""):
        fields["format"] = "text"
    alternatives = fields.get("alternatives")
    if isinstance(alternatives, str):
        if not _DIGITS.fullmatch(alternatives):
            raise BadRequestError("Invalid request: alternatives parameter is not a number")
        fields["alternatives"] = int(alternatives)
    return fields


async def _read_fields(request: Request) -> dict[str, Any]:
    """The request's parameters: the body's, and for those it lacks, the query string's (as LibreTranslate reads
    form requests; heed reads JSON requests the same way)."""
    query = _collect(list(request.query_params.multi_items()))
    body = await _read_body_fields(request)
    return _normalised({**{key: value for key, value in query.items() if key not in body}, **body})


async def _read_body_fields(request: Request) -> dict[str, Any]:
    media_type = _media_type(request)
    body = await request.body()
    try:
        if _is_json(media_type):
            data = json.loads(body) if body else {}
            if not isinstance(data, dict):
                raise BadRequestError("Invalid request: the JSON body must be an object")
            return data
        if media_type == "multipart/form-data":
            form = await request.form()
            return _collect([(key, value) for key, value in form.multi_items() if isinstance(value, str)])
        text = body.decode("utf-8")
        return _collect(parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict"))
    except UnicodeDecodeError as error:
        raise BadRequestError(f"Invalid request: the body is not valid UTF-8 ({error.reason})") from None
    except json.JSONDecodeError as error:
        raise BadRequestError(f"Invalid request: malformed JSON: {error.msg} at {error.pos}") from None


def _parse(fields: dict[str, Any], *, typed: bool) -> LibreTranslateRequest:
    """Form fields are all text and are read as their types ("2" is 2); JSON values must have the right type."""
    try:
        return LibreTranslateRequest.model_validate(fields, strict=typed)
    except ValidationError as error:
        first = error.errors()[0]
        name = ".".join(str(part) for part in first["loc"]) or "body"
        if first["type"] == "missing":
            raise BadRequestError(f"Invalid request: missing {name} parameter") from None
        raise BadRequestError(f"Invalid request: {name}: {first['msg']}") from None


def _usable_q(q: str | list[str]) -> list[str]:
    """The texts of `q`; 400 when the list is empty, or a text is empty or not valid text."""
    if q == []:
        raise BadRequestError("Invalid request: missing q parameter")
    try:
        usable_texts(q)
    except ValueError as error:
        raise BadRequestError(f"Invalid request: {str(error).replace('text', 'q', 1)}") from None
    return [q] if isinstance(q, str) else list(q)


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


@router.post(
    "/translate",
    response_model=LibreTranslateResponse,
    response_model_exclude_none=True,
    responses=_ERRORS,
    openapi_extra={"requestBody": _REQUEST_BODY},
    summary="LibreTranslate-compatible translation (JSON or form data)",
)
async def libretranslate_translate(http_request: Request, service: TranslationServiceDep) -> JSONResponse:
    request = _parse(await _read_fields(http_request), typed=_is_json(_media_type(http_request)))
    job = TranslationJob(
        texts=_usable_q(request.q), source=request.source, target=request.target, text_format=request.format,
        n_best=request.alternatives + 1, one_source=False, field="q",
    )  # fmt: skip
    outcome = await service.translate(job)
    translations = outcome.translations
    single = isinstance(request.q, str)
    body: dict[str, Any] = {"translatedText": translations[0].text if single else [t.text for t in translations]}
    if request.alternatives:
        alternatives = [_distinct_alternatives(t) for t in translations]
        body["alternatives"] = alternatives[0] if single else alternatives
    if outcome.detections is not None:
        detected = [_detected(detection) for detection in outcome.detections]
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
        raise BadRequestError("Invalid request: api_key must be a string")
    q = fields.get("q")
    if q is None or q == "":
        raise BadRequestError("Invalid request: missing q parameter")
    if not isinstance(q, str) and not (isinstance(q, list) and all(isinstance(text, str) for text in q)):
        raise BadRequestError("Invalid request: q must be a string or a list of strings")
    return _usable_q(q)


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
async def libretranslate_detect(http_request: Request, service: TranslationServiceDep) -> JSONResponse:
    """For a list, each language's probability is averaged over the texts, weighted by their lengths."""
    fields = await _read_fields(http_request)
    texts = _detect_texts(fields)
    detections = await service.detect(texts, together=not isinstance(fields["q"], str), field="q")
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


class _Forbidden(ApiError):
    status_code = 403
    code = "forbidden"


_FILE_FORM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["file", "source", "target"],
    "properties": {
        "file": {"type": "string", "format": "binary", "description": f"The file: {', '.join(FORMATS)}; text UTF-8."},
        "source": {"type": "string", "description": "Source language code, or 'auto' (detected from the file)."},
        "target": {"type": "string", "description": "Target language code."},
        "api_key": {"type": "string", "description": "API key"},
    },
}


async def _file_fields(request: Request) -> tuple[dict[str, Any], UploadFile | None]:
    """The multipart form's text fields (with the query string's for those it lacks) and its `file`."""
    if _media_type(request) != "multipart/form-data":
        raise BadRequestError("Invalid request: send the file as multipart/form-data")
    form = await request.form()
    fields = _collect(list(request.query_params.multi_items()))
    fields.update({key: value for key, value in form.multi_items() if isinstance(value, str)})
    upload = form.get("file")
    return _normalised(fields), upload if isinstance(upload, UploadFile) else None


def _required(fields: dict[str, Any], name: str) -> str:
    value = fields.get(name)
    if not isinstance(value, str) or not value:
        raise BadRequestError(f"Invalid request: missing {name} parameter")
    return value


@router.post(
    "/translate_file",
    response_model=LibreTranslateFileResponse,
    responses={**_ERRORS, 403: {"model": LibreTranslateError, "description": "API key missing or not valid"}},
    openapi_extra={
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": _FILE_FORM_SCHEMA}}}
    },
    summary=f"LibreTranslate-compatible file translation ({', '.join(FORMATS)}); answers the translated file's URL",
)
async def libretranslate_translate_file(
    http_request: Request, service: TranslationServiceDep, store: StoreDep
) -> LibreTranslateFileResponse:
    """Subtitles keep their cue numbers, timings, blank lines and line endings byte for byte; each cue's text
    (its lines together) is translated. A .txt file is translated line by line, an .html or .htm file block by
    block with its markup kept (as `format: "html"` does). A .docx, .pptx, .odt, .odp or .epub file is translated
    paragraph by paragraph, each paragraph's runs keeping their formatting and every other part of the file its
    bytes (service/text/office.py). The file is downloadable for as long as results are kept."""
    fields, upload = await _file_fields(http_request)
    if upload is None:
        raise BadRequestError("Invalid request: missing file parameter")
    source, target = _required(fields, "source"), _required(fields, "target")
    content = await upload.read()
    name = await translate_file(service, store, read_upload(upload.filename or "", content), source, target)
    url = http_request.url_for("libretranslate_download_file", name=name)
    return LibreTranslateFileResponse(translatedFileUrl=str(url))


@router.get(
    "/download_file/{name}",
    response_class=Response,
    responses={
        200: {
            "content": {media_type.split(";")[0]: {} for media_type in MEDIA_TYPES.values()},
            "description": "The translated file, as an attachment",
        },
        400: _ERRORS[400],
        404: {"model": LibreTranslateError, "description": "Unknown or expired file"},
    },
    summary="Downloads a file translated by /translate_file, by the URL it answered",
)
async def libretranslate_download_file(
    name: Annotated[str, Path(pattern=DOWNLOAD_NAME_PATTERN, description="The name in translatedFileUrl")],
    state: StateDep, store: StoreDep,
) -> Response:  # fmt: skip
    filename, content = await load_file(state, store, name)
    media_type = MEDIA_TYPES.get(PurePath(filename).suffix.lower(), "application/octet-stream")
    return Response(
        content, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


@router.get(
    "/frontend/settings",
    response_model=LibreTranslateSettings,
    responses={503: _ERRORS[503]},
    summary="LibreTranslate-compatible settings for its web page: limits, languages, file formats",
)
async def libretranslate_frontend_settings(state: StateDep, models: ModelsDep) -> LibreTranslateSettings:
    """`charLimit` is heed's limit per text; `keyRequired` is true whenever API keys are on (heed needs a key for
    /translate then, where LibreTranslate can let keyless callers in)."""
    source, target = models.language_pairs()[0]
    keys_on = bool(state.settings.api_key_values())
    return LibreTranslateSettings(
        charLimit=state.settings.max_chars, frontendTimeout=FRONTEND_TIMEOUT_MS, apiKeys=keys_on,
        keyRequired=keys_on, suggestions=False, filesTranslation=True, supportedFilesFormat=list(FORMATS),
        language={"source": LibreTranslateLanguageName(code=source, name=language_name(source)),
                  "target": LibreTranslateLanguageName(code=target, name=language_name(target))},
    )  # fmt: skip


@router.post(
    "/suggest",
    responses={403: {"model": LibreTranslateError, "description": "Suggestions are disabled on this server"}},
    summary="LibreTranslate's suggestions, which heed does not take: always 403, as a LibreTranslate without them",
)
async def libretranslate_suggest() -> None:
    raise _Forbidden("Suggestions are disabled on this server.")


@router.get("/health", summary='LibreTranslate\'s health check: {"status": "ok"} while the process serves')
async def libretranslate_health() -> dict[str, str]:
    """Readiness (models loaded, store reachable) is heed's /readyz; this answers as LibreTranslate's does."""
    return {"status": "ok"}


@router.get("/spec", summary="The OpenAPI document of the LibreTranslate-compatible routes only")
async def libretranslate_spec(http_request: Request) -> JSONResponse:
    """LibreTranslate serves a Swagger 2.0 document here; heed serves OpenAPI 3.1 for the same routes."""
    document = http_request.app.openapi()
    paths = {path: item for path, item in document.get("paths", {}).items() if is_libretranslate_path(path)}
    info = {**document.get("info", {}), "title": "heed: LibreTranslate-compatible API"}
    return JSONResponse({**document, "info": info, "paths": paths})
