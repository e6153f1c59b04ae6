"""Pacing to a shop's cost bucket: a cold store learns its bucket before it bursts, requests are
sent in arrival order whatever their cost, every report re-syncs the model, refunds come back.

Time is the event loop's under ``looptime`` (waits take no real time and are exact); ``send`` does
what the pipeline does with a reservation (wait it out, give it back when cancelled or when the
wait outlasts the deadline), so the same scenario can be run against any RateLimiter."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest

from storelink.clock import Clock, FakeClock, LoopClock
from storelink.connectors.shopify.client import ShopifyConnector
from storelink.connectors.shopify.pacing import ShopifyCostLimiter, cost_limiter
from storelink.connectors.shopify.queries import PRODUCTS
from storelink.errors import ConnectorError, ErrorKind
from storelink.fakes.base import InProcessTransport
from storelink.fakes.shopify import DEFAULT_TOKEN, ShopifyFake
from storelink.observability.metrics import Metrics
from storelink.resilience.classify import RateHint
from storelink.resilience.deadline import Deadline
from storelink.resilience.limiter import RateLimiter, Reservation
from storelink.runtime import Runtime, open_runtime
from storelink.settings import ShopifyKnobs
from storelink.store import EmbeddedStore
from tests.conftest import make_settings

pytestmark = pytest.mark.looptime

SHOP = "apex-demo.myshopify.com"


def limiter_of(clock: Clock, *, probe_lease_s: float = 30.0) -> ShopifyCostLimiter:
    """What the connector builds from its knobs (Standard: 100 points/s, a 2000-point bucket)."""
    limiter = cost_limiter(ShopifyKnobs(deadline=probe_lease_s), clock=clock)
    assert isinstance(limiter, ShopifyCostLimiter)
    return limiter


def report(available: float, *, actual: float, maximum: float = 2000.0, rate: float = 100.0) -> RateHint:
    """``extensions.cost`` as ``throttle_hint`` reads it."""
    return RateHint(available=available, maximum=maximum, restore_per_s=rate, actual_cost=actual)


async def send(limiter: RateLimiter, cost: float, *, deadline: Deadline | None = None) -> tuple[float, Reservation]:
    """Reserve and wait as the pipeline does; returns the loop time the request would be sent at."""
    reservation = await limiter.reserve(cost, operation="list_products", deadline=deadline)
    if reservation.wait_s > 0:
        if deadline is not None and not deadline.allows(reservation.wait_s):
            await limiter.cancel(reservation)
            raise ConnectorError(ErrorKind.RATE_LIMITED, "longer than the deadline", retry_after_s=reservation.wait_s)
        try:
            await asyncio.sleep(reservation.wait_s)
        except BaseException:
            await limiter.cancel(reservation)
            raise
    return asyncio.get_running_loop().time(), reservation


def now() -> float:
    return asyncio.get_running_loop().time()


async def learnt(limiter: RateLimiter, available: float) -> None:
    """One request answered: the shop's bucket holds ``available`` after it."""
    _, first = await send(limiter, 10.0)
    await limiter.settle(first, report(available, actual=10.0))


# -- cold start -----------------------------------------------------------------------------------
async def test_cold_start_sends_one_request_alone_until_the_first_report() -> None:
    limiter = limiter_of(LoopClock())
    start = now()
    sent_at, first = await send(limiter, 52.0)
    assert sent_at == start
    others = [asyncio.create_task(send(limiter, cost)) for cost in (22.0, 252.0, 102.0)]
    await asyncio.sleep(5.0)  # the first answer is slow to come
    assert not any(task.done() for task in others)
    await limiter.settle(first, report(1948.0, actual=52.0))
    assert [at for at, _ in await asyncio.gather(*others)] == pytest.approx([start + 5.0] * 3)


async def test_a_first_request_that_fails_lets_the_next_one_probe() -> None:
    limiter = limiter_of(LoopClock())
    start = now()
    _, first = await send(limiter, 52.0)
    second = asyncio.create_task(send(limiter, 22.0))
    third = asyncio.create_task(send(limiter, 252.0))
    await asyncio.sleep(1.0)
    await limiter.settle(first, None)  # a 503 without extensions.cost: still no bucket known
    at, probe = await second
    assert at == pytest.approx(start + 1.0)
    await asyncio.sleep(1.0)
    assert not third.done()
    await limiter.cancel(probe)  # never sent (its caller was cancelled)
    at, _ = await third
    assert at == pytest.approx(start + 2.0)


async def test_a_probe_never_closed_is_replaced_after_its_lease() -> None:
    limiter = limiter_of(LoopClock(), probe_lease_s=10.0)
    start = now()
    await send(limiter, 52.0)  # its caller never settles nor cancels it
    at, _ = await send(limiter, 22.0)
    assert at == pytest.approx(start + 10.0)


async def test_the_deadline_is_kept_while_held_at_cold_start() -> None:
    limiter = limiter_of(LoopClock())
    start = now()
    _, first = await send(limiter, 52.0)
    behind = asyncio.create_task(send(limiter, 102.0))
    with pytest.raises(ConnectorError) as info:
        await send(limiter, 22.0, deadline=Deadline.after(LoopClock(), 3.0))
    assert info.value.kind is ErrorKind.RATE_LIMITED
    assert now() == pytest.approx(start + 3.0)
    await limiter.settle(first, report(1948.0, actual=52.0))
    at, _ = await behind
    assert at == pytest.approx(start + 3.0)
    assert limiter.waiting == 0


async def test_a_smaller_reported_bucket_is_learnt_before_the_burst() -> None:
    """The knobs say Standard (2000); the shop is on 50/s with 1000, and another client of the app
    has left 400. Cumulative cost sent never outruns that bucket."""
    limiter = limiter_of(LoopClock())
    start = now()
    _, first = await send(limiter, 252.0)
    others = [asyncio.create_task(send(limiter, 252.0)) for _ in range(4)]
    await asyncio.sleep(0.05)
    await limiter.settle(first, report(148.0, actual=252.0, maximum=1000.0, rate=50.0))
    times = sorted(at - start for at, _ in await asyncio.gather(*others))
    assert (limiter.capacity, limiter.rate) == (1000.0, 50.0)
    for n, at in enumerate(times, start=2):
        assert 252.0 * n <= 400.0 + 50.0 * at + 1e-6


async def test_a_larger_reported_bucket_is_used_at_once() -> None:
    limiter = limiter_of(LoopClock())
    start = now()
    _, first = await send(limiter, 250.0)
    others = [asyncio.create_task(send(limiter, 250.0)) for _ in range(12)]  # 3,250 points in all
    await asyncio.sleep(0.05)
    await limiter.settle(first, report(19750.0, actual=250.0, maximum=20000.0, rate=1000.0))
    assert [at for at, _ in await asyncio.gather(*others)] == pytest.approx([start + 0.05] * 12)


async def test_a_waiter_costing_more_than_the_reported_bucket_is_refused() -> None:
    limiter = limiter_of(LoopClock())
    _, first = await send(limiter, 52.0)
    too_big = asyncio.create_task(send(limiter, 1000.0))
    await asyncio.sleep(0.05)
    await limiter.settle(first, report(400.0, actual=52.0, maximum=500.0, rate=25.0))
    with pytest.raises(ConnectorError) as info:
        await too_big
    assert info.value.kind is ErrorKind.INVALID_REQUEST


# -- order ----------------------------------------------------------------------------------------
async def test_waiters_go_in_arrival_order_whatever_their_cost() -> None:
    """A large query waits for refill; then a refund frees points. The small query that arrived
    after it is not sent before it."""
    limiter = limiter_of(LoopClock())
    await learnt(limiter, 300.0)
    start = now()
    _, in_flight = await send(limiter, 300.0)
    large = asyncio.create_task(send(limiter, 250.0))
    await asyncio.sleep(0.1)
    await limiter.settle(in_flight, report(260.0, actual=50.0))  # 250 refunded, 10 refilled
    small = asyncio.create_task(send(limiter, 20.0))
    (large_at, _), (small_at, _) = await asyncio.gather(large, small)
    assert large_at == pytest.approx(start + 2.5, abs=0.01)
    assert small_at >= large_at


async def test_a_stream_of_small_queries_does_not_starve_a_large_one() -> None:
    limiter = limiter_of(LoopClock())
    await learnt(limiter, 0.0)
    start = now()
    large = asyncio.create_task(send(limiter, 250.0))
    smalls = []
    for _ in range(10):
        await asyncio.sleep(0.1)
        smalls.append(asyncio.create_task(send(limiter, 10.0)))
    large_at, _ = await large
    assert large_at == pytest.approx(start + 2.5, abs=0.01)
    assert min(at for at, _ in await asyncio.gather(*smalls)) >= large_at


async def test_a_cancelled_reservation_does_not_let_a_later_one_pass_those_still_waiting() -> None:
    limiter = limiter_of(LoopClock())
    await learnt(limiter, 0.0)
    large = asyncio.create_task(send(limiter, 250.0))
    small = asyncio.create_task(send(limiter, 20.0))
    await asyncio.sleep(1.0)
    large.cancel()
    with pytest.raises(asyncio.CancelledError):
        await large
    assert limiter.tokens == pytest.approx(-270.0 + 100.0 + 250.0)  # its 250 points came back
    later_at, _ = await send(limiter, 20.0)  # the model holds 80: enough, yet small is still due first
    small_at, _ = await small
    assert later_at >= small_at


async def test_a_wait_past_the_deadline_is_refused_at_once() -> None:
    limiter = limiter_of(LoopClock())
    await learnt(limiter, 0.0)
    start = now()
    with pytest.raises(ConnectorError) as info:
        await send(limiter, 250.0, deadline=Deadline.after(LoopClock(), 1.0))
    assert info.value.kind is ErrorKind.RATE_LIMITED
    assert info.value.retry_after_s == pytest.approx(2.5, abs=0.01)
    assert now() == start
    assert limiter.tokens == pytest.approx(0.0)  # nothing kept


# -- re-sync and refunds (no waiting: a clock that moves only when told) -------------------------
async def test_a_report_counts_what_is_still_in_flight() -> None:
    clock = FakeClock()
    limiter = limiter_of(clock)
    await learnt(limiter, 1000.0)
    clock.advance(1e-6)  # what follows happens after that answer
    _, a = await send(limiter, 100.0)
    await send(limiter, 150.0)  # b, still in flight
    await limiter.settle(a, report(880.0, actual=100.0))  # b is not in Shopify's figure yet
    assert limiter.tokens == pytest.approx(880.0 - 150.0)


async def test_a_report_counts_what_was_closed_since_its_request_was_sent() -> None:
    """a and b go out together; b reaches Shopify first, a's answer comes back first. b's report
    does not count a, which closed while b was out: the model takes a's cost off it."""
    clock = FakeClock()
    limiter = limiter_of(clock)
    await learnt(limiter, 1000.0)
    clock.advance(1e-6)  # what follows happens after that answer
    _, a = await send(limiter, 100.0)
    _, b = await send(limiter, 100.0)
    await limiter.settle(a, report(860.0, actual=40.0))  # Shopify ran b (100), then a (40)
    assert limiter.tokens == pytest.approx(860.0 - 100.0)  # b still out: counted, maybe twice
    await limiter.settle(b, report(900.0, actual=100.0))  # b's answer, generated before a ran
    assert limiter.tokens == pytest.approx(900.0 - 40.0)


async def test_answers_in_order_are_not_counted_twice() -> None:
    """a and b go out together and Shopify runs them in that order: b's report already counts a,
    whose own report (higher than b's by more than a refill) says it ran first."""
    clock = FakeClock()
    limiter = limiter_of(clock)
    await learnt(limiter, 1000.0)
    clock.advance(1e-6)  # what follows happens after that answer
    _, a = await send(limiter, 100.0)
    _, b = await send(limiter, 100.0)
    await limiter.settle(a, report(900.0, actual=100.0))
    assert limiter.tokens == pytest.approx(900.0 - 100.0)
    await limiter.settle(b, report(800.0, actual=100.0))
    assert limiter.tokens == pytest.approx(800.0)


async def test_requested_minus_actual_is_refunded_without_a_bucket_report() -> None:
    clock = FakeClock()
    limiter = limiter_of(clock)
    await learnt(limiter, 1000.0)
    clock.advance(1e-6)  # what follows happens after that answer
    _, r = await send(limiter, 252.0)
    await limiter.settle(r, RateHint(available=0.0, maximum=0.0, restore_per_s=0.0, actual_cost=12.0))
    assert limiter.tokens == pytest.approx(1000.0 - 12.0)


async def test_cancel_returns_the_tokens() -> None:
    clock = FakeClock()
    limiter = limiter_of(clock)
    await learnt(limiter, 1000.0)
    clock.advance(1e-6)  # what follows happens after that answer
    _, r = await send(limiter, 252.0)
    assert limiter.tokens == pytest.approx(748.0)
    await limiter.cancel(r)
    assert limiter.tokens == pytest.approx(1000.0)
    headroom = limiter.headroom()
    assert (headroom.available, headroom.maximum, headroom.unit) == (1000.0, 2000.0, "points")


# -- the connector against the fake's own bucket --------------------------------------------------
@asynccontextmanager
async def live_against(fake: ShopifyFake, tmp_path: Path, **knobs: Any) -> AsyncIterator[Runtime]:
    settings = make_settings(tmp_path, shopify_shop=SHOP, shopify_access_token=DEFAULT_TOKEN, shopify=knobs)
    async with open_runtime(
        settings,
        connectors=[ShopifyConnector],
        transports={"shopify": InProcessTransport(fake.app)},
        metrics=Metrics(),
        store=EmbeddedStore(None),
    ) as rt:
        yield rt


async def spend_down_to(fake: ShopifyFake, level: float) -> None:
    """Another client of the same app spends the bucket down to about ``level``."""
    transport = InProcessTransport(fake.app)
    async with httpx2.AsyncClient(transport=transport, base_url=f"https://{SHOP}") as other:
        available = fake.bucket_size
        while available - level >= 10:
            response = await other.post(
                "/admin/api/2026-10/graphql.json",
                json={"query": PRODUCTS, "variables": {"first": int(min(250, available - level - 2))}},
                headers={"X-Shopify-Access-Token": DEFAULT_TOKEN},
            )
            available = response.json()["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"]


@pytest.mark.parametrize(
    ("plan", "level"),
    [((50.0, 1000.0), 1.0), ((100.0, 2000.0), 0.3)],
    ids=["older-standard-50-1000", "standard-30pc-left"],
)
async def test_sixteen_cold_callers_of_mixed_cost_are_never_throttled(
    tmp_path: Path, plan: tuple[float, float], level: float
) -> None:
    rate, bucket = plan
    fake = ShopifyFake(restore_rate=rate, bucket_size=bucket, clock=asyncio.get_running_loop().time)
    if level < 1.0:
        await spend_down_to(fake, level * bucket)
    rng = random.Random(16)
    limits = [rng.randint(20, 250) for _ in range(16)]
    async with live_against(fake, tmp_path, deadline=120.0) as rt:
        connector = rt.registry.get("shopify")
        pages = await asyncio.gather(*(connector.call("list_products", {"limit": n}) for n in limits))
    assert [len(page.data.items) for page in pages] == limits
    assert fake.cost.throttled == 0
