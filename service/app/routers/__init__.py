"""One router per resource."""

from __future__ import annotations

from typing import Any

from service.app.schemas import ErrorBody, TranslationResult

ErrorResponses = dict[int | str, dict[str, Any]]


def error_responses(*statuses: int) -> ErrorResponses:
    """OpenAPI entries for the error statuses an operation can answer, all with the error body."""
    descriptions = {
        400: "Malformed JSON, invalid UTF-8 or an unsupported language pair",
        404: "Unknown or expired id (or, with API keys on, a result another key created)",
        409: "The result was stored without attention (attention: false), which this view needs",
        410: "The result was evicted before it expired, to make room for its caller's newer results",
        413: "Request body too large, or too much work (code too_much_work): its estimate is over the per-request "
        "budget (refused before decoding), or its decoding reached the decoding limit and was stopped",
        415: "Body not sent as JSON",
        422: "Invalid request: the message says which field and why",
        503: "Not ready, overloaded (Retry-After) or the result store is unavailable",
        504: "The translation did not finish in time",
    }
    return {status: {"model": ErrorBody, "description": descriptions[status]} for status in statuses}


def result_responses(*statuses: int) -> ErrorResponses:
    """OpenAPI entries for an operation answering a result document (TranslationResult) and these errors.

    The document is serialized once by the service (orjson, attention as nested lists) and answered as those
    bytes, so FastAPI's response model, which would validate and serialize it again, is not used; the schema is
    declared here and tests/service/app/test_result_schema.py checks every answer against it.
    """
    return {200: {"model": TranslationResult, "description": "The result document"}, **error_responses(*statuses)}
