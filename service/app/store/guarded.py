"""The store as the app holds it: a backend behind a circuit breaker, which knows whether the store is failing.

A failing store never fails a translation (the answer says `stored: false` and why) and never makes the
replica unready: /readyz answers 200 "degraded" with the reason, and `heed_degraded{reason="store_unavailable"}`
is 1, until an operation succeeds again. A failed write is only cleared by a write: a full disk still serves
reads, so while a write failure stands, the readiness check probes with a tiny write of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from service.app.metrics import Metrics
from service.app.store.base import EvictedError, NotStoredError, ResultStore, StoreError
from service.app.store.breaker import BreakerState, CircuitBreaker

T = TypeVar("T")
DEGRADED_REASON = "store_unavailable"


class GuardedStore:
    def __init__(self, backend: ResultStore, metrics: Metrics, *, failures: int, open_seconds: float) -> None:
        self.backend = backend.backend
        self.ttl_seconds = backend.ttl_seconds
        self.inner = backend
        self._metrics = metrics
        self.failure: str | None = None  # why the last operation failed, until one succeeds
        self._write_failed = False
        self.breaker = CircuitBreaker(failures, open_seconds, on_change=self._breaker_changed)
        metrics.circuit_open.labels(dependency="store").set(0)
        metrics.degraded.labels(reason=DEGRADED_REASON).set(0)

    def _breaker_changed(self, state: BreakerState) -> None:
        self._metrics.circuit_open.labels(dependency="store").set(1 if state == "open" else 0)

    async def _guarded(self, operation: Callable[[], Awaitable[T]], *, writes: bool = False) -> T:
        if not self.breaker.allow():
            retry = self.breaker.seconds_until_retry()
            raise StoreError(f"{self.failure or 'failing'} (not tried again for {retry:.1f} s)")
        try:
            result = await operation()
        except StoreError as error:
            self.breaker.failed()
            self._write_failed |= writes
            self._set_failure(str(error))
            raise
        except asyncio.CancelledError:
            self.breaker.abandoned()
            raise
        except (NotStoredError, EvictedError):
            self._answered(writes)  # the store works: it answered "not kept" or "evicted"
            raise
        self._answered(writes)
        return result

    def _answered(self, wrote: bool) -> None:
        self.breaker.succeeded()
        if wrote or not self._write_failed:
            self._write_failed = False
            self._set_failure(None)

    def _set_failure(self, failure: str | None) -> None:
        self.failure = failure
        self._metrics.degraded.labels(reason=DEGRADED_REASON).set(0 if failure is None else 1)

    async def save(self, result_id: str, document: bytes, *, owner: str) -> None:
        await self._guarded(lambda: self.inner.save(result_id, document, owner=owner), writes=True)

    async def load(self, result_id: str, *, owner: str | None) -> bytes | None:
        return await self._guarded(lambda: self.inner.load(result_id, owner=owner))

    async def check(self, *, write: bool = False) -> None:
        write = write or self._write_failed
        await self._guarded(lambda: self.inner.check(write=write), writes=write)

    async def close(self) -> None:
        await self.inner.close()
