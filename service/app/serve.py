"""`python -m service serve [--host H] [--port P] [--models-dir DIR] ...`: run the service under uvicorn.

Every setting is a flag (`--max-batch-size 16`, `--no-batching`) and an environment variable
(`HEED_MAX_BATCH_SIZE=16`, `HEED_BATCHING=false`); a flag wins over the environment.
"""

from __future__ import annotations

import argparse
import os
import sys
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import uvicorn
from pydantic import ValidationError
from pydantic.fields import FieldInfo

from service.app.logs import configure_logging
from service.app.main import create_app
from service.app.settings import Settings


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
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,
        "log_level": settings.log_level,
        "access_log": False,  # heed writes its own JSON access log, with request ids
        "server_header": False,
        "timeout_graceful_shutdown": settings.shutdown_grace_seconds,
    }
    if settings.workers > 1:
        _export_to_environment(overrides)
        uvicorn.run("service.app.main:create_app", factory=True, workers=settings.workers, **options)
    else:
        uvicorn.run(create_app(settings), **options)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
