"""The local token bucket: exact waits, never over its rate, and re-synced by server hints."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storelink.clock import FakeClock
from storelink.errors import ConnectorError, ErrorKind
from storelink.resilience.classify import RateHint
from storelink.resilience.limiter import TokenBucketLimiter


async def test_burst_then_exact_waits() -> None:
    clock = FakeClock()
    limiter = TokenBucketLimiter(rate=10.0, capacity=5.0, clock=clock)
    waits = [(await limiter.reserve(1.0)).wait_s for _ in range(8)]
    assert waits == pytest.approx([0, 0, 0, 0, 0, 0.1, 0.2, 0.3])


async def test_cancel_returns_tokens() -> None:
    clock = FakeClock()
    limiter = TokenBucketLimiter(rate=1.0, capacity=2.0, clock=clock)
    await limiter.reserve(2.0)
    r = await limiter.reserve(1.0)
    assert r.wait_s == pytest.approx(1.0)
    await limiter.cancel(r)
    assert (await limiter.reserve(1.0)).wait_s == pytest.approx(1.0)


async def test_cost_over_capacity_is_refused() -> None:
    limiter = TokenBucketLimiter(rate=1.0, capacity=10.0, clock=FakeClock())
    with pytest.raises(ConnectorError) as info:
        await limiter.reserve(11.0)
    assert info.value.kind is ErrorKind.INVALID_REQUEST


async def test_server_hint_resyncs_the_model() -> None:
    clock = FakeClock()
    limiter = TokenBucketLimiter(rate=10.0, capacity=100.0, clock=clock, unit="points")
    r = await limiter.reserve(50.0)
    await limiter.settle(r, RateHint(available=20.0, maximum=2000.0, restore_per_s=100.0, actual_cost=10.0))
    assert limiter.capacity == 2000.0 and limiter.rate == 100.0
    assert limiter.tokens == pytest.approx(20.0)
    headroom = limiter.headroom()
    assert headroom.available == pytest.approx(20.0) and headroom.unit == "points"


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    rate=st.floats(min_value=0.5, max_value=50.0),
    capacity=st.floats(min_value=1.0, max_value=20.0),
    gaps=st.lists(st.floats(min_value=0.0, max_value=0.5), min_size=1, max_size=80),
    costs=st.lists(st.floats(min_value=0.1, max_value=1.0), min_size=80, max_size=80),
)
def test_never_admits_more_than_rate(rate: float, capacity: float, gaps: list[float], costs: list[float]) -> None:
    """Over any interval [a, b] of admission times, admitted cost ≤ capacity + rate·(b − a)."""

    async def scenario() -> list[tuple[float, float]]:
        clock = FakeClock(start=0.0)
        limiter = TokenBucketLimiter(rate=rate, capacity=capacity, clock=clock)
        admitted: list[tuple[float, float]] = []
        for gap, cost in zip(gaps, costs, strict=False):
            clock.advance(gap)
            r = await limiter.reserve(cost)
            admitted.append((clock.now() + r.wait_s, cost))
        return admitted

    admitted = sorted(asyncio.run(scenario()))
    for i in range(len(admitted)):
        total = 0.0
        for j in range(i, len(admitted)):
            total += admitted[j][1]
            span = admitted[j][0] - admitted[i][0]
            assert total <= capacity + rate * span + 1e-6
