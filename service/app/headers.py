"""Headers every response gets, whatever route or error handler wrote it.

- `X-Content-Type-Options: nosniff` on every response, so that a browser never runs a JSON or text body as
  something else.
- The page's Content-Security-Policy on every response a browser may render (HTML and SVG) that did not set
  its own (/docs sets a stricter one). An SVG alignment heatmap opened directly is a document of this origin:
  without a policy, markup that slipped into it could run script here.
- Redirects point at a path, never at a URL built from the request's Host header. Starlette's trailing-slash
  redirect writes `Location: http://<Host>/path`; behind a proxy that forwards any Host, that is an open
  redirect. The Location is cut to its path and query, which a browser resolves against the URL it asked for.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.app.routers.page import CONTENT_SECURITY_POLICY

RENDERED_TYPES = (b"text/html", b"image/svg+xml")
REDIRECTS = frozenset({301, 302, 303, 307, 308})
ECHO_LIMIT = 64  # characters of a client's value an error message repeats


def shown(value: str, limit: int = ECHO_LIMIT) -> str:
    """The value as an error message may quote it: repr'd and cut, so a 65 KB id is not sent back whole."""
    return repr(value) if len(value) <= limit else f"{value[:limit]!r}… ({len(value):,} characters)"


class BrowserSafetyHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _safe_headers(message["status"], list(message.get("headers", [])))
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _safe_headers(status: int, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    names = {name.lower() for name, _ in headers}
    content_type = next((value for name, value in headers if name.lower() == b"content-type"), b"")
    if b"x-content-type-options" not in names:
        headers.append((b"x-content-type-options", b"nosniff"))
    if content_type.startswith(RENDERED_TYPES) and b"content-security-policy" not in names:
        headers.append((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()))
    if status in REDIRECTS:
        headers = [(name, _relative(value) if name.lower() == b"location" else value) for name, value in headers]
    return headers


def _relative(location: bytes) -> bytes:
    parts = urlsplit(location.decode("latin-1"))
    path = parts.path or "/"
    if path.startswith("//"):  # "//evil.example/x" is itself a URL with another host
        path = "/" + path.lstrip("/")
    return (path + (f"?{parts.query}" if parts.query else "")).encode("latin-1")
