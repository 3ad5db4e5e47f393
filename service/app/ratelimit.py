"""Rate limits: a token bucket per caller (an API key, or a client address when keys are off).

A bucket holds up to `per_minute` tokens and refills at `per_minute` tokens a minute; each request takes one.
A caller can therefore burst up to a minute's allowance and then goes at the steady rate. A request finding
the bucket empty is refused, and told in how many seconds a token will be there. A request may take more than
one token (`cost`): the work limiter (`create_work_limiter`) charges each translation its estimated
work units (service/app/cost.py), in buckets of its own.

`LocalRateLimiter` keeps the buckets in this process: with N replicas (or N workers) a caller gets N times
the limit. With `HEED_REDIS_URL` set, `RedisRateLimiter` keeps them in Redis, shared by every replica; when
Redis cannot be reached it falls back to the local buckets rather than refusing or waving through everyone.
Redis is given `redis_timeout_seconds` (LAN-sized, no retries), and after `breaker_failures` failures in a row a
circuit breaker sends every check to the local buckets for `breaker_open_seconds` without trying Redis, so a
hung Redis costs a request nothing once the breaker is open.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from redis.exceptions import RedisError

from service.app.metrics import Metrics
from service.app.settings import Settings
from service.app.store.breaker import BreakerState, CircuitBreaker
from service.app.store.redis_store import redis_client

logger = logging.getLogger("heed.ratelimit")

SECONDS_PER_MINUTE = 60.0


class RateLimiter(Protocol):
    per_minute: int

    async def acquire(self, caller: str, cost: float = 1.0) -> float | None:
        """Takes `cost` tokens for `caller` (at most the bucket's capacity): None when allowed, else the seconds
        until they are available."""
        ...

    async def close(self) -> None: ...


def retry_after_header(seconds: float) -> str:
    """Whole seconds, at least 1, never less than the wait."""
    return str(max(1, math.ceil(seconds)))


@dataclass
class _Bucket:
    tokens: float
    updated: float


class LocalRateLimiter:
    """Token buckets in this process, least recently used first; a bucket that refilled holds no information
    and is forgotten, and at most `max_callers` are kept, so memory stays bounded under any flood."""

    def __init__(
        self, per_minute: int, *, clock: Callable[[], float] = time.monotonic, max_callers: int = 100_000
    ) -> None:
        self.per_minute = per_minute
        self._capacity = float(per_minute)
        self._refill_per_second = per_minute / SECONDS_PER_MINUTE
        self._clock = clock
        self._max_callers = max_callers
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    async def acquire(self, caller: str, cost: float = 1.0) -> float | None:
        return self.take(caller, cost)

    def take(self, caller: str, cost: float = 1.0) -> float | None:
        cost = min(cost, self._capacity)  # a full bucket always admits one
        now = self._clock()
        bucket = self._buckets.pop(caller, None)
        tokens = self._capacity if bucket is None else self._refilled(bucket, now)
        wait: float | None = None
        if tokens >= cost:
            tokens -= cost
        else:
            wait = (cost - tokens) / self._refill_per_second
        self._buckets[caller] = _Bucket(tokens, now)
        self._forget_idle(now)
        return wait

    def _refilled(self, bucket: _Bucket, now: float) -> float:
        return min(self._capacity, bucket.tokens + max(0.0, now - bucket.updated) * self._refill_per_second)

    def _forget_idle(self, now: float) -> None:
        while self._buckets:
            caller, bucket = next(iter(self._buckets.items()))
            if len(self._buckets) <= self._max_callers and self._refilled(bucket, now) < self._capacity:
                return
            del self._buckets[caller]

    async def close(self) -> None:
        self._buckets.clear()


# KEYS[1]: the bucket (a hash of tokens and update time). ARGV: capacity, refill per second, cost.
# Redis's own clock, so replicas with skewed clocks still share one bucket correctly.
_TAKE_SCRIPT = """
local capacity, rate, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens = tonumber(state[1]) or capacity
local updated = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - updated) * rate)
local wait = 0
if tokens >= cost then tokens = tokens - cost else wait = (cost - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'updated', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate) + 1)
return tostring(wait)
"""


class RedisRateLimiter:
    """Token buckets in Redis (one small hash per caller, expiring once refilled), shared by every replica."""

    def __init__(
        self, per_minute: int, url: str, *, prefix: str, metrics: Metrics, timeout_seconds: float = 0.05,
        breaker_failures: int = 3, breaker_open_seconds: float = 5.0, kind: str = "ratelimit",
        dependency: str = "rate_limiter",
    ) -> None:  # fmt: skip
        self.per_minute = per_minute
        self._prefix = f"{prefix}{kind}:"
        self._dependency = dependency
        self._metrics = metrics
        self._fallback = LocalRateLimiter(per_minute)
        self._client: Any = redis_client(url, timeout_seconds)
        self._take = self._client.register_script(_TAKE_SCRIPT)
        self._redis_failing = False
        self.breaker = CircuitBreaker(breaker_failures, breaker_open_seconds, on_change=self._breaker_changed)
        metrics.circuit_open.labels(dependency=dependency).set(0)

    def _breaker_changed(self, state: BreakerState) -> None:
        self._metrics.circuit_open.labels(dependency=self._dependency).set(1 if state == "open" else 0)

    def bucket_key(self, caller: str) -> str:
        return self._prefix + caller

    async def acquire(self, caller: str, cost: float = 1.0) -> float | None:
        cost = min(cost, float(self.per_minute))
        if not self.breaker.allow():
            return self._fallback.take(caller, cost)
        arguments: list[int | str] = [self.per_minute, repr(self.per_minute / SECONDS_PER_MINUTE), repr(cost)]
        try:
            wait = float(await self._take(keys=[self.bucket_key(caller)], args=arguments))
        except (RedisError, OSError, ValueError) as error:
            self.breaker.failed()
            self._metrics.rate_limiter_errors.inc()
            if not self._redis_failing:
                self._redis_failing = True
                logger.warning("rate limits fall back to this process: Redis failed",
                               extra={"fields": {"error": str(error)}})  # fmt: skip
            return self._fallback.take(caller, cost)
        except asyncio.CancelledError:
            self.breaker.abandoned()
            raise
        self.breaker.succeeded()
        if self._redis_failing:
            self._redis_failing = False
            logger.info("rate limits are shared through Redis again")
        return wait if wait > 0 else None

    async def close(self) -> None:
        await self._client.aclose()


def create_rate_limiter(settings: Settings, metrics: Metrics) -> RateLimiter | None:
    if settings.rate_limit is None:
        return None
    if settings.redis_url:
        return RedisRateLimiter(
            settings.rate_limit, settings.redis_url, prefix=settings.redis_prefix, metrics=metrics,
            timeout_seconds=settings.redis_timeout_seconds, breaker_failures=settings.breaker_failures,
            breaker_open_seconds=settings.breaker_open_seconds,
        )  # fmt: skip
    return LocalRateLimiter(settings.rate_limit)


def create_work_limiter(settings: Settings, metrics: Metrics) -> RateLimiter | None:
    """Buckets of work units per minute (`rate_limit_work`), shared through Redis when it is configured."""
    if settings.rate_limit_work is None:
        return None
    if settings.redis_url:
        return RedisRateLimiter(
            settings.rate_limit_work, settings.redis_url, prefix=settings.redis_prefix, metrics=metrics,
            timeout_seconds=settings.redis_timeout_seconds, breaker_failures=settings.breaker_failures,
            breaker_open_seconds=settings.breaker_open_seconds, kind="worklimit", dependency="work_limiter",
        )  # fmt: skip
    return LocalRateLimiter(settings.rate_limit_work)
