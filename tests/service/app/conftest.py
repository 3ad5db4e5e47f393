"""Real servers for the HTTP tests: uvicorn on a free port over the real tiny bundle, real SQLite and Redis."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from service.app import Settings, create_app
from service.app.state import AppState

T = TypeVar("T")
STARTUP_SECONDS = 120.0


@dataclass
class LiveServer:
    """A uvicorn server running `app` in a thread of this process, on its own event loop."""

    url: str
    app: FastAPI
    server: uvicorn.Server
    loop: asyncio.AbstractEventLoop

    @property
    def state(self) -> AppState:
        state: AppState = self.app.state.heed
        return state

    def client(self, **options: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60.0, **options)

    def run_in_loop(self, coroutine: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop  # production runs on uvloop when it is installed (uvicorn's "auto")

        return uvloop.new_event_loop()
    except ImportError:
        return asyncio.new_event_loop()


def wait_until(condition: Any, what: str, seconds: float = STARTUP_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


def _answers(url: str, path: str, statuses: tuple[int, ...]) -> bool:
    try:
        return httpx.get(url + path, timeout=5.0).status_code in statuses
    except httpx.TransportError:
        return False


@contextlib.contextmanager
def live_server(settings: Settings, *, wait_for: str | None = "ready") -> Iterator[LiveServer]:
    """Serves `create_app(settings)`; waits until /readyz answers 200 ("ready"), or anything ("up"), or not."""
    app = create_app(settings)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(
        app, log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=10, proxy_headers=False
    )
    server = uvicorn.Server(config)
    loop = _new_loop()
    thread = threading.Thread(
        target=loop.run_until_complete, args=(server.serve(sockets=[listener]),), name="uvicorn", daemon=True
    )
    thread.start()
    live = LiveServer(f"http://127.0.0.1:{port}", app, server, loop)
    try:
        wait_until(lambda: server.started or not thread.is_alive(), "uvicorn to start")
        assert thread.is_alive(), "uvicorn stopped during start-up"
        if wait_for == "ready":
            wait_until(lambda: _answers(live.url, "/readyz", (200,)), "/readyz to answer 200")
        elif wait_for == "up":
            wait_until(lambda: _answers(live.url, "/healthz", (200,)), "/healthz to answer")
        yield live
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        loop.close()
        listener.close()


def server_settings(models_dir: Path, tmp: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "models_dir": models_dir,
        "sqlite_path": tmp / "results.sqlite3",
        "batch_window_ms": 2.0,
        "batch_workers": 1,  # the batching tests hold "the" worker to let requests queue
        "max_body_bytes": 256 * 1024,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def models_dir(tiny_bundle: Path) -> Path:
    """The folder holding the tiny en-de bundle (and nothing else)."""
    return tiny_bundle.parent


@pytest.fixture(scope="session")
def server(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The main server: SQLite store in a file, batching on."""
    settings = server_settings(models_dir, tmp_path_factory.mktemp("server"))
    with live_server(settings) as live:
        yield live


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as http:
        yield http


def redis_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        reason = "redis-server is not installed (apt-get install -y redis-server)"
        if os.environ.get("HEED_REQUIRE_REDIS"):
            pytest.fail(f"{reason}; HEED_REQUIRE_REDIS is set, so the Redis tests must run")
        pytest.skip(reason)
    return binary


class RedisProcess:
    """A real redis-server on a fixed free port, without persistence, that a test can kill, stop and restart."""

    def __init__(self, binary: str, folder: Path) -> None:
        self.binary, self.folder = binary, folder
        folder.mkdir(parents=True, exist_ok=True)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                   "--dir", str(self.folder)]  # fmt: skip
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        self.process = process
        wait_until(lambda: _redis_answers(self.port) or process.poll() is not None, "redis-server to start", 30)
        assert process.poll() is None, "redis-server exited at start-up"

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=30)
            self.process = None

    def pause(self) -> None:
        """SIGSTOP: the port still accepts connections (the kernel does), but nothing answers: a hung Redis."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None:
            self.resume()
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None


@contextlib.contextmanager
def running_redis(folder: Path) -> Iterator[RedisProcess]:
    redis = RedisProcess(redis_binary(), folder)
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on a free port, without persistence, for the session."""
    with running_redis(tmp_path_factory.mktemp("redis")) as redis:
        yield redis.url


@pytest.fixture
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    """A redis-server of this test's own, to kill, hang and restart."""
    with running_redis(tmp_path_factory.mktemp("own-redis")) as redis:
        yield redis


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="session")
def redis_server(models_dir: Path, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server storing results in Redis."""
    settings = server_settings(models_dir, tmp_path_factory.mktemp("redis-server"), redis_url=redis_url)
    with live_server(settings) as live:
        yield live
