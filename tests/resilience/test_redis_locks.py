"""Leases and one OAuth refresh across replicas, against the real Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from storelink.resilience.redis_health import RedisHealth
from storelink.resilience.redis_locks import RedisLocks, SharedToken, SharedTokens
from tests.support.redis_server import SHARED_REDIS_URL, RedisServer, drop_prefix, free_port, redis_answers

needs_redis = pytest.mark.skipif(
    not redis_answers(SHARED_REDIS_URL), reason="no Redis answers on 127.0.0.1:6379 (.ci/run starts one)"
)


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    prefix = f"storelink-test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    drop_prefix(SHARED_REDIS_URL, prefix)


class Replica:
    """One replica's view: its own client, health, locks and token store."""

    def __init__(self, url: str, prefix: str) -> None:
        self.client = aioredis.Redis.from_url(url, socket_timeout=0.25, socket_connect_timeout=0.25)
        self.health = RedisHealth()
        self.locks = RedisLocks(self.client, health=self.health, prefix=prefix)
        self.tokens = SharedTokens(self.client, health=self.health, locks=self.locks, prefix=prefix)

    async def aclose(self) -> None:
        await self.client.aclose()


class TokenEndpoint:
    """Counts exchanges; each mints a new token after a little network time."""

    def __init__(self) -> None:
        self.exchanges = 0

    async def exchange(self) -> SharedToken:
        self.exchanges += 1
        await asyncio.sleep(0.05)
        return SharedToken(f"ya29.token-{self.exchanges}", 3600.0)


@needs_redis
async def test_a_lease_has_one_holder_and_only_it_releases(prefix: str) -> None:
    a, b = Replica(SHARED_REDIS_URL, prefix), Replica(SHARED_REDIS_URL, prefix)
    first, second = a.locks.lock("refresh", ttl_s=0.3), b.locks.lock("refresh", ttl_s=0.3)
    assert await first.try_acquire()
    assert not await second.try_acquire()
    assert not await second.acquire(wait_s=0.1)
    assert await second.acquire(wait_s=1.0)  # the first lease lapsed (its holder is "dead")
    assert not await first.release()  # … and a lapsed holder cannot delete its successor's lease
    assert await b.client.exists(second.key) == 1
    assert await second.release()
    async with a.locks.hold("other", ttl_s=5.0) as held:
        assert held and await a.client.exists(f"{prefix}lock:other") == 1
    assert await a.client.exists(f"{prefix}lock:other") == 0
    await a.aclose()
    await b.aclose()


@needs_redis
async def test_three_replicas_refresh_once(prefix: str) -> None:
    """Five callers on each of three replicas find no token at once: one exchange, one token."""
    endpoint = TokenEndpoint()
    replicas = [Replica(SHARED_REDIS_URL, prefix) for _ in range(3)]
    got = await asyncio.gather(
        *(r.tokens.fetch("google:abc", endpoint.exchange, poll_s=0.01) for r in replicas for _ in range(5))
    )
    assert endpoint.exchanges == 1
    assert {t.access_token for t in got} == {"ya29.token-1"}
    stored = await replicas[1].tokens.get("google:abc")
    assert stored is not None and 3590 < stored.expires_in_s <= 3600  # read back on the Redis clock

    # A 401 on the token: the first replica to refresh replaces it; the others take the new one.
    again = await asyncio.gather(
        *(r.tokens.fetch("google:abc", endpoint.exchange, reject="ya29.token-1", poll_s=0.01) for r in replicas)
    )
    assert endpoint.exchanges == 2
    assert {t.access_token for t in again} == {"ya29.token-2"}
    # Near expiry counts as stale.
    await replicas[0].tokens.put("google:abc", SharedToken("ya29.old", 30.0))
    fresh = await replicas[2].tokens.fetch("google:abc", endpoint.exchange, margin_s=60.0)
    assert fresh.access_token == "ya29.token-3"
    await replicas[0].tokens.drop("google:abc", "ya29.not-the-current-one")
    assert await replicas[0].tokens.get("google:abc") is not None
    await replicas[0].tokens.drop("google:abc", "ya29.token-3")
    assert await replicas[0].tokens.get("google:abc") is None
    for r in replicas:
        await r.aclose()


@needs_redis
async def test_a_stuck_lease_does_not_hold_callers_past_their_wait(prefix: str) -> None:
    endpoint = TokenEndpoint()
    stuck, waiting = Replica(SHARED_REDIS_URL, prefix), Replica(SHARED_REDIS_URL, prefix)
    assert await stuck.locks.lock("oauth:zoho:1", ttl_s=30.0).try_acquire()  # and never releases
    token = await waiting.tokens.fetch("zoho:1", endpoint.exchange, wait_s=0.2, poll_s=0.02)
    assert token.access_token == "ya29.token-1" and endpoint.exchanges == 1
    await stuck.aclose()
    await waiting.aclose()


async def test_without_redis_each_replica_refreshes_alone() -> None:
    try:
        server = RedisServer(port=free_port())  # never started: nothing listens
    except FileNotFoundError:
        pytest.skip("redis-server is not installed")
    server.cleanup()
    endpoint = TokenEndpoint()
    replica = Replica(server.url, "down:")
    token = await replica.tokens.fetch("google:abc", endpoint.exchange)
    assert token.access_token == "ya29.token-1"
    assert replica.health.degraded and replica.health.status().last_error == "ConnectionError"
    async with replica.locks.hold("x") as held:
        assert not held  # the body runs, alone
    await replica.aclose()
