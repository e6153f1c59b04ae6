"""The shop's cost bucket kept in Redis for every replica, against the real server: one probe for
the whole deployment at a cold start, grants in arrival order across replicas whatever their cost,
and a report re-synced with what other replicas sent and closed meanwhile.

Each "replica" is a :class:`RedisCostBucket` of its own (its own instance id and line) on the same
bucket key. Waits are computed on Redis' clock, which runs in real time, so figures are compared
with a tolerance of a few milliseconds, and the reports used for re-sync restore so slowly
(0.01 point/s) that the refill during a test is below it."""

from __future__ import annotations

import asyncio
import itertools
import random
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from storelink.clock import LoopClock
from storelink.connectors.shopify.client import ShopifyConnector
from storelink.connectors.shopify.shared_pacing import RedisCostBucket
from storelink.errors import ConnectorError, ErrorKind
from storelink.fakes.base import InProcessTransport
from storelink.fakes.shopify import DEFAULT_TOKEN, ShopifyFake
from storelink.observability.metrics import Metrics
from storelink.resilience.classify import RateHint
from storelink.resilience.deadline import Deadline
from storelink.resilience.redis_limiter import SharedReservation
from storelink.runtime import open_runtime
from storelink.store import EmbeddedStore
from tests.conftest import make_settings
from tests.connectors.shopify.test_pacing import SHOP, spend_down_to
from tests.support.redis_server import SHARED_REDIS_URL, drop_prefix, redis_answers

pytestmark = pytest.mark.skipif(
    not redis_answers(SHARED_REDIS_URL), reason="no Redis answers on 127.0.0.1:6379 (.ci/run starts one)"
)

SLOW = 0.01  # points restored per second in the re-sync reports: no refill worth counting


@pytest.fixture
def prefix() -> str:
    return f"storelink-test:{uuid.uuid4().hex[:12]}:"


@pytest.fixture
async def client(prefix: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(SHARED_REDIS_URL)
    yield client
    await client.aclose()
    drop_prefix(SHARED_REDIS_URL, prefix)


def replicas(client: aioredis.Redis, prefix: str, n: int = 3, *, probe_lease_s: float = 30.0) -> list[RedisCostBucket]:
    """``n`` replicas' limiters of one shop, starting from the Standard plan the knobs assume."""
    return [
        RedisCostBucket(
            client,
            bucket="shopify:north",
            rate=100.0,
            capacity=2000.0,
            clock=LoopClock(),
            prefix=prefix,
            probe_lease_s=probe_lease_s,
        )
        for _ in range(n)
    ]


def report(available: float, *, actual: float, maximum: float = 2000.0, rate: float = 100.0) -> RateHint:
    return RateHint(available=available, maximum=maximum, restore_per_s=rate, actual_cost=actual)


def tokens(limiter: RedisCostBucket) -> float:
    assert limiter.snapshot is not None
    return limiter.snapshot.tokens


async def learnt(limiter: RedisCostBucket, available: float, *, rate: float = SLOW) -> None:
    """One request answered: the shop reported ``available`` after it."""
    first = await limiter.reserve(10.0)
    await limiter.settle(first, report(available, actual=10.0, rate=rate))


# -- cold start ---------------------------------------------------------------------------------------
async def test_one_probe_for_every_replica_until_the_first_report(client: aioredis.Redis, prefix: str) -> None:
    a, b, c = replicas(client, prefix)
    probe = await a.reserve(52.0)
    assert probe.wait_s == 0.0
    held = [asyncio.create_task(b.reserve(400.0)), asyncio.create_task(c.reserve(300.0))]
    await asyncio.sleep(0.2)  # the first answer is slow to come
    assert not any(task.done() for task in held)
    # The shop's bucket is smaller than the plan assumed, and half spent by someone else.
    await a.settle(probe, report(500.0, actual=52.0, maximum=1000.0, rate=50.0))
    granted = await asyncio.wait_for(asyncio.gather(*held), timeout=2.0)
    # 500 - 400 - 300 = -200 points: whichever was granted second waits 4 s at 50 points/s.
    first, second = sorted(granted, key=lambda r: r.admit_at)
    assert first.wait_s == pytest.approx(0.0, abs=0.01)
    assert second.admit_at - first.admit_at == pytest.approx(4.0, abs=0.05)


async def test_a_probe_closed_without_a_report_lets_another_replica_probe(client: aioredis.Redis, prefix: str) -> None:
    a, b, c = replicas(client, prefix)
    probe = await a.reserve(52.0)
    held = {b: asyncio.create_task(b.reserve(22.0)), c: asyncio.create_task(c.reserve(252.0))}
    await asyncio.sleep(0.2)
    assert not any(task.done() for task in held.values())
    await a.settle(probe, None)  # a 503 without extensions.cost: still no bucket known
    done, _ = await asyncio.wait(held.values(), timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
    assert len(done) == 1
    await asyncio.sleep(0.2)
    prober, other = (b, c) if held[b] in done else (c, b)
    assert not held[other].done()  # the first to ask again is now the one probing
    await prober.cancel(held[prober].result())  # never sent (its caller was cancelled)
    granted = await asyncio.wait_for(held[other], timeout=1.0)
    assert granted.wait_s == pytest.approx(0.0, abs=0.01)


async def test_a_probe_never_closed_is_replaced_after_its_lease(client: aioredis.Redis, prefix: str) -> None:
    a, b, _ = replicas(client, prefix, probe_lease_s=0.3)
    loop = asyncio.get_running_loop()
    await a.reserve(52.0)  # its replica dies: never settled nor cancelled
    start = loop.time()
    await asyncio.wait_for(b.reserve(22.0), timeout=2.0)
    assert loop.time() - start == pytest.approx(0.3, abs=0.1)


async def test_the_deadline_is_kept_while_held_at_cold_start(client: aioredis.Redis, prefix: str) -> None:
    a, b, _ = replicas(client, prefix)
    await a.reserve(52.0)
    with pytest.raises(ConnectorError) as info:
        await b.reserve(22.0, deadline=Deadline.after(LoopClock(), 0.2))
    assert info.value.kind is ErrorKind.RATE_LIMITED
    assert "nothing was sent" in info.value.message


async def test_a_replica_holds_its_own_callers_in_arrival_order(client: aioredis.Redis, prefix: str) -> None:
    a, b, _ = replicas(client, prefix)
    probe = await a.reserve(10.0)
    costs = (250.0, 20.0, 120.0, 60.0)
    held = [asyncio.create_task(b.reserve(cost)) for cost in costs]
    await asyncio.sleep(0.1)
    await a.settle(probe, report(0.0, actual=10.0, maximum=2000.0, rate=100.0))
    granted = await asyncio.wait_for(asyncio.gather(*held), timeout=2.0)
    admits = [r.admit_at for r in granted]
    assert admits == sorted(admits)  # b's callers were granted in the order they came
    # From an empty bucket at 100 points/s each waits for its own cost after the one before it.
    gaps = [later - earlier for earlier, later in itertools.pairwise(admits)]
    assert gaps == pytest.approx([c / 100.0 for c in costs[1:]], abs=0.02)


# -- order ------------------------------------------------------------------------------------------
async def test_grants_across_replicas_go_in_arrival_order_whatever_their_cost(
    client: aioredis.Redis, prefix: str
) -> None:
    limiters = replicas(client, prefix)
    await learnt(limiters[0], 100.0, rate=100.0)
    granted: list[SharedReservation] = []
    for n, cost in enumerate((250.0, 20.0, 250.0, 20.0, 20.0, 120.0)):
        granted.append(await limiters[n % 3].reserve(cost))
    admits = [r.admit_at for r in granted]
    assert admits == sorted(admits)
    # A small request behind a large one is not sent before it, though the bucket refills to its
    # cost sooner.
    assert granted[1].admit_at >= granted[0].admit_at


async def test_a_cancelled_last_grant_does_not_hold_the_next_one_back(client: aioredis.Redis, prefix: str) -> None:
    a, b, _ = replicas(client, prefix)
    await learnt(a, 0.0, rate=100.0)
    queued = await a.reserve(200.0)  # 2 s
    assert queued.wait_s == pytest.approx(2.0, abs=0.02)
    await a.cancel(queued)
    assert (await b.reserve(50.0)).wait_s == pytest.approx(0.5, abs=0.02)


async def test_a_request_larger_than_the_reported_bucket_is_refused(client: aioredis.Redis, prefix: str) -> None:
    a, b, _ = replicas(client, prefix)
    first = await a.reserve(10.0)
    await a.settle(first, report(990.0, actual=10.0, maximum=1000.0, rate=50.0))
    with pytest.raises(ConnectorError) as info:
        await b.reserve(1200.0)
    assert info.value.kind is ErrorKind.INVALID_REQUEST
    assert "1000" in info.value.message


# -- re-sync ----------------------------------------------------------------------------------------
async def test_a_report_counts_what_other_replicas_have_in_flight(client: aioredis.Redis, prefix: str) -> None:
    a, b, _ = replicas(client, prefix)
    await learnt(a, 1000.0)
    mine = await a.reserve(100.0)
    await b.reserve(150.0)  # another replica's, still in flight
    await a.settle(mine, report(880.0, actual=100.0, rate=SLOW))
    assert tokens(a) == pytest.approx(880.0 - 150.0, abs=0.5)


async def test_a_report_counts_what_another_replica_closed_since_its_request_was_sent(
    client: aioredis.Redis, prefix: str
) -> None:
    """r (replica a) and s (replica b) go out together; s reaches Shopify first, r's answer comes
    back first. s's report does not count r, which closed while s was out."""
    a, b, _ = replicas(client, prefix)
    await learnt(a, 1000.0)
    r = await a.reserve(100.0)
    s = await b.reserve(100.0)
    await a.settle(r, report(860.0, actual=40.0, rate=SLOW))  # Shopify ran s (100), then r (40)
    assert tokens(a) == pytest.approx(860.0 - 100.0, abs=0.5)  # s still out: counted, maybe twice
    await b.settle(s, report(900.0, actual=100.0, rate=SLOW))  # s's answer, generated before r ran
    assert tokens(b) == pytest.approx(900.0 - 40.0, abs=0.5)


async def test_answers_in_order_are_not_counted_twice(client: aioredis.Redis, prefix: str) -> None:
    a, b, _ = replicas(client, prefix)
    await learnt(a, 1000.0)
    r = await a.reserve(100.0)
    s = await b.reserve(100.0)
    await a.settle(r, report(900.0, actual=100.0, rate=SLOW))
    await b.settle(s, report(800.0, actual=100.0, rate=SLOW))  # r's report, higher, says it ran first
    assert tokens(b) == pytest.approx(800.0, abs=0.5)


async def test_requested_minus_actual_is_refunded_without_a_bucket_report(client: aioredis.Redis, prefix: str) -> None:
    a, _, _ = replicas(client, prefix)
    await learnt(a, 1000.0)
    r = await a.reserve(252.0)
    await a.settle(r, RateHint(available=0.0, maximum=0.0, restore_per_s=0.0, actual_cost=12.0))
    assert tokens(a) == pytest.approx(1000.0 - 12.0, abs=0.5)


# -- three replicas of the connector against one shop ----------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("level", [1.0, 0.3], ids=["full", "30pc-left"])
async def test_three_cold_replicas_of_mixed_cost_are_never_throttled(tmp_path: Path, prefix: str, level: float) -> None:
    """16 callers dealt among 3 replicas, each with its own connector, limiter and line, one shop.
    The shop's bucket (1000 points, 500/s: not the Standard plan the knobs assume) is unknown to all
    of them; with ``level`` 0.3 another client of the app has spent 70 % of it. The plain shared
    bucket burst the knobs' 2000 points into it at once."""
    fake = ShopifyFake(restore_rate=500.0, bucket_size=1000.0, clock=asyncio.get_running_loop().time)
    if level < 1.0:
        await spend_down_to(fake, level * fake.bucket_size)
    settings = make_settings(
        tmp_path,
        shopify_shop=SHOP,
        shopify_access_token=DEFAULT_TOKEN,
        shopify={"deadline": 60.0},
        redis_url=SHARED_REDIS_URL,
        redis_prefix=prefix,
        replicas=3,
    )
    rng = random.Random(16)
    limits = [rng.randint(20, 250) for _ in range(16)]
    async with AsyncExitStack() as stack:
        connectors = [
            (
                await stack.enter_async_context(
                    open_runtime(
                        settings,
                        connectors=[ShopifyConnector],
                        transports={"shopify": InProcessTransport(fake.app)},
                        metrics=Metrics(),
                        store=EmbeddedStore(None),
                    )
                )
            ).registry.get("shopify")
            for _ in range(3)
        ]
        pages = await asyncio.gather(
            *(connectors[n % 3].call("list_products", {"limit": limit}) for n, limit in enumerate(limits))
        )
    assert [len(page.data.items) for page in pages] == limits
    assert fake.cost.throttled == 0
