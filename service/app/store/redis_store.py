"""Results in Redis, shared by every replica.

Each document is one key with an EXPIRE of the TTL. A sorted set indexes the ids by expiry time, a hash holds
each document's size and a counter the total bytes, so the caps can be enforced. One Lua script does the save,
the purge of expired ids and the eviction of the oldest results atomically, so concurrent replicas never
overshoot the cap. (Document keys are named inside the script: a single Redis server or a primary, not Cluster.)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from service.app.store.base import StoreError

_SAVE_SCRIPT = """
local index, sizes, total = KEYS[1], KEYS[2], KEYS[3]
local prefix, id, body = ARGV[1], ARGV[2], ARGV[3]
local ttl, now = tonumber(ARGV[4]), tonumber(ARGV[5])
local max_entries, max_bytes = tonumber(ARGV[6]), tonumber(ARGV[7])

local function forget(member)
    local size = tonumber(redis.call('HGET', sizes, member) or '0')
    redis.call('HDEL', sizes, member)
    redis.call('ZREM', index, member)
    redis.call('DECRBY', total, size)
end

for _, member in ipairs(redis.call('ZRANGEBYSCORE', index, '-inf', now, 'LIMIT', 0, 1000)) do
    forget(member)
end
redis.call('SET', prefix .. id, body, 'EX', ttl)
redis.call('ZADD', index, now + ttl, id)
redis.call('HSET', sizes, id, #body)
redis.call('INCRBY', total, #body)
local evicted = 0
while redis.call('ZCARD', index) > max_entries or tonumber(redis.call('GET', total) or '0') > max_bytes do
    local oldest = redis.call('ZRANGE', index, 0, 0)[1]
    if not oldest then break end
    redis.call('DEL', prefix .. oldest)
    forget(oldest)
    evicted = evicted + 1
end
return evicted
"""
_TIMEOUT_SECONDS = 5.0


class RedisResultStore:
    backend = "redis"

    def __init__(
        self,
        url: str,
        *,
        ttl_seconds: int,
        max_entries: int,
        max_bytes: int,
        prefix: str = "heed:",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._prefix = prefix
        self._clock = clock
        try:
            self._client: Any = aioredis.Redis.from_url(
                url, socket_timeout=_TIMEOUT_SECONDS, socket_connect_timeout=_TIMEOUT_SECONDS
            )
        except ValueError as error:
            raise StoreError(f"invalid HEED_REDIS_URL: {error}") from error
        self._save_script = self._client.register_script(_SAVE_SCRIPT)

    def document_key(self, result_id: str) -> str:
        return f"{self._prefix}result:{result_id}"

    @property
    def bookkeeping_keys(self) -> list[str]:
        """The index (sorted set), the sizes (hash) and the byte total (counter)."""
        return [f"{self._prefix}results:index", f"{self._prefix}results:sizes", f"{self._prefix}results:bytes"]

    async def save(self, result_id: str, document: bytes) -> bool:
        if len(document) > self._max_bytes:
            return False
        arguments: list[bytes | str | int | float] = [
            self.document_key(""), result_id, document, self.ttl_seconds, repr(self._clock()),
            self._max_entries, self._max_bytes,
        ]  # fmt: skip
        try:
            await self._save_script(keys=self.bookkeeping_keys, args=arguments)
        except RedisError as error:
            raise StoreError(f"Redis store: cannot save: {error}") from error
        return True

    async def load(self, result_id: str) -> bytes | None:
        try:
            document = await self._client.get(self.document_key(result_id))
        except RedisError as error:
            raise StoreError(f"Redis store: cannot load: {error}") from error
        return None if document is None else bytes(document)

    async def check(self) -> None:
        try:
            await self._client.ping()
        except RedisError as error:
            raise StoreError(f"Redis store unavailable: {error}") from error

    async def close(self) -> None:
        await self._client.aclose()
