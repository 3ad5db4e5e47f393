"""Both result stores against the real thing: a SQLite file (shared by several processes) and a redis-server."""

from __future__ import annotations

import asyncio
import multiprocessing
import resource
import secrets
import shutil
import socket
import sqlite3
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis

from service.app.settings import Settings
from service.app.store import (
    EvictedError,
    NotStoredError,
    RedisResultStore,
    ResultStore,
    SQLiteResultStore,
    StoreError,
    open_store,
)
from service.app.store.breaker import CircuitBreaker

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


async def saved(store: ResultStore, result_id: str, document: bytes, owner: str = "") -> bool | str:
    """True when stored, else the reason it was not."""
    try:
        await store.save(result_id, document, owner=owner)
    except NotStoredError as refusal:
        return refusal.reason
    return True


async def save_all(store: ResultStore, documents: dict[str, bytes], owner: str = "") -> list[bool | str]:
    return [await saved(store, result_id, document, owner) for result_id, document in documents.items()]


async def loaded(store: ResultStore, result_id: str, owner: str | None = None) -> bytes | str | None:
    """The document, None when unknown, or "evicted"."""
    try:
        return await store.load(result_id, owner=owner)
    except EvictedError:
        return "evicted"


async def load_all(store: ResultStore, ids: list[str], owner: str | None = None) -> list[bytes | str | None]:
    return [await loaded(store, result_id, owner) for result_id in ids]


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

    async def scenario() -> tuple[bool | str, bytes | str | None, bytes | str | None]:
        stored = await saved(store, "abc", document)
        found, missing = await loaded(store, "abc"), await loaded(store, "nope")
        await store.check()
        await store.close()
        return stored, found, missing

    assert run(scenario()) == (True, document, None)


def test_the_entry_cap_evicts_the_oldest_and_remembers_them_as_evicted(make_store: Callable[..., ResultStore]) -> None:
    store = make_store(max_entries=3)
    documents = {f"id{i}": f"document {i}".encode() for i in range(5)}

    async def scenario() -> list[bytes | str | None]:
        await save_all(store, documents)
        found = await load_all(store, list(documents))
        await store.close()
        return found

    assert run(scenario()) == ["evicted", "evicted", b"document 2", b"document 3", b"document 4"]


def test_the_byte_cap_evicts_the_oldest_and_refuses_a_document_larger_than_the_cap(
    make_store: Callable[..., ResultStore],
) -> None:
    store = make_store(max_bytes=1000)
    documents = {f"id{i}": bytes([i]) * 300 for i in range(5)}

    async def scenario() -> tuple[list[bool | str], list[bytes | str | None]]:
        stored = await save_all(store, {**documents, "huge": b"x" * 1001})
        found = await load_all(store, [*documents, "huge"])
        await store.close()
        return stored, found

    stored, found = run(scenario())
    assert stored == [True] * 5 + ["too_large"]
    assert found == ["evicted", "evicted", documents["id2"], documents["id3"], documents["id4"], None]


def test_open_store_picks_the_backend_from_settings(tmp_path: Path, redis_url: str) -> None:
    sqlite = open_store(Settings(sqlite_path=tmp_path / "a.sqlite3"))
    redis_backed = open_store(Settings(redis_url=redis_url))
    assert (sqlite.backend, redis_backed.backend) == ("sqlite", "redis")
    run(sqlite.close())
    run(redis_backed.close())


def test_quotas_are_per_owner_so_one_owner_only_ever_evicts_its_own(make_store: Callable[..., ResultStore]) -> None:
    store = make_store(max_entries_per_owner=2)

    async def scenario() -> tuple[list[bool | str], list[bytes | str | None], list[bytes | str | None]]:
        stored = [await saved(store, "b1", b"b one", "b")]
        stored += await save_all(store, {"a1": b"a one", "a2": b"a two", "a3": b"a three", "a4": b"a four"}, "a")
        as_a = await load_all(store, ["a1", "a2", "a3", "a4"], owner="a")
        as_b = await load_all(store, ["b1", "a1", "a4"], owner="b")
        await store.close()
        return stored, as_a, as_b

    stored, as_a, as_b = run(scenario())
    assert stored == [True] * 5
    assert as_a == ["evicted", "evicted", b"a three", b"a four"]
    assert as_b == [b"b one", None, None], "another owner's results, evicted or not, are unknown to b"


def test_a_byte_quota_evicts_as_many_of_the_owners_oldest_as_it_takes(make_store: Callable[..., ResultStore]) -> None:
    store = make_store(max_bytes_per_owner=1000)

    async def scenario() -> list[bytes | str | None]:
        await save_all(store, {"small1": b"1" * 300, "small2": b"2" * 300, "small3": b"3" * 300})
        await save_all(store, {"other": b"o" * 900}, owner="other")
        assert await saved(store, "big", b"B" * 700) is True
        found = await load_all(store, ["small1", "small2", "small3", "big", "other"])
        await store.close()
        return found

    assert run(scenario()) == ["evicted", "evicted", b"3" * 300, b"B" * 700, b"o" * 900]


def test_a_full_store_refuses_new_results_rather_than_evict_another_owners(
    make_store: Callable[..., ResultStore],
) -> None:
    store = make_store(max_entries=3, max_entries_per_owner=2)

    async def scenario() -> tuple[list[bool | str], list[bytes | str | None]]:
        stored = await save_all(store, {"a1": b"a1", "a2": b"a2"}, "a")
        stored += await save_all(store, {"b1": b"b1", "b2": b"b2"}, "b")
        stored += await save_all(store, {"a3": b"a3"}, "a")  # a's own a1 makes room
        found = await load_all(store, ["a1", "a2", "a3", "b1", "b2"])
        await store.close()
        return stored, found

    stored, found = run(scenario())
    assert stored == [True, True, True, "store_full", True]
    assert found == ["evicted", b"a2", b"a3", b"b1", None]


def test_open_store_puts_the_backend_behind_a_circuit_breaker(tmp_path: Path) -> None:
    store = open_store(Settings(sqlite_path=tmp_path / "a.sqlite3", breaker_failures=2, breaker_open_seconds=60))
    replace_by_a_directory(tmp_path / "a.sqlite3")

    async def scenario() -> list[str]:
        errors = []
        for _ in range(3):
            with pytest.raises(StoreError) as caught:
                await store.save("x", b"y", owner="")
            errors.append(str(caught.value))
        await store.close()
        return errors

    errors = run(scenario())
    assert "was deleted or replaced" in errors[0]
    assert "cannot open the SQLite result store" in errors[1] and "not tried again" not in errors[1]
    assert "not tried again for 60.0 s" in errors[2], "the open breaker answers without trying"
    assert store.breaker.state == "open" and store.failure is not None


def test_a_failed_write_is_only_cleared_by_a_write(tmp_path: Path) -> None:
    """A full disk still serves reads: the store stays "failing" (so /readyz stays degraded) until a write
    works, and its check then probes with a write of its own."""
    store = open_store(Settings(sqlite_path=tmp_path / "a.sqlite3", breaker_failures=100))

    async def scenario() -> list[str | None]:
        await store.save("before", b"kept", owner="")
        failures = []
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, hard))  # no file may grow: a full disk
        try:
            with pytest.raises(StoreError):
                await store.save("during", b"lost", owner="")
            failures.append(store.failure)
            with pytest.raises(StoreError):
                await store.check()
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        failures.append(store.failure)
        await store.load("before", owner=None)  # a read that works does not clear a write failure
        failures.append(store.failure)
        await store.check()  # probes with a write, which works again
        failures.append(store.failure)
        await store.close()
        return failures

    during, after_check, after_read, recovered = run(scenario())
    assert during is not None and after_check is not None and after_read is not None
    assert recovered is None


# The circuit breaker -------------------------------------------------------------------------------------------------


def test_the_breaker_opens_after_consecutive_failures_and_lets_one_probe_through_when_the_time_is_up() -> None:
    clock = Clock()
    breaker = CircuitBreaker(3, 5.0, clock=clock)
    for _ in range(2):
        assert breaker.allow()
        breaker.failed()
    assert breaker.allow()
    breaker.succeeded()  # a success in between starts the count again
    for _ in range(3):
        assert breaker.allow()
        breaker.failed()
    assert breaker.state == "open" and not breaker.allow()
    clock.now += 4.9
    assert not breaker.allow() and breaker.seconds_until_retry() == pytest.approx(0.1)
    clock.now += 0.1
    assert breaker.allow(), "one probe when the time is up"
    assert not breaker.allow(), "and only one, while it is out"
    breaker.abandoned()  # the probe's request was cancelled: another may try
    assert breaker.allow()
    breaker.failed()
    assert breaker.state == "open" and not breaker.allow(), "a failed probe opens the breaker again at once"
    clock.now += 5
    assert breaker.allow()
    breaker.succeeded()
    assert breaker.state == "closed" and breaker.allow() and breaker.allow()


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


def replace_by_a_directory(database: Path) -> None:
    """The database path becomes a directory: no process, root included, can write it as a database."""
    for leftover in database.parent.glob(database.name + "*"):
        leftover.unlink()
    database.mkdir()


def test_sqlite_notices_its_directory_deleted_and_recovers_once_it_is_back(tmp_path: Path) -> None:
    folder = tmp_path / "results"
    store = sqlite_store(folder / "results.sqlite3")
    store.save_blocking("before", b"kept")
    shutil.rmtree(folder)  # the open file lives on, unlinked: writes would succeed and vanish at restart
    with pytest.raises(StoreError, match="was deleted or replaced"):
        store.save_blocking("lost", b"would be lost")
    for operation in (lambda: store.save_blocking("lost", b"x"), lambda: store.load_blocking("before"), store.totals):
        with pytest.raises(StoreError, match="unable to open database file"):
            operation()  # the directory is not recreated behind the operator's back
    folder.mkdir()
    store.save_blocking("after", b"stored again")  # the next write reopens the file: recovered
    assert store.load_blocking("after") == b"stored again"
    assert store.load_blocking("before") is None and store.totals() == (1, len(b"stored again"))


def test_sqlite_notices_its_file_replaced_and_recovers_once_the_path_is_usable(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite3"
    store = sqlite_store(path)
    store.save_blocking("before", b"kept")
    replace_by_a_directory(path)
    with pytest.raises(StoreError, match="was deleted or replaced"):
        store.save_blocking("lost", b"x")
    with pytest.raises(StoreError, match="unable to open database file"):
        store.save_blocking("lost", b"x")
    path.rmdir()
    store.save_blocking("after", b"stored again")
    assert store.load_blocking("after") == b"stored again"


def test_sqlite_notices_a_full_disk_and_recovers_once_there_is_room(tmp_path: Path) -> None:
    """RLIMIT_FSIZE makes a write past the limit fail with EFBIG, for root too, as a full disk does."""
    path = tmp_path / "results.sqlite3"
    store = sqlite_store(path, max_bytes=10_000_000)
    store.save_blocking("small", b"s" * 100)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, hard))
    try:
        with pytest.raises(StoreError, match="cannot save"):
            store.save_blocking("big", secrets.token_bytes(1_000_000))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert store.load_blocking("big") is None
    store.save_blocking("big", b"b" * 1_000_000)
    assert store.load_blocking("big") == b"b" * 1_000_000 and store.load_blocking("small") == b"s" * 100


def test_sqlite_brings_a_file_of_the_previous_version_up_to_date(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite3"
    with sqlite3.connect(path) as old:  # the schema before owners, with one result in it
        old.executescript(
            "CREATE TABLE results (id TEXT PRIMARY KEY, created_at REAL NOT NULL, expires_at REAL NOT NULL, "
            "size INTEGER NOT NULL, body BLOB NOT NULL);"
            "CREATE TABLE totals (singleton INTEGER PRIMARY KEY CHECK (singleton = 0), entries INTEGER NOT NULL, "
            "bytes INTEGER NOT NULL);"
            "INSERT INTO totals VALUES (0, 1, 3);"
            f"INSERT INTO results VALUES ('old', {time.time()}, {time.time() + 100}, 3, X'6F6C64');"
        )
    old.close()
    store = sqlite_store(path, max_entries_per_owner=1)
    assert store.load_blocking("old") == b"old"
    store.save_blocking("new", b"new")  # the old result counts against the quota of the owner "" it now has
    with pytest.raises(EvictedError):
        store.load_blocking("old")
    assert store.totals() == (1, 3)


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
    index, sizes, total, owners = store.bookkeeping_keys
    client = redis.Redis.from_url(redis_url)
    assert client.zrange(index, 0, -1) == [b"second"]
    assert client.hgetall(sizes) == {b"second": b"3"}
    assert client.hgetall(owners) == {b"second": b""}
    assert client.get(total) == b"3"
    client.close()


def test_redis_tombstones_expire_when_the_evicted_result_would_have(redis_url: str) -> None:
    clock = Clock()
    store = redis_store(redis_url, clock, max_entries_per_owner=1)

    async def scenario() -> None:
        await store.save("first", b"1", owner="a")
        clock.now += 40  # "first" has 60 s left when "second" evicts it
        await store.save("second", b"2", owner="a")
        await store.close()

    run(scenario())
    client = redis.Redis.from_url(redis_url)
    assert client.get(store.tombstone_key("first")) == b"a"
    assert 59_000 < client.pttl(store.tombstone_key("first")) <= 60_000
    assert client.exists(store.document_key("first")) == 0
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
