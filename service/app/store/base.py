"""The one small interface every result store implements."""

from __future__ import annotations

from typing import Protocol


class StoreError(Exception):
    """The store could not be reached or refused the operation; str(error) says why."""


class ResultStore(Protocol):
    """Keeps result documents (opaque bytes) under their id for `ttl_seconds`, within an entry and byte cap.

    When the cap is reached the oldest results are evicted first. A document larger than the byte cap on its
    own is not stored (`save` returns False).
    """

    backend: str
    ttl_seconds: int

    async def save(self, result_id: str, document: bytes) -> bool:
        """Stores the document; True when stored. Raises StoreError when the store fails."""
        ...

    async def load(self, result_id: str) -> bytes | None:
        """The document, or None when the id is unknown or expired. Raises StoreError when the store fails."""
        ...

    async def check(self) -> None:
        """Raises StoreError when the store cannot serve."""
        ...

    async def close(self) -> None: ...
