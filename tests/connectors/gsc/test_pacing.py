"""The Search Console limiter alone, on a fake clock: per-minute budgets, the daily inspection
budget, and throttles holding a category back."""

from __future__ import annotations

import datetime as dt
from collections import deque

import pytest

from storelink.auth.tokens import WallClock
from storelink.clock import FakeClock
from storelink.connectors.gsc.errors import GscThrottleHint
from storelink.connectors.gsc.pacing import INSPECTIONS_PER_DAY, GscLimiter

ANCHOR = dt.datetime(2026, 11, 25, 18, 0, tzinfo=dt.UTC).timestamp()  # 10:00 in Los Angeles


# An operation of each category: the limiter takes the category from the operation's name.
OPERATION = {"search_analytics": "search_analytics", "inspection": "inspect_url", "other": "list_sites"}


def limiter(clock: FakeClock) -> GscLimiter:
    return GscLimiter(clock=clock, wall=WallClock(clock, anchor=ANCHOR), rate=20.0, burst=20.0)


async def admitted_per_window(lim: GscLimiter, clock: FakeClock, category: str, n: int) -> int:
    """Reserve ``n`` calls back to back (each sent when its wait is over); the most sent in any 60 s."""
    sends: list[float] = []
    for _ in range(n):
        r = await lim.reserve(1, operation=OPERATION[category])
        sends.append(clock.now() + r.wait_s)
    window: deque[float] = deque()
    most = 0
    for t in sends:
        window.append(t)
        while window[0] <= t - 60:
            window.popleft()
        most = max(most, len(window))
    return most


@pytest.mark.parametrize(("category", "limit"), [("search_analytics", 1200), ("inspection", 600), ("other", 200)])
async def test_no_minute_admits_more_than_the_limit(category: str, limit: int) -> None:
    clock = FakeClock()
    lim = limiter(clock)
    assert limit - 25 <= await admitted_per_window(lim, clock, category, limit * 3) <= limit


async def test_other_requests_burst_at_most_20_in_a_second() -> None:
    clock = FakeClock()
    lim = limiter(clock)
    waits = [(await lim.reserve(1, operation="list_sitemaps")).wait_s for _ in range(25)]
    assert waits[:20] == [0] * 20 and all(w > 0 for w in waits[20:])


async def test_categories_do_not_share_budgets() -> None:
    clock = FakeClock()
    lim = limiter(clock)
    for _ in range(30):
        await lim.reserve(1, operation="list_sites")
    assert (await lim.reserve(1, operation="search_analytics")).wait_s == 0


async def test_daily_inspections_stop_until_midnight_pacific() -> None:
    clock = FakeClock()
    lim = limiter(clock)
    for _ in range(INSPECTIONS_PER_DAY):
        r = await lim.reserve(1, operation="inspect_url")
        clock.advance(r.wait_s)
        await lim.settle(r, None)
    over = await lim.reserve(1, operation="inspect_url")
    # 2,000 at ≤ 600 a minute took a few minutes; midnight in Los Angeles is ~14 hours away.
    assert 13 * 3600 < over.wait_s <= 14 * 3600
    await lim.cancel(over)
    assert lim.inspections_today == INSPECTIONS_PER_DAY


async def test_a_throttle_holds_its_category_back() -> None:
    clock = FakeClock()
    lim = limiter(clock)
    r = await lim.reserve(1, operation="search_analytics")
    hint = GscThrottleHint(available=0, maximum=0, restore_per_s=0, category="search_analytics", blocked_s=900)
    await lim.settle(r, hint)
    assert (await lim.reserve(1, operation="search_analytics")).wait_s == pytest.approx(900)
    assert (await lim.reserve(1, operation="list_sites")).wait_s == 0
    clock.advance(900)
    assert (await lim.reserve(1, operation="search_analytics")).wait_s == 0
