"""The served OpenAPI document, completed with what the middleware answers, so it describes every response.

FastAPI describes what the routes declare. The access control middleware adds 401 (when API keys are on) and
429 (when a rate limit is on) on every protected operation, with the security schemes Swagger UI's "Authorize"
button uses; validation errors are heed's error body, not FastAPI's default; every response carries
X-Request-ID, and 503s may carry Retry-After. The document describes this deployment: on a server without
keys it declares no security.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from service.app.errors import LIBRETRANSLATE_PATHS
from service.app.middleware import REQUEST_ID_HEADER, is_public_path
from service.app.settings import Settings

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
    schema = _LT_ERROR_BODY if path in LIBRETRANSLATE_PATHS else _ERROR_BODY
    return {"description": description, "headers": headers,
            "content": {"application/json": {"schema": {"$ref": schema}}}}  # fmt: skip


def _complete_operation(path: str, operation: dict[str, Any], settings: Settings, keys_on: bool) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    validation = responses.get("422", {}).get("content", {}).get("application/json", {})
    if validation.get("schema", {}).get("$ref", "").endswith("/HTTPValidationError"):
        validation["schema"] = {"$ref": _ERROR_BODY}
        responses["422"]["description"] = "Invalid request: the message says which field and why"
    if not is_public_path(path):
        if keys_on:
            operation["security"] = [{BEARER_SCHEME: []}]
            if path in LIBRETRANSLATE_PATHS:
                operation["security"].append({QUERY_KEY_SCHEME: []})
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


def _state_the_limits(schema: dict[str, Any], settings: Settings) -> None:
    """The request limits that come from settings, in the request schemas (the models cannot know them)."""
    components = schema.get("components", {}).get("schemas", {})
    lt_bodies = [content["schema"] for operations in schema.get("paths", {}).values()
                 for operation in operations.values() if isinstance(operation, dict)
                 for content in operation.get("requestBody", {}).get("content", {}).values()
                 if "$ref" not in content.get("schema", {"$ref": ""})]  # fmt: skip
    for body in [components.get("TranslateRequest"), components.get("AlignRequest"), *lt_bodies]:
        properties = (body or {}).get("properties", {})
        for name in ("text", "translation", "q"):
            if name in properties:
                _limit_texts(properties[name], settings)
        for variant in properties.get("max_length", {}).get("anyOf", []):
            if variant.get("type") == "integer":
                variant["maximum"] = settings.max_output_length


def complete_openapi(schema: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """A completed copy of FastAPI's document (whose parts may be shared with other apps' documents)."""
    schema = copy.deepcopy(schema)
    keys_on = bool(settings.api_key_values())
    _state_the_limits(schema, settings)
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            if method in _HTTP_METHODS:
                _complete_operation(path, operation, settings, keys_on)
    _drop_unused_validation_schemas(schema)
    if keys_on:
        schema.setdefault("components", {})["securitySchemes"] = _SECURITY_SCHEMES
    return schema


def install_openapi(app: FastAPI, settings: Settings) -> None:
    """Makes `app.openapi()` (and /openapi.json) serve the completed document, built once."""
    generate: Callable[[], dict[str, Any]] = app.openapi
    completed: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if not completed:
            completed.update(complete_openapi(generate(), settings))
        return completed

    app.openapi = openapi  # type: ignore[method-assign]
