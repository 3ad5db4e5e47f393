"""The served OpenAPI document, completed with what the middleware answers, so it describes every response.

FastAPI describes what the routes declare. The access control middleware adds 401 (when API keys are on; 403 on
LibreTranslate's keyed routes) and 429 (when a rate limit is on) on every protected operation, with the security
schemes Swagger UI's "Authorize" button uses; validation errors are heed's error body, not FastAPI's default; every
response carries X-Request-ID, and 503s may carry Retry-After. The document describes this deployment: on a server
without keys it declares no security, and the request bodies name the language codes and bundles it serves, so that
every request the document allows is one this server can answer (which is what a schema fuzzer checks).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from service.app.errors import is_libretranslate_path, libretranslate_needs_key
from service.app.middleware import REQUEST_ID_HEADER, is_public_path
from service.app.settings import Settings
from service.app.state import AppState, ServingModels

BEARER_SCHEME = "bearerAuth"
QUERY_KEY_SCHEME = "apiKeyQuery"
_ERROR_BODY = "#/components/schemas/ErrorBody"
_LT_ERROR_BODY = "#/components/schemas/LibreTranslateError"
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")
_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})

_SECURITY_SCHEMES = {
    BEARER_SCHEME: {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key of this server, as `Authorization: Bearer <key>`.",
    },
    QUERY_KEY_SCHEME: {
        "type": "apiKey",
        "in": "query",
        "name": "api_key",
        "description": "LibreTranslate endpoints only: the key as `api_key` (also accepted as a form or JSON field).",
    },
}


def _header(description: str, *, required: bool, example: str) -> dict[str, Any]:
    return {"description": description, "required": required, "schema": {"type": "string"}, "example": example}


_REQUEST_ID = _header("The request's id: the X-Request-ID sent, or one generated.", required=True,
                      example="5f0c2d6cbd1e4b0c9f1c7d1f7a1c2b3d")  # fmt: skip
_RETRY_AFTER = _header("Seconds to wait before retrying.", required=True, example="1")
_MAYBE_RETRY_AFTER = {**_RETRY_AFTER, "required": False}
_CHALLENGE = _header("The Bearer challenge (RFC 6750).", required=True, example='Bearer realm="heed"')


def _error_response(path: str, description: str, headers: dict[str, Any]) -> dict[str, Any]:
    schema = _LT_ERROR_BODY if is_libretranslate_path(path) else _ERROR_BODY
    return {"description": description, "headers": headers,
            "content": {"application/json": {"schema": {"$ref": schema}}}}  # fmt: skip


def _complete_operation(path: str, operation: dict[str, Any], settings: Settings, keys_on: bool) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    validation = responses.get("422", {}).get("content", {}).get("application/json", {})
    if validation.get("schema", {}).get("$ref", "").endswith("/HTTPValidationError"):
        validation["schema"] = {"$ref": _ERROR_BODY}
        responses["422"]["description"] = "Invalid request: the message says which field and why"
    if not is_public_path(path):
        if keys_on and libretranslate_needs_key(path):
            operation["security"] = [{BEARER_SCHEME: []}, {QUERY_KEY_SCHEME: []}]
            responses["403"] = _error_response(path, "API key missing or not valid", {})
        elif keys_on and not is_libretranslate_path(path):
            operation["security"] = [{BEARER_SCHEME: []}]
            responses["401"] = _error_response(path, "API key missing or not valid", {"WWW-Authenticate": _CHALLENGE})
        if settings.rate_limit is not None:
            description = f"Over the rate limit of {settings.rate_limit} requests per minute"
            responses["429"] = _error_response(path, description, {"Retry-After": _RETRY_AFTER})
    if "503" in responses:
        responses["503"].setdefault("headers", {})["Retry-After"] = _MAYBE_RETRY_AFTER
    for response in responses.values():
        response.setdefault("headers", {})[REQUEST_ID_HEADER] = _REQUEST_ID


def _drop_unused_validation_schemas(schema: dict[str, Any]) -> None:
    schemas: dict[str, Any] = schema.get("components", {}).get("schemas", {})
    text = json.dumps(schema["paths"])
    if "HTTPValidationError" not in text:
        for name in _FASTAPI_VALIDATION_SCHEMAS:
            schemas.pop(name, None)


def _limit_texts(texts: dict[str, Any], settings: Settings) -> None:
    """A text-or-texts schema gets this server's limits: characters per text, texts per request."""
    for variant in texts.get("anyOf", []):
        if variant.get("type") == "string":
            variant["maxLength"] = settings.max_chars
        elif variant.get("type") == "array":
            variant["maxItems"] = settings.max_texts
            variant["items"] = {**variant.get("items", {}), "maxLength": settings.max_chars}


def _libretranslate_bodies(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The request bodies written out in place (LibreTranslate's), each once: its media types share one object."""
    bodies = {id(content["schema"]): content["schema"] for operations in schema.get("paths", {}).values()
              for operation in operations.values() if isinstance(operation, dict)
              for content in operation.get("requestBody", {}).get("content", {}).values()
              if "$ref" not in content.get("schema", {"$ref": ""})}  # fmt: skip
    return list(bodies.values())


def _state_the_limits(schema: dict[str, Any], settings: Settings) -> None:
    """The request limits that come from settings, in the request schemas (the models cannot know them)."""
    components = schema.get("components", {}).get("schemas", {})
    for body in [components.get("TranslateRequest"), components.get("AlignRequest"), *_libretranslate_bodies(schema)]:
        properties = (body or {}).get("properties", {})
        for name in ("text", "translation", "q"):
            if name in properties:
                _limit_texts(properties[name], settings)
        for variant in properties.get("max_length", {}).get("anyOf", []):
            if variant.get("type") == "integer":
                variant["maximum"] = settings.max_output_length


def _one_translation_per_text(body: dict[str, Any], settings: Settings) -> None:
    """/v1/align's text and translation are both strings, or lists of one length. JSON Schema cannot compare two
    lengths, so each length allowed (1 to max_texts) is a branch of its own.

    The branches exclude each other, and so do those of the served pairs: `oneOf` says so, and lets a
    generator (schemathesis) draw from each branch alone, where two `anyOf`s would be multiplied out."""
    branches: list[dict[str, Any]] = [{"properties": {"text": {"type": "string"}, "translation": {"type": "string"}}}]
    for count in range(1, settings.max_texts + 1):
        texts = {"type": "array", "minItems": count, "maxItems": count}
        branches.append({"properties": {"text": texts, "translation": texts}})
    body.setdefault("allOf", []).append({"oneOf": branches})


def _only(field: dict[str, Any], values: list[Any]) -> None:
    """A string field that takes one of `values` (replacing its length bounds and examples)."""
    for key in ("minLength", "maxLength", "examples"):
        field.pop(key, None)
    field["enum"] = values


def _served_examples(body: dict[str, Any], pairs: list[tuple[str, str]]) -> None:
    """Examples that name a pair this server does not serve name the first one it does."""
    for example in body.get("examples", []):
        if (
            isinstance(example, dict)
            and "target" in example
            and (example.get("source"), example["target"]) not in pairs
        ):
            example["source"], example["target"] = pairs[0]


def _served_bundles(body: dict[str, Any], models: ServingModels, *, auto: bool) -> None:
    """TranslateRequest and AlignRequest: source, target and model as enums of what is served. When there are
    several pairs, the enums would also admit pairs not served (en-de and de-en admit en→en) and a model with
    another pair than its own, so the body also lists each pair with the bundles that translate it. `auto`: source
    may also be "auto" (detected per text; whether a model translates the language found depends on the text)."""
    names_by_pair: dict[tuple[str, str], list[str]] = {}
    for name, translator in sorted(models.translators.items()):
        names_by_pair.setdefault((translator.source_language, translator.target_language), []).append(name)
    properties = body.get("properties", {})
    targets = sorted({target for _, target in names_by_pair})
    _only(properties["source"], sorted({source for source, _ in names_by_pair}) + (["auto"] if auto else []))
    _only(properties["target"], targets)
    properties["model"]["anyOf"] = [{"type": "string", "enum": sorted(models.translators)}, {"type": "null"}]
    if len(names_by_pair) > 1 or auto:
        branches = [{"properties": {"source": {"const": source}, "target": {"const": target},
                                    "model": {"enum": [*names, None]}}}
                    for (source, target), names in sorted(names_by_pair.items())]  # fmt: skip
        if auto:
            branches.append(
                {"properties": {"source": {"const": "auto"}, "model": {"enum": [*sorted(models.translators), None]}}}
            )
        body.setdefault("allOf", []).append({"oneOf": branches})
    _served_examples(body, sorted(names_by_pair))


def _served_libretranslate_pairs(body: dict[str, Any], models: ServingModels) -> None:
    """LibreTranslate's source and target as enums, with source "auto" (detected per text) for every target. A
    per-target list when the enums alone would admit pairs not served."""
    pairs = models.language_pairs()
    sources_by_target: dict[str, list[str]] = {}
    for source, target in pairs:
        sources_by_target.setdefault(target, []).append(source)
    for sources in sources_by_target.values():
        sources.append("auto")
    every_source = sorted({source for sources in sources_by_target.values() for source in sources})
    _only(body["properties"]["source"], every_source)
    _only(body["properties"]["target"], sorted(sources_by_target))
    if any(sorted(sources) != every_source for sources in sources_by_target.values()):
        branches = [{"properties": {"target": {"const": target}, "source": {"enum": sources}}}
                    for target, sources in sorted(sources_by_target.items())]  # fmt: skip
        body.setdefault("allOf", []).append({"oneOf": branches})
    _served_examples(body, pairs)


def _state_the_languages(schema: dict[str, Any], models: ServingModels) -> None:
    """The language codes and bundle names this server serves, in the request schemas.

    Without them every string was a valid `source`, and a fuzzer rightly reported {"source": "en", "target":
    "en"} as a valid request refused (400). The other way out, answering an unserved pair with a status the
    fuzzer does not count as a refusal (404), would break LibreTranslate's protocol (400) and tell clients less
    than a schema that lists what is served.
    """
    if not models.translators:
        return
    components = schema.get("components", {}).get("schemas", {})
    for name in ("TranslateRequest", "AlignRequest"):
        if name in components:
            _served_bundles(components[name], models, auto=name == "TranslateRequest")
    for body in _libretranslate_bodies(schema):
        if "source" in body.get("properties", {}):  # /detect's body has none
            _served_libretranslate_pairs(body, models)


def complete_openapi(schema: dict[str, Any], settings: Settings, models: ServingModels | None = None) -> dict[str, Any]:
    """A completed copy of FastAPI's document (whose parts may be shared with other apps' documents).

    `models`: the bundles serving, whose languages the request schemas then name; None while they load."""
    schema = copy.deepcopy(schema)
    keys_on = bool(settings.api_key_values())
    _state_the_limits(schema, settings)
    if "AlignRequest" in schema.get("components", {}).get("schemas", {}):
        _one_translation_per_text(schema["components"]["schemas"]["AlignRequest"], settings)
    if models is not None:
        _state_the_languages(schema, models)
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            if method in _HTTP_METHODS:
                _complete_operation(path, operation, settings, keys_on)
    _drop_unused_validation_schemas(schema)
    if keys_on:
        schema.setdefault("components", {})["securitySchemes"] = _SECURITY_SCHEMES
    return schema


def install_openapi(app: FastAPI, state: AppState) -> None:
    """Makes `app.openapi()` (and /openapi.json) serve the completed document, built once the models have
    loaded (until then it is built on each call, without the language codes, which are not known yet)."""
    generate: Callable[[], dict[str, Any]] = app.openapi
    completed: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if completed:
            return completed
        document = complete_openapi(generate(), state.settings, state.models)
        if state.models is not None:
            completed.update(document)
        return document

    app.openapi = openapi  # type: ignore[method-assign]
