"""The servers under test, each a subprocess: heed's `python -m service serve` and `python -m bench.torch_server`.

Memory and CPU time are read from /proc for the server process and every process it started, so a
multi-worker configuration is measured whole.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import httpx

REPO = Path(__file__).resolve().parents[1]
LOCALHOST = "127.0.0.1"
READY_TIMEOUT_SECONDS = 180.0
READY_POLL_SECONDS = 0.01
STOP_TIMEOUT_SECONDS = 15.0
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class ServerError(RuntimeError):
    """A server that exited or never became ready; the message ends with the tail of its log."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOCALHOST, 0))
        port: int = probe.getsockname()[1]
        return port


def process_tree(pid: int) -> list[int]:
    """pid and all its descendants that are alive now."""
    found = [pid]
    index = 0
    while index < len(found):
        current = found[index]
        index += 1
        for task in _listdir(Path(f"/proc/{current}/task")):
            children = _read(Path(f"/proc/{current}/task/{task}/children"))
            found.extend(int(child) for child in children.split())
    return found


def _listdir(path: Path) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def status_kib(pid: int, key: str) -> int:
    """A `kB` field of /proc/<pid>/status (VmRSS, VmHWM, ...); 0 when the process is gone."""
    for line in _read(Path(f"/proc/{pid}/status")).splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads); 0 when it is gone."""
    stat = _read(Path(f"/proc/{pid}/stat"))
    if not stat:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()  # the command name may hold spaces; it ends at the last ")"
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime and stime, fields 14 and 15 of stat


@dataclass
class ServerProcess:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    launched_at: float  # time.perf_counter() just before the process was started
    seconds_to_ready: float = 0.0
    log_file: BinaryIO | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{LOCALHOST}:{self.port}"

    def rss_bytes(self) -> int:
        return 1024 * sum(status_kib(pid, "VmRSS") for pid in process_tree(self.process.pid))

    def peak_rss_bytes(self) -> int:
        """The high-water mark of resident memory since start, summed over the process tree."""
        return 1024 * sum(status_kib(pid, "VmHWM") for pid in process_tree(self.process.pid))

    def cpu_seconds(self) -> float:
        return sum(cpu_seconds(pid) for pid in process_tree(self.process.pid))

    def log_tail(self, lines: int = 20) -> str:
        text = _read(self.log_path).splitlines()
        return "\n".join(text[-lines:])

    def wait_ready(self, path: str = "/readyz", timeout: float = READY_TIMEOUT_SECONDS) -> float:
        """Polls `path` until it answers 200; returns the seconds since launch. Raises ServerError."""
        deadline = time.perf_counter() + timeout
        with httpx.Client(timeout=2.0) as client:
            while True:
                if self.process.poll() is not None:
                    raise ServerError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
                try:
                    if client.get(self.url + path).status_code == 200:
                        self.seconds_to_ready = time.perf_counter() - self.launched_at
                        return self.seconds_to_ready
                except httpx.TransportError:
                    pass
                if time.perf_counter() > deadline:
                    self.stop()
                    raise ServerError(f"{self.name} was not ready after {timeout:.0f} s:\n{self.log_tail()}")
                time.sleep(READY_POLL_SECONDS)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.log_file is not None:
            self.log_file.close()


# The benchmark measures heed as an open service with its default store: access control and a Redis store set in
# the caller's environment would turn load into 401/429 answers or measure another machine, so they are dropped.
DROPPED_SETTINGS = ("HEED_API_KEYS", "HEED_API_KEYS_FILE", "HEED_RATE_LIMIT", "HEED_REDIS_URL")


def server_environment() -> dict[str, str]:
    """The environment the servers start with: this process' own, less DROPPED_SETTINGS."""
    return {key: value for key, value in os.environ.items() if key not in DROPPED_SETTINGS}


def launch(name: str, arguments: list[str], log_path: Path, environment: dict[str, str] | None = None) -> ServerProcess:
    """Starts `python <arguments>` in the repository root with its output going to log_path."""
    port = free_port()
    command = [sys.executable, *[argument.replace("{port}", str(port)) for argument in arguments]]
    log_file = log_path.open("wb")
    launched_at = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=REPO,
        env={**server_environment(), **(environment or {})},
        stdout=log_file,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    return ServerProcess(name, process, port, log_path, launched_at, log_file=log_file)


def heed_arguments(models_dir: Path, sqlite_path: Path, batching: bool) -> list[str]:
    """heed's own command line, as shipped; everything not named here keeps its default (or HEED_* value)."""
    arguments = ["-m", "service", "serve", "--host", LOCALHOST, "--port", "{port}"]
    arguments += ["--models-dir", str(models_dir), "--sqlite-path", str(sqlite_path)]
    return [*arguments, "--batching" if batching else "--no-batching"]


def torch_arguments(bundle: Path, checkpoint: Path | None) -> list[str]:
    arguments = ["-m", "bench.torch_server", "--host", LOCALHOST, "--port", "{port}", "--bundle", str(bundle)]
    return [*arguments, "--checkpoint", str(checkpoint)] if checkpoint else arguments
