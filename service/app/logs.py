"""Structured logs: one JSON object per line, with the request id on every request line."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

ACCESS_LOGGER = "heed.access"
_SECRET_SEGMENTS = frozenset({"{result_id}"})  # route parameters that grant access: logged cut short


def loggable_path(path: str, route: str) -> str:
    """The path with every result id cut to its first 8 characters: an id is all it takes to read a result
    (with API keys off), and logs are read by more people than the results are meant for."""
    route_segments, path_segments = route.split("/"), path.split("/")
    if len(route_segments) != len(path_segments) or not _SECRET_SEGMENTS.intersection(route_segments):
        return path
    return "/".join(
        segment[:8] + "…" if pattern in _SECRET_SEGMENTS and len(segment) > 8 else segment
        for pattern, segment in zip(route_segments, path_segments, strict=True)
    )


class JsonFormatter(logging.Formatter):
    """Formats a record as JSON; a dict passed as `extra={"fields": {...}}` is merged into the line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str) -> None:
    """Sends every logger (uvicorn's included) through one JSON handler on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers[:] = []
        uvicorn_logger.propagate = True
