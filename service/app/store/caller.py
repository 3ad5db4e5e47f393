"""What one request sees of the store: it saves under its caller, and with API keys on, loads only what its
own key saved (another key's result answers 404, exactly like an unknown id).

The caller is the one the access middleware identified: `key:<digest>` with API keys on, else
`address:<client>`. Quotas are per caller either way, so one caller's results never evict another's; only
with keys on is reading restricted, since without keys an address proves nothing.
"""

from __future__ import annotations

import logging

from service.app.errors import ApiError
from service.app.metrics import Metrics
from service.app.store.base import EvictedError, NotStoredError, ResultStore, StoreError, short_id

logger = logging.getLogger("heed.store")

CALLER_SCOPE_KEY = "heed.caller"
KEY_CALLER_PREFIX = "key:"


class ResultEvictedError(ApiError):
    status_code = 410
    code = "evicted"


class AttentionNotStoredError(ApiError):
    status_code = 409
    code = "attention_not_stored"

    def __init__(self) -> None:
        super().__init__(
            "this result was stored without its attention matrices (it was asked for with attention: false); "
            "translate again with attention: true to fetch attention or alignment views later"
        )


class CallerStore:
    def __init__(self, store: ResultStore, metrics: Metrics, caller: str) -> None:
        self._store = store
        self._metrics = metrics
        self.caller = caller
        self.ttl_seconds = store.ttl_seconds
        self.unstored_reason: str | None = None  # why the last save did not store its result

    async def save(self, result_id: str, document: bytes) -> bool:
        """Whether the result was stored; when not, `unstored_reason` says why (never raises)."""
        try:
            await self._store.save(result_id, document, owner=self.caller)
        except NotStoredError as refusal:
            self.unstored_reason = refusal.reason
        except StoreError as error:
            self._metrics.store_errors.labels(operation="save").inc()
            logger.warning("result not stored", extra={"fields": {"result_id": short_id(result_id),
                                                                  "error": str(error)}})  # fmt: skip
            self.unstored_reason = "store_unavailable"
        else:
            return True
        self._metrics.results_not_stored.labels(reason=self.unstored_reason).inc()
        return False

    async def load(self, result_id: str) -> bytes | None:
        """The caller's document, or None; 410 for one evicted by its owner's quota. Raises StoreError."""
        owner = self.caller if self.caller.startswith(KEY_CALLER_PREFIX) else None
        try:
            return await self._store.load(result_id, owner=owner)
        except EvictedError:
            raise ResultEvictedError(
                "this result was evicted to make room for newer results of the same caller (its quota of stored "
                "results is full); translate again to get it"
            ) from None
