"""Results in one SQLite file: embedded, survives restarts, shared by the workers of one host.

The database runs in WAL mode so readers never wait for the writer, and every write is one `BEGIN IMMEDIATE`
transaction, so several processes can share the file. Entry and byte totals are kept by triggers in a one-row
table, which makes the cap check O(1) whatever the size of the store.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from service.app.store.base import StoreError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    size INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS results_by_age ON results (created_at);
CREATE INDEX IF NOT EXISTS results_by_expiry ON results (expires_at);
CREATE TABLE IF NOT EXISTS totals (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 0),
    entries INTEGER NOT NULL,
    bytes INTEGER NOT NULL
);
INSERT OR IGNORE INTO totals (singleton, entries, bytes) VALUES (0, 0, 0);
CREATE TRIGGER IF NOT EXISTS results_added AFTER INSERT ON results BEGIN
    UPDATE totals SET entries = entries + 1, bytes = bytes + NEW.size WHERE singleton = 0;
END;
CREATE TRIGGER IF NOT EXISTS results_removed AFTER DELETE ON results BEGIN
    UPDATE totals SET entries = entries - 1, bytes = bytes - OLD.size WHERE singleton = 0;
END;
"""
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
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.ttl_seconds = ttl_seconds
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._clock = clock
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._connection = sqlite3.connect(
                self.path, timeout=_BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
            )
            self._connection.execute("PRAGMA journal_mode=WAL")
            self._connection.execute("PRAGMA synchronous=NORMAL")
            self._connection.executescript(f"BEGIN IMMEDIATE;{_SCHEMA}COMMIT;")
        except (sqlite3.Error, OSError) as error:
            raise StoreError(f"cannot open the SQLite result store at {self.path}: {error}") from error

    def _transaction(self) -> _Transaction:
        return _Transaction(self._connection)

    async def save(self, result_id: str, document: bytes) -> bool:
        return await asyncio.to_thread(self.save_blocking, result_id, document)

    async def load(self, result_id: str) -> bytes | None:
        return await asyncio.to_thread(self.load_blocking, result_id)

    async def check(self) -> None:
        await asyncio.to_thread(self._check_blocking)

    async def close(self) -> None:
        with self._lock:
            self._connection.close()

    def save_blocking(self, result_id: str, document: bytes) -> bool:
        if len(document) > self._max_bytes:
            return False
        now = self._clock()
        try:
            with self._lock, self._transaction():
                connection = self._connection
                connection.execute("DELETE FROM results WHERE expires_at <= ?", (now,))
                connection.execute(
                    "INSERT INTO results (id, created_at, expires_at, size, body) VALUES (?, ?, ?, ?, ?)",
                    (result_id, now, now + self.ttl_seconds, len(document), document),
                )
                self._evict_over_cap()
        except sqlite3.Error as error:
            raise StoreError(f"SQLite store: cannot save: {error}") from error
        return True

    def _evict_over_cap(self) -> None:
        """Deletes the oldest results until both caps hold again (usually one round of one row)."""
        while True:
            entries, size = self._connection.execute("SELECT entries, bytes FROM totals WHERE singleton = 0").fetchone()
            if entries <= self._max_entries and size <= self._max_bytes:
                return
            oldest = max(entries - self._max_entries, 1)
            self._connection.execute(
                "DELETE FROM results WHERE id IN (SELECT id FROM results ORDER BY created_at LIMIT ?)", (oldest,)
            )

    def load_blocking(self, result_id: str) -> bytes | None:
        try:
            with self._lock:
                row = self._connection.execute(
                    "SELECT body FROM results WHERE id = ? AND expires_at > ?", (result_id, self._clock())
                ).fetchone()
        except sqlite3.Error as error:
            raise StoreError(f"SQLite store: cannot load: {error}") from error
        return None if row is None else bytes(row[0])

    def _check_blocking(self) -> None:
        try:
            with self._lock:
                self._connection.execute("SELECT 1 FROM totals").fetchone()
        except sqlite3.Error as error:
            raise StoreError(f"SQLite store unavailable: {error}") from error

    def totals(self) -> tuple[int, int]:
        """(entries, bytes) currently held, expired ones included until the next save purges them."""
        with self._lock:
            entries, size = self._connection.execute("SELECT entries, bytes FROM totals WHERE singleton = 0").fetchone()
        return int(entries), int(size)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on error: takes the write lock up front, so no deadlock upgrades."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def __enter__(self) -> None:
        self._connection.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        self._connection.execute("COMMIT" if kind is None else "ROLLBACK")
