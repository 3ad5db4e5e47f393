"""Real servers for the hardening tests: in-process uvicorn (tests/service/app/conftest.py) and real
`python -m service serve` processes, whose every output line is kept so tests can read the logs."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from tests.service.app.conftest import redis_url, wait_until

__all__ = ["redis_url"]  # the real redis-server fixture, shared with the app tests

REPO = Path(__file__).resolve().parents[3]
_ADDRESS = re.compile(r"running on (http://127\.0\.0\.1:\d+)")


@pytest.fixture(scope="session")
def models_dir(tiny_bundle: Path) -> Path:
    """The folder holding the tiny en-de bundle (and nothing else)."""
    return tiny_bundle.parent


@dataclass
class ServeProcess:
    """A `python -m service serve` process; `lines` grows with everything it writes (stdout and stderr)."""

    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    url: str = ""

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return "".join(self.lines)

    def records(self) -> list[dict[str, Any]]:
        """The JSON log lines; every line must be one (asserted)."""
        text_lines = [line for line in list(self.lines) if line.strip()]
        records = [json.loads(line) for line in text_lines]
        return records

    def access_records(self) -> list[dict[str, Any]]:
        return [record for record in self.records() if record["logger"] == "heed.access"]

    def rss_kib(self) -> int:
        """Resident set size from /proc/<pid>/status."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        match = re.search(r"^VmRSS:\s+(\d+) kB$", status, re.MULTILINE)
        assert match, status
        return int(match.group(1))

    def terminate(self) -> None:
        self.process.send_signal(signal.SIGTERM)


def _collect(stream: IO[str], into: list[str]) -> None:
    for line in stream:
        into.append(line)


def clean_environment(**variables: str) -> dict[str, str]:
    """This process's environment without any HEED_* variable, plus `variables`."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith("HEED_")}
    environment.update(variables)
    return environment


@contextlib.contextmanager
def serve_process(
    models: Path, folder: Path, *flags: str, ready: bool = True, **variables: str
) -> Iterator[ServeProcess]:
    """Starts `python -m service serve` on a free port of 127.0.0.1 over `models`, with HEED_* `variables`;
    waits for the address it listens on, and (unless `ready=False`) for /readyz to answer 200."""
    environment = clean_environment(HEED_SQLITE_PATH=str(folder / "results.sqlite3"), **variables)
    command = [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1", "--port", "0",
               "--models-dir", str(models), *flags]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=REPO, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    served = ServeProcess(process)
    assert process.stdout is not None
    reader = threading.Thread(target=_collect, args=(process.stdout, served.lines), daemon=True)
    reader.start()
    try:
        wait_until(lambda: _address(served) or process.poll() is not None, "the server to listen")
        assert process.poll() is None, served.output()
        served.url = _address(served) or ""
        if ready:
            wait_until(lambda: _ready(served.url), "/readyz to answer 200")
        yield served
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=60)
        reader.join(timeout=30)


def _address(served: ServeProcess) -> str | None:
    for line in list(served.lines):
        match = _ADDRESS.search(line)
        if match:
            return match.group(1)
    return None


def _ready(url: str) -> bool:
    try:
        return httpx.get(url + "/readyz", timeout=5.0).status_code == 200
    except httpx.TransportError:
        return False
