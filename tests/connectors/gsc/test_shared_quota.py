"""Search Console's budgets shared by three replicas through the real Redis: the per-minute buckets,
the daily inspection budget and throttling holds. Each replica has its own SharedState (its own
Redis connection and health), as separate processes would."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from storelink.auth.tokens import WallClock
from storelink.clock import LoopClock
from storelink.connectors.gsc.errors import GscThrottleHint
from storelink.connectors.gsc.pacing import GscLimiter
from storelink.connectors.gsc.shared_quota import SharedGscLimiter
from storelink.resilience.shared import FallbackLimiter, shared_state
from tests.conftest import make_settings
from tests.support.redis_server import SHARED_REDIS_URL, drop_prefix, free_port, redis_answers

pytestmark = pytest.mark.skipif(
    not redis_answers(SHARED_REDIS_URL), reason="no Redis answers on 127.0.0.1:6379 (.ci/run starts one)"
)

REPLICAS = 3
DAILY = 5  # inspections a day, small enough to spend in a test


def local_limiter() -> GscLimiter:
    clock = LoopClock()
    limiter = GscLimiter(clock=clock, wall=WallClock(clock), rate=20.0, burst=20.0, shared_form=SharedGscLimiter.over)
    limiter.inspections_per_day = DAILY
    return limiter


async def open_replicas(stack: AsyncExitStack, tmp_path: Path, url: str, prefix: str) -> list[SharedGscLimiter]:
    limiters = []
    for i in range(REPLICAS):
        settings = make_settings(tmp_path / f"r{i}", redis_url=url, redis_prefix=prefix, replicas=REPLICAS)
        state = await stack.enter_async_context(shared_state(settings))
        assert state is not None
        shared = state.limiter_for("gsc", local_limiter(), partition="sc-domain:example.com|demo")
        assert isinstance(shared, SharedGscLimiter)
        limiters.append(shared)
    return limiters


@pytest.fixture
async def limiters(tmp_path: Path) -> AsyncIterator[Sequence[SharedGscLimiter]]:
    prefix = f"storelink-test:{uuid.uuid4().hex[:12]}:"
    async with AsyncExitStack() as stack:
        yield await open_replicas(stack, tmp_path, SHARED_REDIS_URL, prefix)
    drop_prefix(SHARED_REDIS_URL, prefix)


async def test_the_buckets_are_the_shared_ones(limiters: Sequence[SharedGscLimiter]) -> None:
    for limiter in limiters:
        assert all(isinstance(bucket, FallbackLimiter) for bucket in limiter.buckets.values())
    # One replica's burst spends the others' too: 20 queries at once is the site's burst, not each one's.
    waits = [(await limiters[i % REPLICAS].reserve(1, operation="search_analytics")).wait_s for i in range(30)]
    assert sum(1 for w in waits if w == 0) == 20


async def test_the_daily_inspection_budget_is_one_for_all_replicas(limiters: Sequence[SharedGscLimiter]) -> None:
    reservations = [await limiters[i % REPLICAS].reserve(1, operation="inspect_url") for i in range(DAILY + 2)]
    # Those past the day's budget wait for Pacific midnight on Redis' clock: any wait at all (not "over
    # a minute", which failed in the minute before midnight), as the day's first DAILY go at once.
    held_to_midnight = [r for r in reservations if r.wait_s > 0]
    assert len(reservations) - len(held_to_midnight) == DAILY
    # A cancelled, unsent inspection gives its turn back.
    await limiters[0].cancel(reservations[0])
    again = await limiters[2].reserve(1, operation="inspect_url")
    assert again.wait_s == 0


async def test_a_throttle_seen_by_one_replica_holds_the_others(limiters: Sequence[SharedGscLimiter]) -> None:
    a, b, _ = limiters
    sent = await a.reserve(1, operation="search_analytics")
    await a.settle(
        sent, GscThrottleHint(available=0, maximum=0, restore_per_s=0, category="search_analytics", blocked_s=30.0)
    )
    held = await b.reserve(1, operation="search_analytics")
    assert 25.0 < held.wait_s <= 30.0
    assert (await b.reserve(1, operation="list_sites")).wait_s == 0  # only that category is held


async def test_redis_unreachable_each_replica_takes_its_share_of_the_day(tmp_path: Path) -> None:
    async with AsyncExitStack() as stack:
        limiters = await open_replicas(stack, tmp_path, f"redis://127.0.0.1:{free_port()}/0", "storelink-test:")
        waits = [(await limiters[0].reserve(1, operation="inspect_url")).wait_s for _ in range(DAILY)]
        assert sum(1 for w in waits if w < 60) == DAILY // REPLICAS  # 5 // 3 = 1
        assert limiters[0].health.degraded


async def test_a_limiter_built_without_a_shared_form_stays_this_replicas(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, redis_url=SHARED_REDIS_URL, redis_prefix="storelink-test:", replicas=REPLICAS)
    async with shared_state(settings) as state:
        assert state is not None
        clock = LoopClock()
        local = GscLimiter(clock=clock, wall=WallClock(clock), rate=20.0, burst=20.0)
        assert state.limiter_for("gsc", local) is local
        assert state.unshared == ["gsc"]
