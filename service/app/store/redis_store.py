"""Results in Redis, shared by every replica.

Each document is one key with an EXPIRE of the TTL. A sorted set indexes the ids by expiry time, hashes hold
each document's size and owner, and counters the total bytes, for the store and for each owner, so the caps
and quotas can be enforced. One Lua script does the save, the purge of expired ids, the eviction of the
owner's oldest results (leaving a tombstone key that expires when the result would have) and the store-wide
cap check atomically, so concurrent replicas never overshoot. (Keys are named inside the scripts: a single
Redis server or a primary, not Cluster.)

Timeouts are sized for a LAN (`redis_timeout_seconds`) and nothing is retried: a hung Redis costs a request
one timeout, and the circuit breaker in front of the store stops even that after a few failures.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from service.app.store.base import EvictedError, NotStoredError, StoreError

_SAVE_SCRIPT = """
local index, sizes, total, owners = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local documents, prefix, id, body = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local ttl, now = tonumber(ARGV[5]), tonumber(ARGV[6])
local max_entries, max_bytes = tonumber(ARGV[7]), tonumber(ARGV[8])
local owner, owner_entries, owner_bytes = ARGV[9], tonumber(ARGV[10]), tonumber(ARGV[11])
local size = #body

local function owner_index(who) return prefix .. 'owner:' .. who .. ':index' end
local function owner_total(who) return prefix .. 'owner:' .. who .. ':bytes' end
local function number(key) return tonumber(redis.call('GET', key) or '0') end

local function forget(member)
    local member_size = tonumber(redis.call('HGET', sizes, member) or '0')
    local who = redis.call('HGET', owners, member)
    redis.call('HDEL', sizes, member)
    redis.call('ZREM', index, member)
    redis.call('DECRBY', total, member_size)
    if who then
        redis.call('HDEL', owners, member)
        redis.call('ZREM', owner_index(who), member)
        if redis.call('DECRBY', owner_total(who), member_size) <= 0 then redis.call('DEL', owner_total(who)) end
    end
end

for _, member in ipairs(redis.call('ZRANGEBYSCORE', index, '-inf', now, 'LIMIT', 0, 1000)) do
    forget(member)
end

-- The owner's oldest results that must go to make room within the owner's quota.
local mine = owner_index(owner)
local excess_entries = redis.call('ZCARD', mine) + 1 - owner_entries
local excess_bytes = number(owner_total(owner)) + size - owner_bytes
local victims, freed_bytes, start = {}, 0, 0
while excess_entries > 0 or excess_bytes > 0 do
    local oldest = redis.call('ZRANGE', mine, start, start, 'WITHSCORES')
    if not oldest[1] then break end
    local victim_size = tonumber(redis.call('HGET', sizes, oldest[1]) or '0')
    table.insert(victims, {oldest[1], tonumber(oldest[2])})
    freed_bytes = freed_bytes + victim_size
    excess_entries, excess_bytes, start = excess_entries - 1, excess_bytes - victim_size, start + 1
end
local entries_after = redis.call('ZCARD', index) - #victims + 1
if entries_after > max_entries or number(total) - freed_bytes + size > max_bytes then
    return -1
end
for _, victim in ipairs(victims) do
    local remaining = math.ceil((victim[2] - now) * 1000)
    redis.call('DEL', documents .. victim[1])
    if remaining > 0 then redis.call('SET', prefix .. 'evicted:' .. victim[1], owner, 'PX', remaining) end
    forget(victim[1])
end
redis.call('SET', documents .. id, body, 'EX', ttl)
redis.call('ZADD', index, now + ttl, id)
redis.call('HSET', sizes, id, size)
redis.call('HSET', owners, id, owner)
redis.call('INCRBY', total, size)
redis.call('ZADD', mine, now + ttl, id)
redis.call('INCRBY', owner_total(owner), size)
return #victims
"""
# {found: 1 document, 2 evicted, 0 neither; the document; its owner}
_LOAD_SCRIPT = """
local body = redis.call('GET', ARGV[1])
if body then return {1, body, redis.call('HGET', KEYS[1], ARGV[3]) or ''} end
local tombstone = redis.call('GET', ARGV[2])
if tombstone then return {2, '', tombstone} end
return {0, '', ''}
"""


def redis_client(url: str, timeout_seconds: float) -> Any:
    """An asyncio client that waits at most `timeout_seconds` to connect, send or read, and never retries."""
    return aioredis.Redis.from_url(
        url, socket_timeout=timeout_seconds, socket_connect_timeout=timeout_seconds, retry=Retry(NoBackoff(), 0)
    )


class RedisResultStore:
    backend = "redis"

    def __init__(
        self,
        url: str,
        *,
        ttl_seconds: int,
        max_entries: int,
        max_bytes: int,
        max_entries_per_owner: int | None = None,
        max_bytes_per_owner: int | None = None,
        prefix: str = "heed:",
        timeout_seconds: float = 0.05,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._owner_entries = max_entries_per_owner or max_entries
        self._owner_bytes = min(max_bytes_per_owner or max_bytes, max_bytes)
        self._prefix = prefix
        self._clock = clock
        try:
            self._client: Any = redis_client(url, timeout_seconds)
        except ValueError as error:
            raise StoreError(f"invalid HEED_REDIS_URL: {error}") from error
        self._save_script = self._client.register_script(_SAVE_SCRIPT)
        self._load_script = self._client.register_script(_LOAD_SCRIPT)

    def document_key(self, result_id: str) -> str:
        return f"{self._prefix}result:{result_id}"

    def tombstone_key(self, result_id: str) -> str:
        return f"{self._prefix}evicted:{result_id}"

    @property
    def bookkeeping_keys(self) -> list[str]:
        """The index (sorted set), the sizes (hash), the byte total (counter) and the owners (hash)."""
        return [f"{self._prefix}results:{name}" for name in ("index", "sizes", "bytes", "owners")]

    async def save(self, result_id: str, document: bytes, *, owner: str = "") -> None:
        if len(document) > self._owner_bytes:
            raise NotStoredError("too_large", f"the result takes {len(document)} bytes; at most {self._owner_bytes} "
                                 "are stored per caller")  # fmt: skip
        arguments: list[bytes | str | int | float] = [
            self.document_key(""), self._prefix, result_id, document, self.ttl_seconds, repr(self._clock()),
            self._max_entries, self._max_bytes, owner, self._owner_entries, self._owner_bytes,
        ]  # fmt: skip
        try:
            evicted = await self._save_script(keys=self.bookkeeping_keys, args=arguments)
        except (RedisError, OSError) as error:
            raise StoreError(f"Redis store: cannot save: {error}") from error
        if evicted == -1:
            raise NotStoredError("store_full", "the result store is full; results are stored again as older ones "
                                 "expire")  # fmt: skip

    async def load(self, result_id: str, *, owner: str | None = None) -> bytes | None:
        keys = self.bookkeeping_keys[3:]
        arguments = [self.document_key(result_id), self.tombstone_key(result_id), result_id]
        try:
            found, document, stored_owner = await self._load_script(keys=keys, args=arguments)
        except (RedisError, OSError) as error:
            raise StoreError(f"Redis store: cannot load: {error}") from error
        if found == 0 or (owner is not None and bytes(stored_owner).decode() != owner):
            return None
        if found == 2:
            raise EvictedError(result_id)
        return bytes(document)

    async def check(self, *, write: bool = False) -> None:
        try:
            await self._client.ping()
            if write:
                await self._client.set(f"{self._prefix}probe", b"1", px=1000)
        except (RedisError, OSError) as error:
            raise StoreError(f"Redis store unavailable: {error}") from error

    async def close(self) -> None:
        await self._client.aclose()
