"""Command-line plumbing shared by heed's CLIs: bad usage is reported as one line, never a traceback."""

from __future__ import annotations

import argparse
from typing import NoReturn


class UsageError(Exception):
    """A bad command line or config, reported as one line."""


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)
