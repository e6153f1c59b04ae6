"""One OAuth refresh across replicas: a Redis lease lock and a shared access-token store.

Without this, every replica that finds its access token stale asks the token endpoint for a new
one, and Zoho, for one, blocks a refresh token after 10 requests in 10 minutes. With it, the
first replica takes a lease (``SET key token NX PX ttl``), re-checks the shared store, exchanges
and stores the token; the others poll the store and pick that token up.

* The lease has a timeout (``ttl_s``), so a replica that dies holding it blocks the others for
  at most that long; release is compare-and-delete in Lua, so a holder whose lease lapsed never
  deletes its successor's.
* Tokens are stored under a fingerprint of the credential identity (never the secret) with a
  Redis TTL equal to their lifetime, and their remaining life is read back with ``PTTL``: the
  Redis clock again, so replicas with skewed clocks agree on when a token is stale.
* Redis failing never fails a refresh: every Redis error falls back to exchanging alone (what a
  single replica does), and a lease that cannot be had within ``wait_s`` is given up on too.
  Access tokens in Redis are credentials: run Redis on a private network with a password
  (docs/deploy.md).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from redis.asyncio import Redis

from storelink.resilience.redis_health import REDIS_ERRORS, RedisHealth

__all__ = ["RedisLock", "RedisLocks", "SharedToken", "SharedTokens"]

# KEYS[1] the lock or token key; ARGV[1] the value it must still hold.
_COMPARE_AND_DELETE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS[1] a token key: its value and milliseconds left, on the Redis clock.
_GET_WITH_TTL = """
local value = redis.call('GET', KEYS[1])
if not value then return false end
return {value, redis.call('PTTL', KEYS[1])}
"""


class RedisLock:
    """A lease on ``key`` for ``ttl_s`` seconds, held by whoever set its random token."""

    def __init__(self, client: Redis, key: str, *, ttl_s: float) -> None:
        self.client = client
        self.key = key
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self.token = secrets.token_hex(16)
        self.held = False
        self._release = client.register_script(_COMPARE_AND_DELETE)

    async def try_acquire(self) -> bool:
        self.held = bool(await self.client.set(self.key, self.token, nx=True, px=self.ttl_ms))
        return self.held

    async def acquire(self, *, wait_s: float, poll_s: float = 0.05) -> bool:
        """Try until ``wait_s`` has passed; False if another holder kept it all that time."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + wait_s
        while not await self.try_acquire():
            if loop.time() >= give_up:
                return False
            await asyncio.sleep(poll_s)
        return True

    async def release(self) -> bool:
        """Delete the lease if it is still ours (it may have lapsed and been taken since)."""
        if not self.held:
            return False
        self.held = False
        return bool(await self._release(keys=[self.key], args=[self.token]))


class RedisLocks:
    """Named leases under one prefix."""

    def __init__(self, client: Redis, *, health: RedisHealth, prefix: str = "storelink:") -> None:
        self.client = client
        self.health = health
        self.prefix = f"{prefix}lock:"

    def lock(self, name: str, *, ttl_s: float = 30.0) -> RedisLock:
        return RedisLock(self.client, self.prefix + name, ttl_s=ttl_s)

    @asynccontextmanager
    async def hold(self, name: str, *, ttl_s: float = 30.0, wait_s: float = 10.0) -> AsyncIterator[bool]:
        """Run the body under the lease ``name``. Yields True when held; False when Redis failed or
        the lease stayed taken for ``wait_s``: the body then runs alone, as a single replica would."""
        lock = self.lock(name, ttl_s=ttl_s)
        held = False
        if self.health.should_try():
            try:
                held = await lock.acquire(wait_s=wait_s)
                self.health.succeeded()
            except REDIS_ERRORS as exc:
                self.health.failed(exc)
        else:
            self.health.fell_back()
        try:
            yield held
        finally:
            if held:
                try:
                    await lock.release()
                except REDIS_ERRORS as exc:
                    self.health.failed(exc)  # the lease lapses by itself


@dataclass(frozen=True, slots=True)
class SharedToken:
    access_token: str
    expires_in_s: float  # from when it was read


class SharedTokens:
    """Access tokens shared by the replicas, refreshed by one of them at a time."""

    def __init__(self, client: Redis, *, health: RedisHealth, locks: RedisLocks, prefix: str = "storelink:") -> None:
        self.client = client
        self.health = health
        self.locks = locks
        self.prefix = f"{prefix}oauth:"
        self._get = client.register_script(_GET_WITH_TTL)
        self._drop = client.register_script(_COMPARE_AND_DELETE)

    async def get(self, key: str) -> SharedToken | None:
        found = await self._get(keys=[self.prefix + key])
        if not found:
            return None
        value, pttl = found
        if int(pttl) <= 0:
            return None
        text = value.decode() if isinstance(value, bytes) else str(value)
        return SharedToken(text, int(pttl) / 1000.0)

    async def put(self, key: str, token: SharedToken) -> None:
        if token.expires_in_s > 0:
            await self.client.set(self.prefix + key, token.access_token, px=max(1, int(token.expires_in_s * 1000)))

    async def drop(self, key: str, access_token: str) -> None:
        """Forget ``access_token`` (the upstream rejected it), unless it has been replaced already."""
        await self._drop(keys=[self.prefix + key], args=[access_token])

    async def fetch(
        self,
        key: str,
        exchange: Callable[[], Awaitable[SharedToken]],
        *,
        reject: str | None = None,
        margin_s: float = 60.0,
        lock_ttl_s: float = 30.0,
        wait_s: float = 15.0,
        poll_s: float = 0.1,
    ) -> SharedToken:
        """A token with more than ``margin_s`` left that is not ``reject`` (the one a 401 refused):
        the shared one when there is such, else the result of ``exchange``, called by one replica
        at a time. ``exchange``'s own errors propagate; Redis' never do."""

        def usable(token: SharedToken | None) -> SharedToken | None:
            if token is None or token.expires_in_s <= margin_s or token.access_token == reject:
                return None
            return token

        if not self.health.should_try():
            self.health.fell_back()
            return await exchange()
        try:
            if found := usable(await self.get(key)):
                self.health.succeeded()
                return found
            lock = self.locks.lock(f"oauth:{key}", ttl_s=lock_ttl_s)
            loop = asyncio.get_running_loop()
            give_up = loop.time() + wait_s
            while not await lock.try_acquire():
                if loop.time() >= give_up:
                    break  # the holder is stuck; its lease will lapse, but do not make callers wait
                await asyncio.sleep(poll_s)
                if found := usable(await self.get(key)):
                    self.health.succeeded()
                    return found
            if lock.held and (found := usable(await self.get(key))):
                await lock.release()
                return found
            self.health.succeeded()
        except REDIS_ERRORS as exc:
            self.health.failed(exc)
            return await exchange()
        try:
            token = await exchange()
            try:
                await self.put(key, token)
            except REDIS_ERRORS as exc:
                self.health.failed(exc)
            return token
        finally:
            try:
                await lock.release()
            except REDIS_ERRORS as exc:
                self.health.failed(exc)
