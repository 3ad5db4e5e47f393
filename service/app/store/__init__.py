"""Where results are kept so that clients can fetch them again by id: SQLite (default) or Redis."""

from __future__ import annotations

from service.app.settings import Settings
from service.app.store.base import ResultStore, StoreError
from service.app.store.redis_store import RedisResultStore
from service.app.store.sqlite_store import SQLiteResultStore

__all__ = ["RedisResultStore", "ResultStore", "SQLiteResultStore", "StoreError", "open_store"]


def open_store(settings: Settings) -> ResultStore:
    """Redis when `redis_url` is set, otherwise the SQLite file at `sqlite_path`. Raises StoreError."""
    ttl, entries, size = settings.store_ttl_seconds, settings.store_max_entries, settings.store_max_bytes
    if settings.redis_url:
        return RedisResultStore(
            settings.redis_url, ttl_seconds=ttl, max_entries=entries, max_bytes=size, prefix=settings.redis_prefix
        )
    return SQLiteResultStore(settings.sqlite_path, ttl_seconds=ttl, max_entries=entries, max_bytes=size)
