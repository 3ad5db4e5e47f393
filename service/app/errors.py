"""Every error the service answers, and the one place they become HTTP responses.

heed's own endpoints answer `{"error": {"code", "message", "details"?...}, "request_id"}`; the
LibreTranslate-compatible endpoints answer `{"error": "<message>"}` as LibreTranslate does, with 400 for
bad input. Nothing caused by input becomes a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

logger = logging.getLogger("heed.errors")

REQUEST_ID_SCOPE_KEY = "heed.request_id"
# LibreTranslate 1.9.6's routes. Everything under them (a path under /download_file/ or /frontend/ included)
# answers errors in LibreTranslate's shape.
LIBRETRANSLATE_PATHS = frozenset({
    "/translate", "/languages", "/detect", "/translate_file", "/frontend/settings", "/suggest", "/health", "/spec",
})  # fmt: skip
LIBRETRANSLATE_PREFIXES = ("/download_file/", "/frontend/")
# The LibreTranslate routes LibreTranslate serves without a key (its own /suggest and /download_file check none:
# a disabled /suggest answers 403 to everyone, and a download URL is itself the secret).
LIBRETRANSLATE_KEYLESS_PATHS = frozenset({"/languages", "/frontend/settings", "/health", "/spec", "/suggest"})

_CODES_BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    503: "unavailable",
    504: "timeout",
}


class ApiError(Exception):
    """An error with an HTTP status, a stable machine-readable code and a message for people."""

    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        details: Sequence[dict[str, Any]] | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = list(details) if details else None
        self.extra = extra or {}
        self.headers = headers


class BadRequestError(ApiError):
    """Input that cannot be read at all (LibreTranslate's wording of bad input, an unreadable upload)."""

    status_code = 400
    code = "bad_request"


class InvalidInputError(ApiError):
    status_code = 422
    code = "invalid_request"


class UnsupportedLanguagePairError(ApiError):
    status_code = 400
    code = "unsupported_language_pair"

    def __init__(self, source: str, target: str, supported: Sequence[str]) -> None:
        listed = ", ".join(supported) if supported else "none (no model is loaded)"
        super().__init__(
            f"no model translates {source!r} to {target!r}; supported pairs: {listed}",
            extra={"supported": list(supported)},
        )


class UnknownModelError(ApiError):
    status_code = 400
    code = "unknown_model"


class NotFoundError(ApiError):
    status_code = 404
    code = "not_found"


class NotReadyError(ApiError):
    status_code = 503
    code = "not_ready"

    def __init__(self, reason: str) -> None:
        super().__init__(f"the service is not ready: {reason}", headers={"Retry-After": "5"})


class OverloadedError(ApiError):
    status_code = 503
    code = "overloaded"

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"Retry-After": "1"})


class TooMuchWorkRequestError(ApiError):
    """The request's estimated decoding work is over the per-request budget (service/app/cost.py)."""

    status_code = 413
    code = "too_much_work"


class TranslationTimeoutError(ApiError):
    status_code = 504
    code = "timeout"


class StoreUnavailableError(ApiError):
    status_code = 503
    code = "store_unavailable"

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"Retry-After": "5"})


class TooLargeForSvgError(ApiError):
    status_code = 422
    code = "too_large_for_svg"


class PayloadTooLargeError(StarletteHTTPException):
    """Raised while the body streams in, so FastAPI's body reading passes it through untouched."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body exceeds the limit of {limit} bytes")


def request_id_of(scope: Scope) -> str | None:
    value = scope.get(REQUEST_ID_SCOPE_KEY)
    return value if isinstance(value, str) else None


def is_libretranslate_path(path: str) -> bool:
    return path in LIBRETRANSLATE_PATHS or path.startswith(LIBRETRANSLATE_PREFIXES)


def libretranslate_needs_key(path: str) -> bool:
    return (
        is_libretranslate_path(path)
        and path not in LIBRETRANSLATE_KEYLESS_PATHS
        and not path.startswith("/download_file/")
    )


def is_libretranslate(request: Request) -> bool:
    return is_libretranslate_path(request.url.path)


def error_response(
    request: Request,
    status_code: int,
    code: str,
    message: str,
    *,
    details: Sequence[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    request_id = request_id_of(request.scope)
    if is_libretranslate(request):  # LibreTranslate answers every invalid input 400, "Invalid request: ..."
        if status_code == 422:
            status_code = 400
            message = message if message.startswith("Invalid request") else f"Invalid request: {message}"
        return JSONResponse({"error": message}, status_code=status_code, headers=headers)
    error: dict[str, Any] = {"code": code, "message": message, **(extra or {})}
    if details:
        error["details"] = list(details)
    return JSONResponse({"error": error, "request_id": request_id}, status_code=status_code, headers=headers)


def _location(loc: Sequence[int | str]) -> str:
    """("body", "text", 1) -> "text[1]"; the body itself -> ""."""
    parts = list(loc[1:]) if loc and loc[0] in ("body", "query", "path", "header") else list(loc)
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _located(loc: Sequence[int | str], message: str) -> str:
    where = _location(loc)
    return message if not where or message.startswith(where) else f"{where}: {message}"


def _readable(message: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": [str(p) for p in error.get("loc", ())], "message": _readable(str(error.get("msg", ""))),
         "type": str(error.get("type", ""))}
        for error in exc.errors()
    ]  # fmt: skip


async def _handle_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    first = errors[0] if errors else {}
    if first.get("type") == "json_invalid":
        reason = (first.get("ctx") or {}).get("error", "invalid JSON")
        position = first.get("loc", ("body", "?"))[-1]
        message = f"request body is not valid JSON: {reason} at character {position}"
        return error_response(request, 400, "malformed_json", message)
    if len(errors) == 1 and tuple(first.get("loc", ())) == ("body",) and isinstance(first.get("input"), bytes):
        return error_response(
            request,
            415,
            "unsupported_media_type",
            "the request body must be JSON sent as Content-Type: application/json",
        )
    if len(errors) == 1 and tuple(first.get("loc", ())) == ("body",):
        if first.get("type") == "missing":
            return error_response(request, 422, "invalid_request", "a JSON request body is required")
        if first.get("type") in ("model_attributes_type", "dict_type", "model_type"):
            return error_response(request, 422, "invalid_request", "the request body must be a JSON object")
    messages = [_located(e.get("loc", ()), _readable(str(e.get("msg", "")))) for e in errors]
    return error_response(request, 422, "invalid_request", "; ".join(messages), details=_validation_details(exc))


async def _handle_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(
        request, exc.status_code, exc.code, exc.message, details=exc.details, extra=exc.extra, headers=exc.headers
    )


async def _handle_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    message = str(exc.detail)
    code = _CODES_BY_STATUS.get(status, "error")
    if isinstance(exc.__cause__, UnicodeDecodeError):
        code, message = "invalid_utf8", f"the request body is not valid UTF-8: {exc.__cause__.reason}"
    elif status == 404 and message == "Not Found":
        message = f"no endpoint {request.method} {request.url.path}"
    elif status == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
    headers = dict(exc.headers) if exc.headers else None
    return error_response(request, status, code, message, headers=headers)


async def _handle_unexpected(request: Request, exc: Exception) -> JSONResponse:
    request_id = request_id_of(request.scope)
    logger.exception("unhandled error", extra={"fields": {"request_id": request_id, "path": request.url.path}})
    headers = {"X-Request-ID": request_id} if request_id else None
    return error_response(
        request, 500, "internal_error", "internal server error; the logs hold the details", headers=headers
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _handle_validation_error)
    app.add_exception_handler(ApiError, _handle_api_error)
    app.add_exception_handler(StarletteHTTPException, _handle_http_exception)
    app.add_exception_handler(Exception, _handle_unexpected)
