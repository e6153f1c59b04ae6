"""Redis stopped mid-run: no request fails, the degraded state is visible, and a restarted Redis is
used again without anyone's help. Runs the real Shopify connector and pipeline over the in-process
Shopify fake, with a private redis-server that the test shuts down and starts again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from storelink.connectors.shopify.client import ShopifyConnector
from storelink.errors import ConnectorError
from storelink.fakes.base import InProcessTransport
from storelink.fakes.shopify import ShopifyFake
from storelink.observability.metrics import Metrics
from storelink.resilience.shared import FallbackLimiter
from storelink.runtime import open_runtime
from storelink.store import EmbeddedStore
from tests.conftest import make_settings
from tests.support.redis_server import RedisServer, shared_again

pytestmark = pytest.mark.slow


@pytest.fixture
def server() -> Iterator[RedisServer]:
    try:
        server = RedisServer()
    except FileNotFoundError:
        pytest.skip("redis-server is not installed")
    server.start()
    yield server
    server.stop()
    server.cleanup()


async def test_redis_stopped_mid_run_fails_no_request_and_recovers(
    tmp_path: Path, server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="storelink.shared")
    settings = make_settings(
        tmp_path,
        shopify_shop="apex-demo.myshopify.com",
        shopify_access_token="shpat_demo_token",
        redis_url=server.url,
        replicas=3,
    )
    metrics = Metrics()
    fake = ShopifyFake(restore_rate=1000.0)  # pacing barely waits: the test is about Redis
    outcomes: dict[str, list[str]] = {"before": [], "down": [], "after": []}
    phase = "before"
    running = True

    # The runtime opens the shared state itself (STORELINK_REDIS_URL is set).
    async with open_runtime(
        settings,
        connectors=[ShopifyConnector],
        transports={"shopify": InProcessTransport(fake.app)},
        metrics=metrics,
        store=EmbeddedStore(None),
    ) as rt:
        shared = rt.shared
        assert shared is not None
        connector = rt.registry.get("shopify")
        limiter = connector.limiter
        assert isinstance(limiter, FallbackLimiter)

        async def caller() -> None:
            while running:
                try:
                    await connector.call("list_products", {"limit": 50})
                    outcomes[phase].append("ok")
                except ConnectorError as err:
                    outcomes[phase].append(err.kind.value)

        callers = [asyncio.create_task(caller()) for _ in range(6)]
        await asyncio.sleep(0.6)
        assert shared.status().state == "shared"
        assert limiter.shared.snapshot is not None and limiter.shared.snapshot.reported
        assert await shared.client.exists(limiter.shared.keys[0]) == 1

        await asyncio.to_thread(server.stop)
        phase = "down"
        await asyncio.sleep(1.2)
        status = shared.status()
        # A stopping Redis refuses connections or lets a pending one time out: either says "down".
        assert status.degraded and status.last_error in ("ConnectionError", "TimeoutError")
        assert "1/3 of every budget" in status.message
        assert b"storelink_shared_state_degraded 1.0" in metrics.render()
        assert limiter.degraded
        # The local share is this replica's third of what Shopify reports.
        assert limiter.local.capacity == pytest.approx(2000.0 * 10 / 3)  # Plus-sized fake: 20 s of 1000/s
        assert limiter.local.rate == pytest.approx(1000.0 / 3)

        await asyncio.to_thread(server.start)
        assert await shared_again(shared)
        phase = "after"
        await asyncio.sleep(0.5)
        running = False
        await asyncio.gather(*callers)

        # Shared again: the restarted (empty) Redis holds the bucket, re-synced from Shopify.
        assert await shared.client.exists(limiter.shared.keys[0]) == 1
        assert limiter.shared.snapshot is not None and limiter.shared.snapshot.reported
        assert b"storelink_shared_state_degraded 0.0" in metrics.render()

    for name, seen in outcomes.items():
        assert seen, f"no calls completed while {name}"
        assert set(seen) == {"ok"}, f"failed calls while {name}: {seen}"
    status = shared.status()
    assert status.failures == 1 and status.fallback_calls > 0
    messages = [r.getMessage() for r in caplog.records]
    assert sum("unreachable" in m for m in messages) == 1
    assert sum("answers again" in m for m in messages) == 1
    assert "failover:" not in " ".join(messages) and server.url not in " ".join(messages)


async def test_redis_absent_at_start_is_not_an_error(tmp_path: Path) -> None:
    """A replica that starts while Redis is down starts degraded and serves from its share."""
    try:
        server = RedisServer()  # a port nobody listens on: never started
    except FileNotFoundError:
        pytest.skip("redis-server is not installed")
    server.cleanup()
    settings = make_settings(
        tmp_path,
        shopify_shop="apex-demo.myshopify.com",
        shopify_access_token="shpat_demo_token",
        redis_url=server.url,
        replicas=2,
    )
    # The runtime opens the shared state itself.
    async with open_runtime(
        settings,
        connectors=[ShopifyConnector],
        transports={"shopify": InProcessTransport(ShopifyFake().app)},
        store=EmbeddedStore(None),
    ) as rt:
        shared = rt.shared
        assert shared is not None and shared.status().degraded
        envelope = await rt.registry.get("shopify").call("list_products", {"limit": 5})
        assert len(envelope.data.items) == 5
        headroom = rt.registry.get("shopify").limiter.headroom()
        assert headroom is not None and headroom.maximum == pytest.approx(1000.0)  # half of 2000
