"""Where results are kept so that clients can fetch them again by id: SQLite (default) or Redis."""

from __future__ import annotations

from service.app.metrics import Metrics
from service.app.settings import Settings
from service.app.store.base import EvictedError, NotStoredError, ResultStore, StoreError, short_id
from service.app.store.caller import CALLER_SCOPE_KEY, AttentionNotStoredError, CallerStore, ResultEvictedError
from service.app.store.guarded import GuardedStore
from service.app.store.redis_store import RedisResultStore
from service.app.store.sqlite_store import SQLiteResultStore

__all__ = [
    "CALLER_SCOPE_KEY", "AttentionNotStoredError", "CallerStore", "EvictedError", "GuardedStore", "NotStoredError",
    "RedisResultStore", "ResultEvictedError", "ResultStore", "SQLiteResultStore", "StoreError", "open_backend",
    "open_store", "short_id",
]  # fmt: skip


def open_backend(settings: Settings) -> ResultStore:
    """Redis when `redis_url` is set, otherwise the SQLite file at `sqlite_path`. Raises StoreError."""
    ttl, entries, size = settings.store_ttl_seconds, settings.store_max_entries, settings.store_max_bytes
    per_owner_entries, per_owner_size = settings.store_max_entries_per_caller, settings.store_max_bytes_per_caller
    if settings.redis_url:
        return RedisResultStore(
            settings.redis_url, ttl_seconds=ttl, max_entries=entries, max_bytes=size,
            max_entries_per_owner=per_owner_entries, max_bytes_per_owner=per_owner_size, prefix=settings.redis_prefix,
            timeout_seconds=settings.redis_timeout_seconds,
        )  # fmt: skip
    return SQLiteResultStore(
        settings.sqlite_path, ttl_seconds=ttl, max_entries=entries, max_bytes=size,
        max_entries_per_owner=per_owner_entries, max_bytes_per_owner=per_owner_size,
    )  # fmt: skip


def open_store(settings: Settings, metrics: Metrics | None = None) -> GuardedStore:
    """The backend behind its circuit breaker. Raises StoreError."""
    return GuardedStore(
        open_backend(settings), metrics or Metrics(), failures=settings.breaker_failures,
        open_seconds=settings.breaker_open_seconds,
    )  # fmt: skip
