"""Pure ASGI middleware (no per-request task overhead): request context, access control (API keys and rate
limits) and the body size limit.

Outermost first: RequestContext, CORS (when configured), BodySizeLimit, AccessControl, then the app. So every
response, refusals included, carries the request id and CORS headers, and a caller is refused before the app
parses anything it sent.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import time
import uuid

from fastapi.responses import JSONResponse
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.app.auth import ApiKeys, BodyReplay, api_key_field, bearer_token
from service.app.errors import (
    REQUEST_ID_SCOPE_KEY,
    PayloadTooLargeError,
    error_response,
    is_libretranslate_path,
    libretranslate_needs_key,
)
from service.app.logs import ACCESS_LOGGER, loggable_path
from service.app.metrics import Metrics
from service.app.ratelimit import retry_after_header
from service.app.state import AppState
from service.app.store.caller import CALLER_SCOPE_KEY

REQUEST_ID_HEADER = "X-Request-ID"
CLIENT_SCOPE_KEY = "heed.client"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
access_log = logging.getLogger(ACCESS_LOGGER)

# Open without an API key and never rate limited: the probes and metrics (orchestrators and Prometheus carry no
# key), the read-only API description and its pages, and the web page with its static files (the page sends the
# key itself); and the LibreTranslate routes LibreTranslate exempts from keys and limits.
PUBLIC_PATHS = frozenset({
    "/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/", "/favicon.ico", "/health", "/frontend/settings",
    "/spec",
})  # fmt: skip
PUBLIC_PREFIXES = ("/static/", "/docs/static/")
REALM = 'Bearer realm="heed"'


def is_public_path(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def client_address(scope: Scope, trusted_proxies: int) -> str:
    """The TCP peer, or with `trusted_proxies` proxies in front, the address the first of them saw (that many
    entries from the right of X-Forwarded-For: entries further left are whatever the client wrote)."""
    client = scope.get("client")
    peer = str(client[0]) if client else "unknown"
    if trusted_proxies == 0:
        return peer
    values = Headers(scope=scope).getlist("x-forwarded-for")
    forwarded = [entry.strip() for value in values for entry in value.split(",") if entry.strip()]
    if len(forwarded) < trusted_proxies:
        return peer
    try:
        return str(ipaddress.ip_address(forwarded[-trusted_proxies]))
    except ValueError:
        return peer


def client_of(scope: Scope) -> str:
    value = scope.get(CLIENT_SCOPE_KEY)
    return value if isinstance(value, str) else "unknown"


def _route_label(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class RequestContextMiddleware:
    """Gives each request an id (echoing a sane incoming X-Request-ID), counts and times it by route and status,
    tracks requests in flight and writes one access-log line (no query string, no body) when it ends."""

    def __init__(self, app: ASGIApp, metrics: Metrics, trusted_proxies: int = 0) -> None:
        self.app = app
        self.metrics = metrics
        self.trusted_proxies = trusted_proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get(REQUEST_ID_HEADER)
        request_id = incoming if incoming and _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope[REQUEST_ID_SCOPE_KEY] = request_id
        scope[CLIENT_SCOPE_KEY] = client_address(scope, self.trusted_proxies)
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
                access_log.log(level, "request", extra={"fields": {
                    "request_id": request_id, "method": scope["method"], "path": loggable_path(scope["path"], route),
                    "route": route,
                    "status": status, "duration_ms": round(elapsed * 1000, 2), "client": client_of(scope),
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


class AccessControlMiddleware:
    """API keys and rate limits, checked before routing and before the app parses the body.

    With keys configured, every path but the public ones needs a valid key: 401 otherwise (403 on
    LibreTranslate's keyed routes, as LibreTranslate answers; its keyless ones, /languages, /suggest and
    /download_file/..., take a key but need none). The caller is then the key; without keys it is the client
    address. With a rate limit, a caller past it gets 429 with
    Retry-After. Requests with a missing or wrong key also count against their client address, so keys
    cannot be guessed at speed. The key itself is never stored, logged or echoed.
    """

    def __init__(self, app: ASGIApp, state: AppState, keys: ApiKeys | None) -> None:
        self.app = app
        self.state = state
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_public_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        downstream, caller, presented, authenticated = receive, f"address:{client_of(scope)}", None, True
        if self.keys is not None:
            presented, downstream, too_large = await self._presented_key(scope, receive)
            if too_large is not None:
                await too_large(scope, downstream, send)
                return
            identity = self.keys.identify(presented) if presented else None
            authenticated = identity is not None
            caller = f"key:{identity}" if authenticated else caller
            authenticated = authenticated or not self._needs_key(scope["path"])
        scope[CALLER_SCOPE_KEY] = caller  # whose results a request may store and read
        refusal = await self._rate_limited(scope, caller)
        if refusal is None and not authenticated:
            refusal = self._unauthorized(scope, presented is not None)
        if refusal is not None:
            await refusal(scope, downstream, send)
            return
        await self.app(scope, downstream, send)

    async def _presented_key(self, scope: Scope, receive: Receive) -> tuple[str | None, Receive, JSONResponse | None]:
        """(the key sent, "" for an Authorization header that is not `Bearer <key>`, None for none; the receive
        the app must use; a 413 when the body, read to find `api_key`, is over the size limit)."""
        sent_header, token = bearer_token(Headers(scope=scope))
        if sent_header:
            return token or "", receive, None
        if not is_libretranslate_path(scope["path"]):
            return None, receive, None
        replay = BodyReplay(receive)
        try:
            body = await replay.read() if scope["method"] == "POST" else b""
        except PayloadTooLargeError as error:
            response = error_response(Request(scope), 413, "payload_too_large", str(error.detail),
                                      headers={"Connection": "close"})  # fmt: skip
            return None, receive, response
        return await api_key_field(scope, body), replay.receive, None

    @staticmethod
    def _needs_key(path: str) -> bool:
        return libretranslate_needs_key(path) or not is_libretranslate_path(path)

    def _unauthorized(self, scope: Scope, presented: bool) -> JSONResponse:
        self.state.metrics.rejections.labels(reason="unauthorized").inc()
        libretranslate = is_libretranslate_path(scope["path"])
        where = "Authorization: Bearer <key>" + (", or in the api_key field" if libretranslate else "")
        if presented:
            message = f"the API key is not valid; send a valid key as {where}"
            challenge = f'{REALM}, error="invalid_token"'
        else:
            message = f"an API key is required; send it as {where}"
            challenge = REALM
        if libretranslate:  # LibreTranslate refuses a key with 403 and no challenge
            return error_response(Request(scope), 403, "forbidden", message)
        return error_response(Request(scope), 401, "unauthorized", message, headers={"WWW-Authenticate": challenge})

    async def _rate_limited(self, scope: Scope, caller: str) -> JSONResponse | None:
        limiter = self.state.rate_limiter
        if limiter is None:
            return None
        wait = await limiter.acquire(caller)
        if wait is None:
            return None
        self.state.metrics.rejections.labels(reason="rate_limited").inc()
        retry_after = retry_after_header(wait)
        message = f"rate limit of {limiter.per_minute} requests per minute exceeded; retry in {retry_after} s"
        if is_libretranslate_path(scope["path"]):
            message = f"Slowdown: {message}"  # LibreTranslate's prefix for a 429
        return error_response(Request(scope), 429, "rate_limited", message, headers={"Retry-After": retry_after})
