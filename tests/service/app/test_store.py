"""Both result stores against the real thing: a SQLite file (shared by several processes) and a redis-server."""

from __future__ import annotations

import asyncio
import multiprocessing
import secrets
import socket
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis

from service.app.settings import Settings
from service.app.store import RedisResultStore, ResultStore, SQLiteResultStore, StoreError, open_store

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def sqlite_store(path: Path, clock: Callable[[], float] | None = None, **caps: int) -> SQLiteResultStore:
    options: dict[str, Any] = {"ttl_seconds": 100, "max_entries": 1000, "max_bytes": 1_000_000, **caps}
    if clock is not None:
        options["clock"] = clock
    return SQLiteResultStore(path, **options)


def redis_store(url: str, clock: Callable[[], float] | None = None, **caps: int) -> RedisResultStore:
    options: dict[str, Any] = {"ttl_seconds": 100, "max_entries": 1000, "max_bytes": 1_000_000, **caps}
    if clock is not None:
        options["clock"] = clock
    return RedisResultStore(url, prefix=f"test-{secrets.token_hex(4)}:", **options)


async def save_all(store: ResultStore, documents: dict[str, bytes]) -> list[bool]:
    return [await store.save(result_id, document) for result_id, document in documents.items()]


async def load_all(store: ResultStore, ids: list[str]) -> list[bytes | None]:
    return [await store.load(result_id) for result_id in ids]


# Behaviour both backends share --------------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "redis"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., ResultStore]:
    if request.param == "sqlite":
        return lambda **caps: sqlite_store(tmp_path / "results.sqlite3", **caps)
    url = request.getfixturevalue("redis_url")
    return lambda **caps: redis_store(url, **caps)


def test_round_trip_and_unknown_ids(make_store: Callable[..., ResultStore]) -> None:
    store = make_store()
    document = bytes(range(256)) * 10

    async def scenario() -> tuple[bool, bytes | None, bytes | None]:
        saved = await store.save("abc", document)
        found, missing = await store.load("abc"), await store.load("nope")
        await store.check()
        await store.close()
        return saved, found, missing

    assert run(scenario()) == (True, document, None)


def test_the_entry_cap_evicts_the_oldest(make_store: Callable[..., ResultStore]) -> None:
    store = make_store(max_entries=3)
    documents = {f"id{i}": f"document {i}".encode() for i in range(5)}

    async def scenario() -> list[bytes | None]:
        await save_all(store, documents)
        loaded = await load_all(store, list(documents))
        await store.close()
        return loaded

    assert run(scenario()) == [None, None, b"document 2", b"document 3", b"document 4"]


def test_the_byte_cap_evicts_the_oldest_and_refuses_a_document_larger_than_the_cap(
    make_store: Callable[..., ResultStore],
) -> None:
    store = make_store(max_bytes=1000)
    documents = {f"id{i}": bytes([i]) * 300 for i in range(5)}

    async def scenario() -> tuple[list[bool], list[bytes | None]]:
        saved = await save_all(store, {**documents, "huge": b"x" * 1001})
        loaded = await load_all(store, [*documents, "huge"])
        await store.close()
        return saved, loaded

    saved, loaded = run(scenario())
    assert saved == [True] * 5 + [False]
    assert loaded == [None, None, documents["id2"], documents["id3"], documents["id4"], None]


def test_open_store_picks_the_backend_from_settings(tmp_path: Path, redis_url: str) -> None:
    sqlite = open_store(Settings(sqlite_path=tmp_path / "a.sqlite3"))
    redis_backed = open_store(Settings(redis_url=redis_url))
    assert (sqlite.backend, redis_backed.backend) == ("sqlite", "redis")
    run(sqlite.close())
    run(redis_backed.close())


# SQLite --------------------------------------------------------------------------------------------------------------


def test_sqlite_results_expire_after_their_ttl(tmp_path: Path) -> None:
    clock = Clock()
    store = sqlite_store(tmp_path / "results.sqlite3", clock)
    store.save_blocking("old", b"old document")
    clock.now += 99
    assert store.load_blocking("old") == b"old document"
    clock.now += 1
    assert store.load_blocking("old") is None
    store.save_blocking("new", b"new")  # a save purges what expired
    assert store.totals() == (1, 3)


def test_sqlite_results_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "results.sqlite3"
    first = sqlite_store(path)
    first.save_blocking("kept", b"still here")
    run(first.close())
    second = sqlite_store(path)
    assert second.load_blocking("kept") == b"still here"
    assert second.totals() == (1, len(b"still here"))


def _write_many(path: str, worker: int, count: int) -> None:
    store = SQLiteResultStore(path, ttl_seconds=3600, max_entries=100_000, max_bytes=100_000_000)
    for index in range(count):
        store.save_blocking(f"w{worker}-{index}", f"worker {worker} document {index}".encode())


def test_sqlite_is_shared_safely_by_several_processes(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    sqlite_store(path)  # creates the schema once, as the first worker would
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_many, args=(str(path), worker, 60)) for worker in range(4)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=120)
        assert process.exitcode == 0
    store = sqlite_store(path, max_entries=100_000)
    expected = {f"w{w}-{i}": f"worker {w} document {i}".encode() for w in range(4) for i in range(60)}
    assert all(store.load_blocking(result_id) == document for result_id, document in expected.items())
    assert store.totals() == (len(expected), sum(len(document) for document in expected.values()))


def test_sqlite_at_an_unusable_path_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match="cannot open the SQLite result store"):
        sqlite_store(blocker / "results.sqlite3")


# Redis ---------------------------------------------------------------------------------------------------------------


def test_redis_documents_carry_the_ttl_as_expire(redis_url: str) -> None:
    store = redis_store(redis_url)

    async def scenario() -> None:
        await store.save("with-ttl", b"document")
        await store.close()

    run(scenario())
    client = redis.Redis.from_url(redis_url)
    ttl = client.ttl(store.document_key("with-ttl"))
    assert 0 < ttl <= 100
    client.close()


def test_redis_bookkeeping_forgets_expired_results(redis_url: str) -> None:
    clock = Clock()
    store = redis_store(redis_url, clock)

    async def scenario() -> None:
        await store.save("first", b"12345")
        clock.now += 100  # "first" has expired by the store's clock (Redis drops the key itself by EXPIRE)
        await store.save("second", b"123")
        await store.close()

    run(scenario())
    index, sizes, total = store.bookkeeping_keys
    client = redis.Redis.from_url(redis_url)
    assert client.zrange(index, 0, -1) == [b"second"]
    assert client.hgetall(sizes) == {b"second": b"3"}
    assert client.get(total) == b"3"
    client.close()


def test_an_unreachable_redis_is_a_store_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = redis_store(f"redis://127.0.0.1:{port}/0")

    async def scenario() -> None:
        for operation in (store.check(), store.load("x"), store.save("x", b"y")):
            with pytest.raises(StoreError, match="Redis store"):
                await operation
        await store.close()

    run(scenario())
