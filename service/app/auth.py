"""API keys: who may call the API, checked in constant time, never logged.

A key arrives as `Authorization: Bearer <key>` on any endpoint, or as `api_key` (query, JSON or form field) on
the LibreTranslate endpoints, as LibreTranslate clients send it. Keys are held and compared as SHA-256 digests,
so every comparison takes the same time whatever the key's length and however much of it matches.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import Message, Receive, Scope

BEARER = "bearer"


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


class ApiKeys:
    """The configured keys, as digests."""

    def __init__(self, keys: Iterable[str]) -> None:
        self._digests = tuple(_digest(key) for key in keys)
        if not self._digests:
            raise ValueError("ApiKeys needs at least one key")

    def __len__(self) -> int:
        return len(self._digests)

    def identify(self, presented: str) -> str | None:
        """A stable, non-reversible identity of the key when it is valid (for rate limits), else None.

        Every configured key is compared, whether or not an earlier one matched."""
        candidate = _digest(presented)
        matched = False
        for digest in self._digests:
            matched |= hmac.compare_digest(candidate, digest)
        return candidate.hex()[:32] if matched else None


def bearer_token(headers: Headers) -> tuple[bool, str | None]:
    """(whether an Authorization header was sent, the Bearer token in it or None)."""
    value = headers.get("authorization")
    if value is None:
        return False, None
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    return True, token if scheme.lower() == BEARER and token else None


class BodyReplay:
    """Reads a whole request body once and hands it on to the app as if it had not been read (or, when the
    client went away meanwhile, hands on the disconnect rather than a cut body)."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._pending: Message | None = None

    async def read(self) -> bytes:
        """The body; raises PayloadTooLargeError when the size limit it is read through cuts it off."""
        chunks: list[bytes] = []
        while True:
            message = await self._receive()
            if message["type"] != "http.request":
                self._pending = message
                return b""
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        self._pending = {"type": "http.request", "body": body, "more_body": False}
        return body

    async def receive(self) -> Message:
        if self._pending is None:
            return await self._receive()
        message, self._pending = self._pending, None
        return message


async def api_key_field(scope: Scope, body: bytes) -> str | None:
    """`api_key` from a LibreTranslate request's query string, JSON body or form body; None when absent or
    unreadable (a malformed body is the endpoint's to report, once the caller is known)."""
    query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
    value: object = query.get("api_key")
    if not value and body:
        value = await _api_key_in_body(scope, body)
    return value if isinstance(value, str) and value else None


async def _api_key_in_body(scope: Scope, body: bytes) -> object:
    media_type = Headers(scope=scope).get("content-type", "").split(";")[0].strip().lower()
    try:
        if media_type == "application/json" or media_type.endswith("+json"):
            data = json.loads(body)
            return data.get("api_key") if isinstance(data, dict) else None
        if media_type == "multipart/form-data":
            return await _multipart_field(scope, body, "api_key")
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True)).get("api_key")
    except Exception:  # undecodable JSON, UTF-8 or multipart: the endpoint reports it once the caller is known
        return None


async def _multipart_field(scope: Scope, body: bytes, name: str) -> object:
    sent = False

    async def receive_body() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    form = await Request(scope, receive_body).form()
    try:
        return form.get(name)
    finally:
        await form.close()
