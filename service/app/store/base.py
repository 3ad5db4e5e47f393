"""The one small interface every result store implements."""

from __future__ import annotations

from typing import Protocol


class StoreError(Exception):
    """The store could not be reached or refused the operation; str(error) says why."""


class NotStoredError(Exception):
    """The store works but did not keep this result; `reason` is a stable code, str(error) says why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class EvictedError(Exception):
    """The result was evicted to make room for its owner's newer ones before it expired."""


class ResultStore(Protocol):
    """Keeps result documents (opaque bytes) under their id for `ttl_seconds`, each with its owner (the caller
    that made it: an API key's identity, or a client address).

    Each owner has a quota of entries and bytes: past it, that owner's oldest results are evicted, never
    another's, and a tombstone remembers each evicted id until the result would have expired. The store as a
    whole has a cap too: a result that would pass it is not stored (NotStoredError "store_full") until older
    results expire. A document larger than its owner's byte quota is not stored either ("too_large").
    """

    backend: str
    ttl_seconds: int

    async def save(self, result_id: str, document: bytes, *, owner: str) -> None:
        """Stores the document. Raises NotStoredError when it is not kept, StoreError when the store fails."""
        ...

    async def load(self, result_id: str, *, owner: str | None) -> bytes | None:
        """The document, or None when the id is unknown, expired, or (with `owner` given) someone else's.
        Raises EvictedError for an evicted result, StoreError when the store fails."""
        ...

    async def check(self, *, write: bool = False) -> None:
        """Raises StoreError when the store cannot serve: cannot be reached or read, or with `write`, cannot
        take a (tiny, temporary) write, which is how a store whose writes failed is known to have recovered."""
        ...

    async def close(self) -> None: ...


def short_id(result_id: str) -> str:
    """The first 8 characters: enough to correlate log lines, too few to fetch the result."""
    return result_id[:8] + "…" if len(result_id) > 8 else result_id
