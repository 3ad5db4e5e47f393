"""Who is asking, for code below the HTTP layer: the work limiter charges translations to their caller.

AccessControlMiddleware names the caller (an API key, or a client address) in the ASGI scope; this middleware,
just inside it, copies the name into `CURRENT_CALLER`, a context variable that the request's handler and the
scheduler code it awaits see (tasks created from the handler copy it too).
"""

from __future__ import annotations

from contextvars import ContextVar

from starlette.types import ASGIApp, Receive, Scope, Send

from service.app.store.caller import CALLER_SCOPE_KEY

CURRENT_CALLER: ContextVar[str | None] = ContextVar("heed_current_caller", default=None)


class CallerContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        caller = scope.get(CALLER_SCOPE_KEY)
        if not isinstance(caller, str):
            await self.app(scope, receive, send)
            return
        token = CURRENT_CALLER.set(caller)
        try:
            await self.app(scope, receive, send)
        finally:
            CURRENT_CALLER.reset(token)
