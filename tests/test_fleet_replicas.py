"""Several replicas of a multi-store deployment share each store's upstream budget through Redis,
store by store: one store's exhausted Shopify bucket holds that store's calls on every replica and
leaves another store's alone."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
import redis

from storelink.errors import ConnectorError, ErrorKind
from storelink.runtime import Fleet, open_fleet
from storelink.store import EmbeddedStore
from tests.conftest import make_settings
from tests.support.redis_server import SHARED_REDIS_URL, drop_prefix, redis_answers

pytestmark = pytest.mark.skipif(
    not redis_answers(SHARED_REDIS_URL), reason="no Redis answers on 127.0.0.1:6379 (.ci/run starts one)"
)
REPLICAS = 3


@pytest.fixture
async def replicas(tmp_path: Path) -> AsyncIterator[list[Fleet]]:
    prefix = f"test-fleet-{uuid.uuid4().hex[:8]}:"
    settings = make_settings(
        tmp_path,
        demo_stores=2,
        demo_today="2026-11-20",
        redis_url=SHARED_REDIS_URL,
        redis_prefix=prefix,
        replicas=REPLICAS,
        shopify={"deadline": 5.0, "max_retries": 0},
    )
    async with AsyncExitStack() as stack:
        fleets = [await stack.enter_async_context(open_fleet(settings, store=EmbeddedStore(None))) for _ in range(3)]
        yield fleets
    drop_prefix(SHARED_REDIS_URL, prefix)


async def test_one_stores_exhausted_bucket_holds_it_on_every_replica_and_no_other_store(
    replicas: list[Fleet],
) -> None:
    first, second, third = replicas
    # Replica 1 spends twice demo-1's whole Shopify bucket (a 2000-point bucket restoring 100/s):
    # the next call to demo-1, from any replica, would wait about 40 s, past its 5 s deadline.
    spender = (await first.runtime("demo-1")).registry.get("shopify")
    await spender.call("shop_info")  # the shop's bucket is learnt: no replica holds for a probe
    for _ in range(2):
        await spender.limiter.reserve(2000.0, operation="bulk", deadline=None)

    with pytest.raises(ConnectorError) as held:
        await (await second.runtime("demo-1")).registry.get("shopify").call("shop_info")
    assert held.value.kind is ErrorKind.RATE_LIMITED

    other = await (await third.runtime("demo-2")).registry.get("shopify").call("shop_info")
    assert other.data.name == "Northline Motorsport" and other.meta.attempts == 1

    # Each store's budget lives under its own key.
    client = redis.Redis.from_url(SHARED_REDIS_URL)
    prefix = replicas[0].settings.redis_prefix
    keys = {k.decode() for k in client.scan_iter(match=f"{prefix}*")}
    client.close()
    assert any("demo-1|" in k for k in keys) and any("demo-2|" in k for k in keys), sorted(keys)[:10]


async def test_each_replica_serves_every_store(replicas: list[Fleet]) -> None:
    names = await asyncio.gather(*(fleet.runtime(store_id) for fleet in replicas for store_id in ("demo-1", "demo-2")))
    shops = [(await rt.registry.get("shopify").call("shop_info")).data.name for rt in names]
    assert shops == ["Apex Performance Parts", "Northline Motorsport"] * REPLICAS
