"""The load generator: closed-loop clients over raw asyncio HTTP/1.1 keep-alive connections.

Each client holds one connection and sends its next request as soon as the previous answer is in. A
general-purpose client library costs about a millisecond of CPU per request, which on a 2-core machine is
taken from the server under test; here a request is a pre-built byte string and an answer is read by its
Content-Length (or chunks), so the generator stays far from being the bottleneck. Its own CPU time is
measured and reported with every scenario, so that claim is checked on each run.

Timing: clients run `warmup` seconds, then `probe()` is called and the measurement window opens; after
`duration` seconds `probe()` is called again and clients stop sending. Only requests that complete inside
the window count; those still in flight at its end are awaited (so the next scenario starts on an idle
server) and discarded.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
ResponseCounter = Callable[[bytes], tuple[int, int]]  # answer body -> (target words, target tokens)

MAX_ERROR_EXAMPLES = 5
DRAIN_TIMEOUT_SECONDS = 300.0


class HttpError(Exception):
    """The server answered something that is not HTTP/1.1 as this client reads it."""


def build_request(method: str, host: str, port: int, path: str, body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: application/json\r\n"
    if body or method == "POST":
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return (head + "\r\n").encode("ascii") + body


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """Status code and lower-cased headers of a response head (status line and headers, CRLF-terminated)."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise HttpError(f"not an HTTP/1.x status line: {lines[0]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


class Connection:
    """One keep-alive HTTP/1.1 connection; reconnects when the server closed it."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        if self._reader is None or self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._reader, self._writer
        try:
            writer.write(raw)
            await writer.drain()
            status, headers = parse_head(await reader.readuntil(b"\r\n\r\n"))
            if headers.get("transfer-encoding", "").lower() == "chunked":
                body = await self._read_chunks(reader)
            else:
                body = await reader.readexactly(int(headers.get("content-length", "0")))
        except BaseException:
            await self.close()
            raise
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, body

    @staticmethod
    async def _read_chunks(reader: asyncio.StreamReader) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers are sent by the servers measured here
                return b"".join(chunks)
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()


@dataclass
class LoadResult(Generic[T]):
    """What one scenario measured inside its window."""

    clients: int
    window_seconds: float
    latencies: list[float] = field(default_factory=list)  # seconds, one per request completed in the window
    completed: list[int] = field(default_factory=list)  # the sentence index of each of those requests
    errors: int = 0  # answers other than 200 (or failed connections) in the window
    error_examples: list[str] = field(default_factory=list)
    client_cpu_seconds: float = 0.0  # CPU the load generator used during the window
    probe_start: T | None = None
    probe_end: T | None = None

    def record_error(self, message: str) -> None:
        self.errors += 1
        if len(self.error_examples) < MAX_ERROR_EXAMPLES:
            self.error_examples.append(message)


@dataclass
class _Clock:
    window_start: float
    window_end: float


async def _exchange(
    connection: Connection,
    request: bytes,
    sentence: int,
    counts: dict[int, tuple[int, int]],
    count_response: ResponseCounter,
) -> str | None:
    """Sends one request; None when it was answered 200 with a readable translation, else what went wrong."""
    try:
        status, body = await connection.request(request)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, HttpError, ValueError) as error:
        return f"{type(error).__name__}: {error}"
    if status != 200:
        return f"HTTP {status}: {body[:200]!r}"
    if sentence not in counts:
        try:
            counts[sentence] = count_response(body)
        except (ValueError, KeyError, IndexError, TypeError) as error:
            return f"unreadable answer ({type(error).__name__}: {error}): {body[:200]!r}"
    return None


async def _client(
    connection: Connection,
    requests: Sequence[bytes],
    first: int,
    clock: _Clock,
    result: LoadResult[T],
    counts: dict[int, tuple[int, int]],
    count_response: ResponseCounter,
) -> None:
    index = first
    try:
        while time.perf_counter() < clock.window_end:
            sentence = index % len(requests)
            index += 1
            started = time.perf_counter()
            failure = await _exchange(connection, requests[sentence], sentence, counts, count_response)
            finished = time.perf_counter()
            if not clock.window_start <= finished <= clock.window_end:
                continue
            if failure is not None:
                result.record_error(failure)
                continue
            result.latencies.append(finished - started)
            result.completed.append(sentence)
    finally:
        await connection.close()


async def run_closed_loop(
    host: str,
    port: int,
    requests: Sequence[bytes],
    clients: int,
    warmup: float,
    duration: float,
    counts: dict[int, tuple[int, int]],
    count_response: ResponseCounter,
    probe: Callable[[], Awaitable[T]],
) -> LoadResult[T]:
    """Runs `clients` closed-loop clients for warmup + duration seconds; see the module docstring.

    Client c starts at sentence c * len(requests) // clients, so concurrent requests carry different
    sentences. `counts` caches (target words, target tokens) per sentence index: decoding is
    deterministic, so each sentence's first answer is parsed and later ones are only timed.
    """
    if clients < 1 or not requests:
        raise ValueError("a load needs at least one client and one request")
    started = time.perf_counter()
    clock = _Clock(window_start=started + warmup, window_end=started + warmup + duration)
    result: LoadResult[T] = LoadResult(clients=clients, window_seconds=duration)
    tasks = [
        asyncio.create_task(
            _client(
                Connection(host, port), requests, c * len(requests) // clients, clock, result, counts, count_response
            )
        )
        for c in range(clients)
    ]
    try:
        await asyncio.sleep(max(0.0, clock.window_start - time.perf_counter()))
        clock.window_start = time.perf_counter()
        cpu_start = time.process_time()
        result.probe_start = await probe()
        clock.window_end = clock.window_start + duration
        await asyncio.sleep(max(0.0, clock.window_end - time.perf_counter()))
        clock.window_end = time.perf_counter()  # answers after this moment do not count
        result.probe_end = await probe()
        result.client_cpu_seconds = time.process_time() - cpu_start
        result.window_seconds = clock.window_end - clock.window_start
        await asyncio.wait_for(asyncio.gather(*tasks), DRAIN_TIMEOUT_SECONDS)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return result
