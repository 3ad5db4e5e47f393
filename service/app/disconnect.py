"""Work whose client has gone stops: a POST whose client disconnects before its answer is cancelled.

uvicorn does not cancel a request's handler when the client goes away; it only answers `http.disconnect` to
the next `receive()`. Once a POST's body has been read, this middleware keeps one `receive()` waiting; when it
says the client disconnected before the response was complete, the handler is cancelled. A translation being
cancelled drops its sentences from the queue and its rows from the decoder batch at the next step
(service/app/batching.py). Innermost middleware: the layers around it see a request that ended without an
answer, as they would for any client that hangs up.
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class CancelOnDisconnectMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body_read, answered = asyncio.Event(), asyncio.Event()
        disconnect: asyncio.Future[Message] = asyncio.get_running_loop().create_future()

        async def tracked_receive() -> Message:
            if body_read.is_set():  # the watcher owns the next message from the client
                return await asyncio.shield(disconnect)
            message = await receive()
            if message["type"] == "http.request" and not message.get("more_body", False):
                body_read.set()
            return message

        async def tracked_send(message: Message) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                answered.set()
            await send(message)

        handler = asyncio.ensure_future(self.app(scope, tracked_receive, tracked_send))
        watcher = asyncio.ensure_future(self._watch(receive, body_read, answered, disconnect, handler))
        try:
            await handler
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not (disconnect.done() and not answered.is_set()) or (current is not None and current.cancelling()):
                raise  # not ours: the server itself is cancelling the request
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    @staticmethod
    async def _watch(
        receive: Receive,
        body_read: asyncio.Event,
        answered: asyncio.Event,
        disconnect: asyncio.Future[Message],
        handler: asyncio.Future[None],
    ) -> None:
        await body_read.wait()
        message = await receive()
        if not disconnect.done():
            disconnect.set_result(message)
        if message["type"] == "http.disconnect" and not answered.is_set() and not handler.done():
            handler.cancel()
