"""Pure ASGI middleware (no per-request task overhead): request context and the body size limit."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.app.errors import REQUEST_ID_SCOPE_KEY, PayloadTooLargeError, error_response
from service.app.logs import ACCESS_LOGGER
from service.app.metrics import Metrics

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
access_log = logging.getLogger(ACCESS_LOGGER)


def _route_label(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class RequestContextMiddleware:
    """Gives each request an id (echoing a sane incoming X-Request-ID), counts and times it by route and status,
    tracks requests in flight and writes one access-log line (no query string, no body) when it ends."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get(REQUEST_ID_HEADER)
        request_id = incoming if incoming and _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope[REQUEST_ID_SCOPE_KEY] = request_id
        status = 500
        started = time.perf_counter()

        async def send_with_request_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        self.metrics.request_started()
        try:
            await self.app(scope, receive, send_with_request_id)
        finally:
            self.metrics.request_finished()
            elapsed = time.perf_counter() - started
            route = _route_label(scope)
            self.metrics.observe_request(scope["method"], route, status, elapsed)
            level = logging.DEBUG if scope["path"] in _QUIET_PATHS else logging.INFO
            if access_log.isEnabledFor(level):
                client = scope.get("client")
                access_log.log(level, "request", extra={"fields": {
                    "request_id": request_id, "method": scope["method"], "path": scope["path"], "route": route,
                    "status": status, "duration_ms": round(elapsed * 1000, 2), "client": client[0] if client else None,
                }})  # fmt: skip


class BodySizeLimitMiddleware:
    """413 for a body over `max_bytes`: at once when Content-Length says so, else as soon as the stream passes it."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            response = error_response(
                Request(scope), 413, "payload_too_large",
                f"request body of {declared} bytes exceeds the limit of {self.max_bytes} bytes",
                headers={"Connection": "close"},
            )  # fmt: skip
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise PayloadTooLargeError(self.max_bytes)
            return message

        await self.app(scope, limited_receive, send)
