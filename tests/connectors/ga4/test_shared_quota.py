"""A GA4 property's quotas shared by three replicas through the real Redis.

Each replica is a whole runtime (its own connector, pipeline, Redis connection and local limiter)
over one GA4 fake, as three processes behind a balancer would be; only Redis and the fake are
shared. The fake counts what the property really saw: requests in flight, server errors per hour,
tokens. No looptime here: Redis answers on a real socket, in real time."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from storelink.auth.tokens import WallClock
from storelink.clock import LoopClock
from storelink.connectors.ga4.client import Ga4Connector
from storelink.connectors.ga4.errors import Ga4QuotaHint
from storelink.connectors.ga4.pacing import Ga4QuotaLimiter
from storelink.connectors.ga4.shared_quota import RedisGa4Gate, SharedGa4Limiter
from storelink.errors import ConnectorError, ErrorKind
from storelink.fakes.faults import Fault, FaultPlan
from storelink.fakes.ga4 import Ga4Fake, QuotaLimits
from storelink.resilience.shared import shared_state
from storelink.runtime import Runtime
from storelink.settings import Ga4Knobs
from tests.conftest import make_settings
from tests.connectors.ga4.support import PROPERTY, google_runtime, live_settings
from tests.support.redis_server import (
    SHARED_REDIS_URL,
    RedisServer,
    clear_of_the_hour,
    drop_prefix,
    free_port,
    redis_answers,
    shared_again,
)

pytestmark = pytest.mark.skipif(
    not redis_answers(SHARED_REDIS_URL), reason="no Redis answers on 127.0.0.1:6379 (.ci/run starts one)"
)

REPLICAS = 3
CALLERS = 16  # per replica, as in the benchmark
KNOBS = Ga4Knobs(rate_limit=200.0, rate_burst=200.0, deadline=60.0)


@pytest.fixture
def prefix() -> Any:
    prefix = f"storelink-test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    drop_prefix(SHARED_REDIS_URL, prefix)


@asynccontextmanager
async def replicas(
    tmp_path: Path,
    fake: Ga4Fake,
    *,
    redis_url: str | None,
    prefix: str = "storelink:",
    n: int = REPLICAS,
    declared: int | None = None,
) -> AsyncIterator[Sequence[Runtime]]:
    """``n`` runtimes over ``fake``, each told there are ``declared`` replicas (default ``n``)."""
    async with AsyncExitStack() as stack:
        runtimes = []
        for i in range(n):
            settings = live_settings(
                tmp_path / f"replica-{i}",
                ga4=KNOBS,
                redis_url=redis_url,
                redis_prefix=prefix,
                replicas=declared or n,
            )
            runtimes.append(await stack.enter_async_context(google_runtime(settings, [Ga4Connector], {"ga4": fake})))
        yield runtimes


async def report(rt: Runtime, days: int) -> Any:
    # Every call a different range: no replica answers another's question from the shared cache.
    return await rt.registry.get("ga4").call("run_report", {"metrics": "sessions", "days": days})


async def run_callers(runtimes: Sequence[Runtime]) -> list[Any]:
    return await asyncio.gather(
        *(report(rt, 1 + r * CALLERS + i) for r, rt in enumerate(runtimes) for i in range(CALLERS)),
        return_exceptions=True,
    )


async def test_three_replicas_keep_the_property_under_its_concurrency(tmp_path: Path, prefix: str) -> None:
    fake = Ga4Fake(properties=[PROPERTY], latency_s=0.15)
    async with replicas(tmp_path, fake, redis_url=SHARED_REDIS_URL, prefix=prefix) as runtimes:
        assert all(isinstance(rt.registry.get("ga4").limiter, SharedGa4Limiter) for rt in runtimes)
        results = await run_callers(runtimes)
    failed = [r for r in results if isinstance(r, BaseException)]
    assert failed == []
    assert fake.peak_in_flight <= 9  # one of the property's 10 kept spare, across all replicas
    assert fake.peak_in_flight >= 6  # … and the replicas did run side by side
    assert not fake.refused


@pytest.mark.slow
async def test_without_redis_the_replicas_overrun_the_property(tmp_path: Path) -> None:
    """The contrast: the same load with per-replica limiters puts more than 10 in flight at once."""
    fake = Ga4Fake(properties=[PROPERTY], latency_s=0.15)
    async with replicas(tmp_path, fake, redis_url=None) as runtimes:
        await run_callers(runtimes)
    assert fake.peak_in_flight > 10


async def test_server_errors_are_counted_across_replicas(tmp_path: Path, prefix: str) -> None:
    """Under 30 % injected 5xx, the property never sees the 10th server error of an hour: the
    replicas stop, together, with one to spare."""
    await clear_of_the_hour()  # the fake counts errors per full hour: straddling one would split them
    fake = Ga4Fake(properties=[PROPERTY], latency_s=0.05, faults=FaultPlan(rates={Fault.SERVER_ERROR: 0.3}, seed=7))
    async with replicas(tmp_path, fake, redis_url=SHARED_REDIS_URL, prefix=prefix) as runtimes:
        results = await run_callers(runtimes)
    failed = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(f, ConnectorError) for f in failed)
    assert {f.kind for f in failed if isinstance(f, ConnectorError)} <= {ErrorKind.RATE_LIMITED, ErrorKind.UNAVAILABLE}
    assert fake.max_server_errors_in_an_hour(PROPERTY) >= 5  # the faults did bite
    assert fake.max_server_errors_in_an_hour(PROPERTY) <= 9
    assert "Exhausted server errors quota." not in fake.refused


async def test_one_replicas_quota_report_holds_back_the_others(tmp_path: Path, prefix: str) -> None:
    """Replica A's reports say the hour's tokens are nearly gone; replica B, which has never called,
    holds its call back instead of spending the property's last tokens."""
    await clear_of_the_hour()  # the hold lasts until Redis' full hour: this test must not straddle it
    fake = Ga4Fake(properties=[PROPERTY], limits=QuotaLimits(tokens_per_hour=200, tokens_per_project_per_hour=200))
    async with replicas(tmp_path, fake, redis_url=SHARED_REDIS_URL, prefix=prefix, n=2) as (a, b):
        refused: ConnectorError | None = None
        for days in range(1, 60):
            try:
                await report(a, days)
            except ConnectorError as err:
                refused = err
                break
        assert refused is not None and refused.kind is ErrorKind.RATE_LIMITED
        sent = fake.stats.get(f"POST /v1beta/properties/{PROPERTY}:runReport", 0)
        with pytest.raises(ConnectorError) as info:
            await report(b, 90)
        assert info.value.kind is ErrorKind.RATE_LIMITED
        assert info.value.retry_after_s is not None and info.value.retry_after_s > 0
        assert fake.stats.get(f"POST /v1beta/properties/{PROPERTY}:runReport", 0) == sent  # B sent nothing


QUOTAS = {
    "tokensPerDay": 200_000.0,
    "tokensPerHour": 40_000.0,
    "tokensPerProjectPerHour": 14_000.0,
    "concurrentRequests": 2.0,
    "serverErrorsPerProjectPerHour": 10.0,
}


@pytest.fixture
async def client() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(SHARED_REDIS_URL)
    yield client
    await client.aclose()


async def test_a_lease_left_by_a_crashed_replica_expires(prefix: str, client: aioredis.Redis) -> None:
    crashed = RedisGa4Gate(client, key="ga4:p", quotas=QUOTAS, prefix=prefix, lease_ttl_s=0.3)
    alive = RedisGa4Gate(client, key="ga4:p", quotas=QUOTAS, prefix=prefix, lease_ttl_s=0.3)
    assert (await crashed.admit(crashed.member("core", 10), wall=0)).status == "ok"
    assert (await crashed.admit(crashed.member("core", 10), wall=0)).status == "ok"  # … and never released
    waiting = alive.member("core", 10)
    assert (await alive.admit(waiting, wall=0)).status == "busy"
    await asyncio.sleep(0.4)
    assert (await alive.admit(waiting, wall=0)).status == "ok"


async def test_a_full_property_admits_first_come_first_served(prefix: str, client: aioredis.Redis) -> None:
    """Replica B's attempt queued before replica C's gets the next free lease, however often C asks."""
    a, b, c = (RedisGa4Gate(client, key="ga4:q", quotas=QUOTAS, prefix=prefix) for _ in range(3))
    held = [a.member("core", 10), a.member("core", 10)]
    for member in held:
        assert (await a.admit(member, wall=0)).status == "ok"
    first, second = b.member("core", 10), c.member("core", 10)
    assert (await b.admit(first, wall=0)).status == "busy"
    assert (await c.admit(second, wall=0)).status == "busy"
    await a.settle(held[0], "core", None, wall=0)
    for _ in range(3):
        assert (await c.admit(second, wall=0)).status == "busy"  # B is ahead
    assert (await b.admit(first, wall=0)).status == "ok"
    await a.release(held[1])
    assert (await c.admit(second, wall=0)).status == "ok"


async def test_a_waiter_that_stops_asking_loses_its_place(prefix: str, client: aioredis.Redis) -> None:
    a, b, c = (RedisGa4Gate(client, key="ga4:r", quotas=QUOTAS, prefix=prefix, waiter_stale_s=0.2) for _ in range(3))
    held = [a.member("core", 10), a.member("core", 10)]
    for member in held:
        await a.admit(member, wall=0)
    gone, later = b.member("core", 10), c.member("core", 10)
    assert (await b.admit(gone, wall=0)).status == "busy"  # … then B's replica dies
    await a.release(held[0])
    assert (await c.admit(later, wall=0)).status == "busy"
    await asyncio.sleep(0.3)
    assert (await c.admit(later, wall=0)).status == "ok"


async def test_redis_unreachable_each_replica_takes_its_share(tmp_path: Path) -> None:
    """Redis down from the start: no call fails, health says degraded, and each replica allows a
    third of the property's concurrency, so together they still stay under it."""
    fake = Ga4Fake(properties=[PROPERTY], latency_s=0.15)
    dead = f"redis://127.0.0.1:{free_port()}/0"
    async with replicas(tmp_path, fake, redis_url=dead) as runtimes:
        results = await run_callers(runtimes)
        statuses = [rt.shared.status() for rt in runtimes if rt.shared is not None]
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert len(statuses) == REPLICAS and all(s.degraded for s in statuses)
    assert all(s.fallback_calls > 0 for s in statuses)
    assert fake.peak_in_flight <= 9


@pytest.mark.slow
async def test_redis_stopped_mid_run_fails_no_report_and_recovers(tmp_path: Path) -> None:
    try:
        server = RedisServer()
    except FileNotFoundError:
        pytest.skip("redis-server is not installed")
    server.start()
    fake = Ga4Fake(properties=[PROPERTY], latency_s=0.05)
    outcomes: dict[str, list[str]] = {"before": [], "down": [], "after": []}
    phase, running = "before", True
    try:
        async with replicas(tmp_path, fake, redis_url=server.url, n=1, declared=3) as (rt,):
            shared = rt.shared
            limiter = rt.registry.get("ga4").limiter
            assert shared is not None and isinstance(limiter, SharedGa4Limiter)
            days = iter(range(1, 100_000))

            async def caller() -> None:
                while running:
                    try:
                        await report(rt, next(days) % 3000 + 1)
                        outcomes[phase].append("ok")
                    except ConnectorError as err:
                        outcomes[phase].append(err.kind.value)

            callers = [asyncio.create_task(caller()) for _ in range(6)]
            await asyncio.sleep(0.6)
            assert shared.status().state == "shared"
            assert await shared.client.exists(limiter.gate.keys[0]) == 1  # reports reconciled in Redis

            await asyncio.to_thread(server.stop)
            phase = "down"
            await asyncio.sleep(1.2)
            assert shared.status().degraded and limiter.degraded
            assert limiter.local.share() == pytest.approx(1 / 3)

            await asyncio.to_thread(server.start)
            assert await shared_again(shared)
            phase = "after"
            await asyncio.sleep(0.6)
            running = False
            await asyncio.gather(*callers)
            assert await shared.client.exists(limiter.gate.keys[0]) == 1  # the restarted Redis holds the state again
            assert limiter.local.share() == 1.0
    finally:
        server.stop()
        server.cleanup()
    for name, seen in outcomes.items():
        assert seen, f"no calls completed while {name}"
        assert set(seen) == {"ok"}, f"failed calls while {name}: {set(seen)}"
    assert fake.peak_in_flight <= 9


async def test_a_cancelled_waiter_leaves_the_queue_at_once(tmp_path: Path, prefix: str) -> None:
    settings = make_settings(tmp_path, redis_url=SHARED_REDIS_URL, redis_prefix=prefix, replicas=2)
    async with shared_state(settings) as state:
        assert state is not None
        clock = LoopClock()
        local = Ga4QuotaLimiter(
            clock=clock, wall=WallClock(clock), rate=100, burst=100, shared_form=SharedGa4Limiter.over
        )
        local.quotas["concurrentRequests"] = 1
        limiter = state.limiter_for("ga4", local, partition="p")
        assert isinstance(limiter, SharedGa4Limiter)
        held = await limiter.reserve(10)
        waiting = asyncio.create_task(limiter.reserve(10))
        await asyncio.sleep(0.1)
        assert await state.client.zcard(limiter.gate.keys[3]) == 1  # queued behind the lease
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert await state.client.zcard(limiter.gate.keys[3]) == 0
        await limiter.settle(held, None)
        assert await state.client.zcard(limiter.gate.keys[1]) == 0


async def test_resource_exhausted_seen_by_one_replica_holds_that_category_for_all(
    prefix: str, client: aioredis.Redis
) -> None:
    a, b = (RedisGa4Gate(client, key="ga4:x", quotas=QUOTAS, prefix=prefix) for _ in range(2))
    sent = a.member("core", 10)
    assert (await a.admit(sent, wall=time.time())).status == "ok"
    exhausted = Ga4QuotaHint(
        available=0, maximum=0, restore_per_s=0, category="core", exhausted="tokensPerHour", blocked_s=120.0
    )
    await a.settle(sent, "core", exhausted, wall=time.time())
    held = await b.admit(b.member("core", 10), wall=time.time())
    assert held.status == "ok" and held.wait_s >= 119.0  # leased, but to be sent only after the hold
    other = await b.admit(b.member("realtime", 10), wall=time.time())
    assert other.status == "ok" and other.wait_s == 0  # realtime has buckets of its own
