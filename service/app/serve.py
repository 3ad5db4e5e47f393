"""`python -m service serve [--host H] [--port P] [--models-dir DIR] ...`: run the service under uvicorn.

Every setting is a flag (`--max-batch-size 16`, `--no-batching`) and an environment variable
(`HEED_MAX_BATCH_SIZE=16`, `HEED_BATCHING=false`); a flag wins over the environment.

On SIGTERM (or SIGINT) the server stops listening at once, so new connections are refused; idle keep-alive
connections are closed; requests in flight may finish until shortly before `shutdown_grace_seconds` have
passed (CANCEL_MARGIN_SECONDS before, for the answers to go out), when every translation still queued or
decoding is cancelled: its client gets 503 and its decoding stops at the next step; then the scheduler and
the store close, well within the grace period. The process then exits with status 0, which
orchestrators read as a clean stop. It exits 3 when the server could not start (port taken, say) and 2 on
invalid settings.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

import uvicorn
from pydantic import ValidationError
from pydantic.fields import FieldInfo

from service.app.logs import configure_logging
from service.app.main import create_app
from service.app.settings import Settings
from service.app.state import AppState

STARTUP_FAILURE = 3
CANCEL_MARGIN_SECONDS = 2.0
logger = logging.getLogger("heed.serve")


def cancel_delay(grace_seconds: float) -> float:
    """Seconds after shutdown begins at which remaining work is cancelled: the margin before the grace ends,
    or half the grace when it is shorter than twice the margin."""
    return max(grace_seconds - CANCEL_MARGIN_SECONDS, grace_seconds / 2)


class GracefulServer(uvicorn.Server):
    """uvicorn's server, logging when a shutdown signal arrives and how much work in flight it will wait for,
    and cancelling the translations still running shortly before the grace period ends."""

    def __init__(self, config: uvicorn.Config, state: AppState | None = None) -> None:
        super().__init__(config)
        self.heed_state = state

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        grace = self.config.timeout_graceful_shutdown
        loop = asyncio.get_running_loop()
        timer = loop.call_later(cancel_delay(grace), self._cancel_remaining) if grace is not None else None
        try:
            await super().shutdown(sockets)
        finally:
            if timer is not None:
                timer.cancel()

    def _cancel_remaining(self) -> None:
        scheduler = self.heed_state.scheduler if self.heed_state is not None else None
        logger.warning("grace period ending: cancelling the translations still in flight", extra={"fields": {
            "requests_in_flight": len(self.server_state.tasks),
            "sentences_waiting": scheduler.waiting if scheduler is not None else 0,
        }})  # fmt: skip
        if scheduler is not None:
            scheduler.cancel_all("the service is shutting down and the shutdown grace period is over")

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if not self.should_exit:
            state = self.server_state
            logger.info("shutdown requested", extra={"fields": {
                "signal": signal.Signals(sig).name, "requests_in_flight": len(state.tasks),
                "connections": len(state.connections), "grace_seconds": self.config.timeout_graceful_shutdown,
            }})  # fmt: skip
        super().handle_exit(sig, frame)


def _exit_cleanly(signum: int, frame: FrameType | None) -> NoReturn:
    """SIGTERM outside uvicorn's own handling: before it starts, and when it re-raises the signal once it
    has shut down gracefully; either way the stop was asked for and went as planned."""
    raise SystemExit(0)


def _flag_options(name: str, field: FieldInfo) -> dict[str, Any]:
    annotation = field.annotation
    choices: tuple[Any, ...] | None = None
    if typing.get_origin(annotation) is typing.Literal:
        choices = typing.get_args(annotation)
        annotation = type(choices[0])
    if isinstance(annotation, types.UnionType):  # X | None
        annotation = next(arg for arg in typing.get_args(annotation) if arg is not type(None))
    help_text = f"{field.description or ''} (env HEED_{name.upper()}; default: {field.default})"
    options: dict[str, Any] = {"dest": name, "help": help_text, "default": argparse.SUPPRESS}
    if annotation is bool:
        options["action"] = argparse.BooleanOptionalAction
    else:
        options["type"] = annotation if annotation in (int, float) else str
        options["metavar"] = "PATH" if annotation is Path else name.upper()
        if choices:
            options["choices"] = choices
    return options


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m service serve",
        description="Serve every model bundle in the models folder over HTTP.",
        epilog="Every option can also be set with its HEED_* environment variable.",
    )
    for name, field in Settings.model_fields.items():
        parser.add_argument("--" + name.replace("_", "-"), **_flag_options(name, field))
    return parser


def _export_to_environment(overrides: dict[str, Any]) -> None:
    """Worker processes build their own settings from the environment; flags travel that way."""
    for name, value in overrides.items():
        os.environ[f"HEED_{name.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["serve"]:
        arguments = arguments[1:]
    overrides = vars(build_parser().parse_args(arguments))
    try:
        settings = Settings(**overrides)
    except ValidationError as error:
        print(f"heed serve: invalid settings:\n{error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    signal.signal(signal.SIGTERM, _exit_cleanly)
    options = uvicorn_options(settings)
    if settings.workers > 1:
        _export_to_environment(overrides)
        uvicorn.run("service.app.main:create_app", factory=True, workers=settings.workers, **options)
        return 0
    app = create_app(settings)
    server = GracefulServer(uvicorn.Config(app, **options), app.state.heed)
    with contextlib.suppress(KeyboardInterrupt):  # SIGINT, re-raised by uvicorn once it shut down gracefully
        server.run()
    return 0 if server.started else STARTUP_FAILURE


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    return {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,
        "log_level": settings.log_level,
        "access_log": False,  # heed writes its own JSON access log, with request ids
        "server_header": False,
        "timeout_graceful_shutdown": settings.shutdown_grace_seconds,
        # heed reads X-Forwarded-For itself, as far as `trusted_proxies` says; uvicorn would trust any local peer
        "proxy_headers": False,
    }


if __name__ == "__main__":
    raise SystemExit(main())
