"""The load generator's HTTP/1.1 client and closed loop, against a real asyncio HTTP server on a free port."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from bench.httpload import Connection, HttpError, build_request, parse_head, run_closed_loop
from bench.workload import Workload, count_translation, request_body

T = TypeVar("T")
ANSWER = json.dumps(
    {"translations": [{"text": "Ein Mann fährt.", "target_tokens": ["▁Ein", "▁Mann", "▁fährt.", "</s>"]}]}
)


class TinyServer:
    """Answers POSTs: /close closes the connection after answering, /chunked answers in chunks, /fail with 503,
    /garbage with 200 and a body that is no translation."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ")[1].decode()
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length")), 0)  # fmt: skip
                self.bodies.append(await reader.readexactly(length))
                writer.write(self.answer(path))
                await writer.drain()
                if path == "/close":
                    break
        except asyncio.IncompleteReadError:
            pass
        writer.close()

    @staticmethod
    def answer(path: str) -> bytes:
        body = b"<html>oops</html>" if path == "/garbage" else ANSWER.encode()
        if path == "/chunked":
            chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:10], body[10:]))
            return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
        status = b"503 Service Unavailable" if path == "/fail" else b"200 OK"
        close = b"Connection: close\r\n" if path == "/close" else b""
        return b"HTTP/1.1 %s\r\nContent-Length: %d\r\n%s\r\n%s" % (status, len(body), close, body)


def with_server(test: Callable[[TinyServer, int], Awaitable[T]]) -> T:
    async def main() -> T:
        tiny = TinyServer()
        server = await asyncio.start_server(tiny.handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            return await test(tiny, port)

    return asyncio.run(main())


def test_the_client_reads_sized_chunked_and_closing_answers_on_one_connection() -> None:
    async def exchange(tiny: TinyServer, port: int) -> list[tuple[int, bytes]]:
        connection = Connection("127.0.0.1", port)
        answers = []
        for path in ("/plain", "/chunked", "/close", "/plain", "/fail"):
            answers.append(await connection.request(build_request("POST", "127.0.0.1", port, path, b'{"n": 1}')))
        await connection.close()
        return answers

    answers = with_server(exchange)
    assert [status for status, _ in answers] == [200, 200, 200, 200, 503]
    assert all(body == ANSWER.encode() for _, body in answers)


def test_the_connection_is_kept_alive_until_the_server_closes_it() -> None:
    async def exchange(tiny: TinyServer, port: int) -> int:
        connection = Connection("127.0.0.1", port)
        for path in ("/plain", "/plain", "/close", "/plain"):
            await connection.request(build_request("POST", "127.0.0.1", port, path, b"{}"))
        await connection.close()
        return tiny.connections

    assert with_server(exchange) == 2


def test_heads_that_are_not_http_are_refused() -> None:
    assert parse_head(b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nX-A: b\r\n\r\n") == (
        404, {"content-length": "3", "x-a": "b"},
    )  # fmt: skip
    with pytest.raises(HttpError):
        parse_head(b"SSH-2.0-OpenSSH\r\n\r\n")


def test_requests_are_complete_http_with_the_clients_body() -> None:
    workload = Workload("en", "de", ["A man.", "Two dogs."])
    raw = workload.requests("127.0.0.1", 8000, beam_size=4)[1]
    head, body = raw.split(b"\r\n\r\n", 1)
    assert head.startswith(b"POST /v1/translate HTTP/1.1\r\n")
    assert f"Content-Length: {len(body)}".encode() in head
    assert json.loads(body) == request_body("en", "de", "Two dogs.", 4) == {
        "source": "en", "target": "de", "text": "Two dogs.", "beam_size": 4,
    }  # fmt: skip


def test_answers_are_counted_in_words_and_tokens() -> None:
    assert count_translation(ANSWER.encode()) == (3, 4)


def test_closed_loop_clients_spread_over_the_sentences_and_count_only_their_window() -> None:
    probes: list[int] = []

    async def load(tiny: TinyServer, port: int) -> Any:
        requests = [build_request("POST", "127.0.0.1", port, "/plain", b'{"i": %d}' % i) for i in range(12)]

        async def probe() -> int:
            probes.append(len(tiny.bodies))
            return len(tiny.bodies)

        counts: dict[int, tuple[int, int]] = {}
        result = await run_closed_loop("127.0.0.1", port, requests, 3, 0.2, 0.3, counts, count_translation, probe)
        return result, counts, tiny.bodies[:3]

    result, counts, first_bodies = with_server(load)
    assert sorted(first_bodies) == [b'{"i": 0}', b'{"i": 4}', b'{"i": 8}']  # each client starts elsewhere
    assert result.errors == 0 and result.completed
    assert len(result.latencies) == len(result.completed)
    assert result.probe_start == probes[0] and result.probe_end == probes[1]
    assert len(result.completed) <= probes[1] - probes[0] + 3  # nothing before the window counts
    assert set(result.completed) <= set(counts) and counts[result.completed[0]] == (3, 4)


@pytest.mark.parametrize(("path", "reported"), [("/fail", "HTTP 503"), ("/garbage", "unreadable answer")])
def test_failed_answers_are_errors_not_latencies(path: str, reported: str) -> None:
    async def load(tiny: TinyServer, port: int) -> Any:
        requests = [build_request("POST", "127.0.0.1", port, path, b"{}")]

        async def probe() -> None:
            return None

        return await run_closed_loop("127.0.0.1", port, requests, 2, 0.05, 0.2, {}, count_translation, probe)

    result = with_server(load)
    assert result.errors > 0 and not result.latencies and not result.completed
    assert result.error_examples[0].startswith(reported)
