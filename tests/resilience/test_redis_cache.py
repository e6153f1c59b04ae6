"""The response cache in Redis: shared by replicas, split by credential partition, revalidated and
expired like the embedded one, and falling back to the embedded one when Redis is gone."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx2
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from storelink.clock import LoopClock
from storelink.connectors.base import ConnectorContext
from storelink.fakes.base import InProcessTransport
from storelink.fakes.generic import GenericFake
from storelink.observability.metrics import Metrics
from storelink.resilience.cache import cache_key
from storelink.resilience.redis_cache import RedisResponseCache
from storelink.resilience.redis_health import RedisHealth
from storelink.store import EmbeddedStore
from tests.support.generic_connector import (
    DEFAULT_TOKEN,
    GenericConnector,
    GenericConnectorSettings,
    GenericSettings,
    generic_settings,
)
from tests.support.redis_server import SHARED_REDIS_URL, RedisServer, drop_prefix, redis_answers

needs_redis = pytest.mark.skipif(
    not redis_answers(SHARED_REDIS_URL), reason="no Redis answers on 127.0.0.1:6379 (.ci/run starts one)"
)

URL = "https://demo-performance.myshopify.com/admin/api/2026-10/graphql.json"


@pytest.fixture
def prefix() -> Iterator[str]:
    prefix = f"storelink-test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    drop_prefix(SHARED_REDIS_URL, prefix)


_clients: list[redis.Redis] = []


@pytest.fixture(autouse=True)
def close_clients() -> Iterator[None]:
    yield
    while _clients:
        _clients.pop().close()


def replica_cache(url: str, prefix: str, health: RedisHealth | None = None) -> RedisResponseCache:
    """One replica's cache: its own client, its own embedded fallback."""
    client = redis.Redis.from_url(url, socket_timeout=0.25, socket_connect_timeout=0.25, retry=Retry(NoBackoff(), 1))
    _clients.append(client)
    return RedisResponseCache(EmbeddedStore(None), client, health=health or RedisHealth(), prefix=prefix)


def response(body: bytes, etag: str = '"v1"') -> httpx2.Response:
    return httpx2.Response(
        200,
        headers={"ETag": etag, "Content-Type": "application/json", "Set-Cookie": "s=1"},
        content=body,
        request=httpx2.Request("POST", URL),
    )


def key_for(partition: str, body: bytes = b'{"query":"{shop{name}}"}') -> str:
    return cache_key(connector="shopify", partition=partition, request=httpx2.Request("POST", URL, content=body))


@needs_redis
async def test_replicas_share_entries_and_partitions_stay_apart(prefix: str) -> None:
    a, b = replica_cache(SHARED_REDIS_URL, prefix), replica_cache(SHARED_REDIS_URL, prefix)
    key = key_for("tenant-1")
    a.put(key, connector="shopify", response=response(b'{"data":1}'), ttl_s=60.0)
    assert a.get(key) is not None  # a sees its own buffered write at once
    assert b.get(key) is None  # … the others after the flush (buffered while a loop runs)
    a.flush()
    entry = b.get(key)
    assert entry is not None
    assert entry.body == b'{"data":1}' and entry.status == 200 and entry.etag == '"v1"'
    assert entry.fresh(b.now()) and entry.expires_at - entry.stored_at == pytest.approx(60.0)
    assert ("content-type", "application/json") in entry.headers
    assert all(name != "set-cookie" for name, _ in entry.headers)  # never cached
    assert b.get(key_for("tenant-2")) is None  # another credential: another entry


@needs_redis
def test_refresh_and_expire_are_seen_by_every_replica(prefix: str) -> None:
    a, b = replica_cache(SHARED_REDIS_URL, prefix), replica_cache(SHARED_REDIS_URL, prefix)
    shop, other = key_for("t"), key_for("t", b"{}")
    a.put(shop, connector="shopify", response=response(b"1"), ttl_s=5.0)
    a.put(other, connector="ga4", response=response(b"2"), ttl_s=5.0)
    a.flush()
    b.refresh(shop, 500.0)  # a 304 on replica b
    refreshed = a.get(shop)
    assert refreshed is not None and refreshed.expires_at - a.now() == pytest.approx(500.0, abs=1.0)

    b.expire("shopify")
    stale = a.get(shop)
    assert stale is not None and not stale.fresh(a.now()) and stale.etag == '"v1"'  # kept for a 304
    kept = a.get(other)
    assert kept is not None and kept.fresh(a.now())
    a.expire()
    gone = b.get(other)
    assert gone is not None and not gone.fresh(b.now())

    ttl = _clients[0].pttl(f"{prefix}cache:e:{shop}")  # a's client
    assert ttl > 86_000_000  # with validators: a day to revalidate in


@needs_redis
async def test_a_second_replica_is_answered_from_the_first_ones_fetch(tmp_path: Path, prefix: str) -> None:
    """Two generic connectors (two replicas) over one fake: the second one's call is a fresh hit
    from the shared cache; after an expiry it revalidates with a 304; another token misses."""
    fake = GenericFake(tokens=frozenset({"generic-token", "other-token"}))
    settings = generic_settings(tmp_path)

    async def call(settings: GenericSettings, token: str = DEFAULT_TOKEN) -> str:
        cache = replica_cache(SHARED_REDIS_URL, prefix)
        ctx = ConnectorContext(
            config=GenericConnectorSettings(knobs=settings.generic, token=token),
            mode="live",
            inner=InProcessTransport(fake.app),
            base_url="https://generic.example",
            clock=LoopClock(),
            metrics=Metrics(),
            cache=cache,
            store=EmbeddedStore(None),
        )
        connector = GenericConnector(ctx)
        try:
            envelope = await connector.call("list_items", {"per_page": 3, "cache_ttl_s": 60.0})
        finally:
            await connector.aclose()
            cache.flush()
        assert [i.id for i in envelope.data.items] == [1, 2, 3]
        return envelope.meta.source

    assert await call(settings) == "network"
    assert await call(settings) == "cache-fresh"
    assert fake.stats["GET /v1/items"] == 1
    replica_cache(SHARED_REDIS_URL, prefix).expire("generic")
    assert await call(settings) == "cache-revalidated"
    assert fake.conditional_hits == 1
    assert await call(settings, token="other-token") == "network"
    assert fake.stats["GET /v1/items"] == 3


@pytest.fixture
async def private_server() -> AsyncIterator[RedisServer]:
    try:
        server = RedisServer()
    except FileNotFoundError:
        pytest.skip("redis-server is not installed")
    server.start()
    yield server
    await asyncio.to_thread(server.stop)
    server.cleanup()


@pytest.mark.slow
async def test_without_redis_the_cache_is_local_and_nothing_raises(private_server: RedisServer) -> None:
    now = [1000.0]
    health = RedisHealth(clock=lambda: now[0])
    cache = replica_cache(private_server.url, "down:", health)
    shared_key, local_key = key_for("a"), key_for("b")
    cache.put(shared_key, connector="shopify", response=response(b"shared"), ttl_s=60.0)
    cache.flush()
    private_server.stop()

    assert cache.get(shared_key) is None  # Redis is gone: a miss, not an error
    assert health.degraded and health.status().last_error == "ConnectionError"
    cache.put(local_key, connector="shopify", response=response(b"local"), ttl_s=60.0)
    cache.flush()
    cache.refresh(local_key, 120.0)
    cache.expire("shopify")
    entry = cache.get(local_key)  # answered by the embedded fallback
    assert entry is not None and entry.body == b"local"

    private_server.start()  # empty: the shared entry was not saved
    assert cache.get(local_key) is not None  # still local: no probe before the backoff
    now[0] += 1.0
    assert cache.get(shared_key) is None  # the probe: Redis answers (a miss), shared again
    assert not health.degraded
    cache.put(shared_key, connector="shopify", response=response(b"again"), ttl_s=60.0)
    cache.flush()
    other = replica_cache(private_server.url, "down:")
    again = other.get(shared_key)
    assert again is not None and again.body == b"again"
