"""Results in one SQLite file: embedded, survives restarts, shared by the workers of one host.

The database runs in WAL mode so readers never wait for the writer, and every write is one `BEGIN IMMEDIATE`
transaction, so several processes can share the file. Entry and byte totals, for the store and for each owner,
are kept by triggers, which makes the cap checks O(1) whatever the size of the store.

A write that fails (disk full, file read-only, a disk error) drops the connection, and the next operation opens
the file again, so the store recovers by itself once the path is writable again. Every operation first checks
that the path still names the file that is open: a database deleted (or replaced) under a running server
would otherwise take writes that nobody can ever read back. The parent directory is created at start-up
only: a directory deleted while serving is a failure to report, not something to paper over.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from service.app.store.base import EvictedError, NotStoredError, StoreError

_CREATE_RESULTS = """CREATE TABLE IF NOT EXISTS results (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    size INTEGER NOT NULL,
    body BLOB NOT NULL,
    owner TEXT NOT NULL DEFAULT ''
)"""
# One statement each (trigger bodies hold semicolons), run in order inside one transaction.
_SCHEMA = (
    "CREATE INDEX IF NOT EXISTS results_by_age ON results (created_at)",
    "CREATE INDEX IF NOT EXISTS results_by_expiry ON results (expires_at)",
    "CREATE INDEX IF NOT EXISTS results_by_owner ON results (owner, created_at)",
    """CREATE TABLE IF NOT EXISTS totals (
        singleton INTEGER PRIMARY KEY CHECK (singleton = 0),
        entries INTEGER NOT NULL,
        bytes INTEGER NOT NULL
    )""",
    "INSERT OR IGNORE INTO totals (singleton, entries, bytes) VALUES (0, 0, 0)",
    """CREATE TRIGGER IF NOT EXISTS results_added AFTER INSERT ON results BEGIN
        UPDATE totals SET entries = entries + 1, bytes = bytes + NEW.size WHERE singleton = 0;
    END""",
    """CREATE TRIGGER IF NOT EXISTS results_removed AFTER DELETE ON results BEGIN
        UPDATE totals SET entries = entries - 1, bytes = bytes - OLD.size WHERE singleton = 0;
    END""",
    "CREATE TABLE IF NOT EXISTS owners (owner TEXT PRIMARY KEY, entries INTEGER NOT NULL, bytes INTEGER NOT NULL)",
    """CREATE TRIGGER IF NOT EXISTS results_owner_added AFTER INSERT ON results BEGIN
        INSERT OR IGNORE INTO owners (owner, entries, bytes) VALUES (NEW.owner, 0, 0);
        UPDATE owners SET entries = entries + 1, bytes = bytes + NEW.size WHERE owner = NEW.owner;
    END""",
    """CREATE TRIGGER IF NOT EXISTS results_owner_removed AFTER DELETE ON results BEGIN
        UPDATE owners SET entries = entries - 1, bytes = bytes - OLD.size WHERE owner = OLD.owner;
        DELETE FROM owners WHERE owner = OLD.owner AND entries <= 0;
    END""",
    # Tombstones of evicted results, kept until the result would have expired, so a fetch answers "evicted".
    "CREATE TABLE IF NOT EXISTS evicted (id TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS evicted_by_expiry ON evicted (expires_at)",
)
_BUSY_TIMEOUT_SECONDS = 10.0


class SQLiteResultStore:
    backend = "sqlite"

    def __init__(
        self,
        path: str | Path,
        *,
        ttl_seconds: int,
        max_entries: int,
        max_bytes: int,
        max_entries_per_owner: int | None = None,
        max_bytes_per_owner: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.ttl_seconds = ttl_seconds
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._owner_entries = max_entries_per_owner or max_entries
        self._owner_bytes = min(max_bytes_per_owner or max_bytes, max_bytes)
        self._clock = clock
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._file_identity: tuple[int, int] | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreError(f"cannot open the SQLite result store at {self.path}: {error}") from error
        self._open()

    def _open(self) -> sqlite3.Connection:
        try:
            connection = sqlite3.connect(
                self.path, timeout=_BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as error:
            raise StoreError(f"cannot open the SQLite result store at {self.path}: {error}") from error
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            with _Transaction(connection):
                _create_schema(connection)
            stat = os.stat(self.path)
        except (sqlite3.Error, OSError) as error:
            connection.close()
            raise StoreError(f"cannot open the SQLite result store at {self.path}: {error}") from error
        self._connection, self._file_identity = connection, (stat.st_dev, stat.st_ino)
        return connection

    def _usable_connection(self) -> sqlite3.Connection:
        """The open connection, reopened after a failure; StoreError when the path no longer names its file."""
        connection = self._connection or self._open()
        try:
            stat = os.stat(self.path)
            moved = (stat.st_dev, stat.st_ino) != self._file_identity
        except OSError:
            moved = True
        if moved:
            self._drop_connection()
            raise StoreError(f"SQLite store: the database file {self.path} was deleted or replaced")
        return connection

    def _drop_connection(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(sqlite3.Error):  # closing one whose file is gone can fail; dropped all the same
                self._connection.close()
        self._connection = None

    async def save(self, result_id: str, document: bytes, *, owner: str = "") -> None:
        await asyncio.to_thread(self.save_blocking, result_id, document, owner)

    async def load(self, result_id: str, *, owner: str | None = None) -> bytes | None:
        return await asyncio.to_thread(self.load_blocking, result_id, owner)

    async def check(self, *, write: bool = False) -> None:
        await asyncio.to_thread(self.check_blocking, write)

    async def close(self) -> None:
        with self._lock:
            self._drop_connection()

    def save_blocking(self, result_id: str, document: bytes, owner: str = "") -> None:
        size = len(document)
        if size > self._owner_bytes:
            raise NotStoredError("too_large", f"the result takes {size} bytes; at most {self._owner_bytes} are "
                                 "stored per caller")  # fmt: skip
        now = self._clock()
        with self._lock:
            connection = self._usable_connection()
            try:
                with _Transaction(connection):
                    connection.execute("DELETE FROM results WHERE expires_at <= ?", (now,))
                    connection.execute("DELETE FROM evicted WHERE expires_at <= ?", (now,))
                    self._evict_owners_oldest(connection, owner, size)
                    self._check_store_cap(connection, size)
                    connection.execute(
                        "INSERT INTO results (id, owner, created_at, expires_at, size, body) VALUES (?, ?, ?, ?, ?, ?)",
                        (result_id, owner, now, now + self.ttl_seconds, size, document),
                    )
            except sqlite3.Error as error:
                self._drop_connection()
                raise StoreError(f"SQLite store: cannot save: {error}") from error

    def _evict_owners_oldest(self, connection: sqlite3.Connection, owner: str, size: int) -> None:
        """Makes room for one more document of `size` bytes within the owner's quota, oldest results first."""
        row = connection.execute("SELECT entries, bytes FROM owners WHERE owner = ?", (owner,)).fetchone()
        entries, used = row if row is not None else (0, 0)
        excess_entries, excess_bytes = entries + 1 - self._owner_entries, used + size - self._owner_bytes
        if excess_entries <= 0 and excess_bytes <= 0:
            return
        victims: list[tuple[str, str, float]] = []
        oldest = connection.execute(
            "SELECT id, size, expires_at FROM results WHERE owner = ? ORDER BY created_at", (owner,)
        )
        for victim, victim_size, expires_at in oldest:
            victims.append((victim, owner, expires_at))
            excess_entries, excess_bytes = excess_entries - 1, excess_bytes - victim_size
            if excess_entries <= 0 and excess_bytes <= 0:
                break
        oldest.close()
        connection.executemany("INSERT OR REPLACE INTO evicted (id, owner, expires_at) VALUES (?, ?, ?)", victims)
        connection.executemany("DELETE FROM results WHERE id = ?", [(victim,) for victim, _, _ in victims])

    def _check_store_cap(self, connection: sqlite3.Connection, size: int) -> None:
        entries, used = connection.execute("SELECT entries, bytes FROM totals WHERE singleton = 0").fetchone()
        if entries + 1 > self._max_entries or used + size > self._max_bytes:
            raise NotStoredError("store_full", "the result store is full; results are stored again as older ones "
                                 "expire")  # fmt: skip

    def load_blocking(self, result_id: str, owner: str | None = None) -> bytes | None:
        now = self._clock()
        with self._lock:
            connection = self._usable_connection()
            try:
                row = connection.execute(
                    "SELECT body, owner FROM results WHERE id = ? AND expires_at > ?", (result_id, now)
                ).fetchone()
                tombstone = None if row is not None else connection.execute(
                    "SELECT owner FROM evicted WHERE id = ? AND expires_at > ?", (result_id, now)
                ).fetchone()  # fmt: skip
            except sqlite3.Error as error:
                self._drop_connection()
                raise StoreError(f"SQLite store: cannot load: {error}") from error
        if row is not None:
            return bytes(row[0]) if owner is None or row[1] == owner else None
        if tombstone is not None and (owner is None or tombstone[0] == owner):
            raise EvictedError(result_id)
        return None

    def check_blocking(self, write: bool = False) -> None:
        with self._lock:
            connection = self._usable_connection()
            try:
                connection.execute("SELECT 1 FROM totals").fetchone()
                if write:  # a row written and deleted in one committed transaction: it reaches the WAL
                    with _Transaction(connection):
                        connection.execute("INSERT OR REPLACE INTO evicted (id, owner, expires_at) VALUES ('', '', 0)")
                        connection.execute("DELETE FROM evicted WHERE id = ''")
            except sqlite3.Error as error:
                self._drop_connection()
                raise StoreError(f"SQLite store unavailable: {error}") from error

    def totals(self) -> tuple[int, int]:
        """(entries, bytes) currently held, expired ones included until the next save purges them."""
        with self._lock:
            row = self._usable_connection().execute("SELECT entries, bytes FROM totals WHERE singleton = 0").fetchone()
        return int(row[0]), int(row[1])


def _create_schema(connection: sqlite3.Connection) -> None:
    """Creates the tables, or brings a file made by an earlier version (no owners) up to date."""
    connection.execute(_CREATE_RESULTS)
    columns = {row[1] for row in connection.execute("PRAGMA table_info(results)")}
    migrating = "owner" not in columns
    if migrating:
        connection.execute("ALTER TABLE results ADD COLUMN owner TEXT NOT NULL DEFAULT ''")
    for statement in _SCHEMA:
        connection.execute(statement)
    if migrating:
        connection.execute(
            "INSERT OR REPLACE INTO owners (owner, entries, bytes) "
            "SELECT owner, COUNT(*), SUM(size) FROM results GROUP BY owner"
        )


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on error: takes the write lock up front, so no deadlock upgrades."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def __enter__(self) -> None:
        self._connection.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        self._connection.execute("COMMIT" if kind is None else "ROLLBACK")
