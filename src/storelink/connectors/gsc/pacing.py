"""Pacing to Search Console's usage limits (api-facts.md §3.5): the :class:`GscLimiter`.

Search Console reports no quota state, so the model is local, one budget per resource, all for
the one site a connector serves and the one user its credentials are:

==================  =========================================  ====================================
category            limit (per site / per user)                 local model
==================  =========================================  ====================================
search_analytics    1,200 queries per minute                    token bucket, burst ``RATE_BURST``
                                                                (20), rate so that any 60 s admits
                                                                at most 1,200
inspection          600 per minute, 2,000 per day per site     token bucket (10, 590/60 s) and a
                                                                day counter reset at midnight Pacific
other (sites,       20 per second, 200 per minute per user     token bucket (20, 180/60 s)
sitemaps)
==================  =========================================  ====================================

A throttling answer (:class:`~storelink.connectors.gsc.errors.GscThrottleHint`) holds its
category back for the wait the classifier computed; the daily inspection budget, once spent,
holds inspections until midnight Pacific without asking. The per-project limits (40,000 QPM,
30 M per day) are far above what one site's connector can send and are not modelled. ``reserve``
takes each attempt's category from its operation (:func:`category_of`).

Shared by replicas (issue 10), the budgets live in Redis:
:class:`~storelink.connectors.gsc.shared_quota.SharedGscLimiter` builds on this limiter, which
knows nothing of it; whoever builds this limiter says how it is shared (``shared_form``).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from storelink.clock import Clock
from storelink.connectors.ga4.errors import PACIFIC, seconds_to_pacific_midnight
from storelink.connectors.gsc.errors import GscThrottleHint
from storelink.errors import Headroom
from storelink.resilience.classify import RateHint
from storelink.resilience.deadline import Deadline
from storelink.resilience.limiter import RateLimiter, Reservation, TokenBucketLimiter

if TYPE_CHECKING:
    from storelink.resilience.shared import SharedState

    # How a limiter is shared by the replicas: (the local limiter, the shared state, its key) -> the shared one.
    SharedForm = Callable[["GscLimiter", SharedState, str], RateLimiter]

__all__ = ["CATEGORIES", "OPERATION_CATEGORIES", "GscLimiter", "category_of"]

SEARCH_ANALYTICS_PER_MINUTE = 1200
INSPECTIONS_PER_MINUTE = 600
INSPECTIONS_PER_DAY = 2000
OTHER_PER_MINUTE = 200
OTHER_PER_SECOND = 20
CATEGORIES = ("search_analytics", "inspection", "other")

# Each operation's category; any other draws on search_analytics.
OPERATION_CATEGORIES = {
    "search_analytics": "search_analytics",
    "inspect_url": "inspection",
    "list_sites": "other",
    "list_sitemaps": "other",
}


def category_of(operation: str) -> str:
    """The budget an operation's requests draw on (one of :data:`CATEGORIES`)."""
    return OPERATION_CATEGORIES.get(operation, "search_analytics")


def per_minute_bucket(per_minute: float, burst: float, clock: Clock, unit: str) -> TokenBucketLimiter:
    """A bucket whose every 60 s window admits at most ``per_minute`` (burst + rate·60 ≤ per_minute)."""
    burst = min(burst, per_minute / 2)
    return TokenBucketLimiter(rate=(per_minute - burst) / 60.0, capacity=burst, clock=clock, unit=unit)


@dataclass(slots=True)
class _Held:
    category: str
    inner: Reservation


class GscLimiter:
    def __init__(
        self,
        *,
        clock: Clock,
        wall: Callable[[], float],
        rate: float,
        burst: float,
        shared_form: SharedForm | None = None,
    ) -> None:
        self.clock = clock
        self.wall = wall
        self.shared_form = shared_form
        analytics_per_minute = min(SEARCH_ANALYTICS_PER_MINUTE, rate * 60.0 + burst)
        self.buckets: dict[str, RateLimiter] = {
            "search_analytics": per_minute_bucket(analytics_per_minute, burst, clock, "queries"),
            "inspection": per_minute_bucket(INSPECTIONS_PER_MINUTE, 10, clock, "inspections"),
            "other": per_minute_bucket(OTHER_PER_MINUTE, OTHER_PER_SECOND, clock, "requests"),
        }
        self.inspections_per_day = INSPECTIONS_PER_DAY
        self._blocked_until = dict.fromkeys(CATEGORIES, 0.0)
        self._inspections_day: dt.date | None = None
        self.inspections_today = 0
        self._held: dict[int, _Held] = {}
        self._ids = itertools.count(1)

    def pacific_today(self) -> dt.date:
        return dt.datetime.fromtimestamp(self.wall(), PACIFIC).date()

    async def reserve(self, cost: float, *, operation: str = "", deadline: Deadline | None = None) -> Reservation:
        category = category_of(operation)
        inner = await self.buckets[category].reserve(cost, operation=operation, deadline=deadline)
        waits = [inner.wait_s, await self.hold_wait(category)]
        if category == "inspection" and not await self.take_inspection():
            waits.append(seconds_to_pacific_midnight(self.wall()))
        reservation = Reservation(cost=cost, wait_s=max(0.0, *waits), id=next(self._ids))
        self._held[reservation.id] = _Held(category, inner)
        return reservation

    async def cancel(self, reservation: Reservation) -> None:
        held = self._held.pop(reservation.id, None)
        if held is not None:
            await self.buckets[held.category].cancel(held.inner)
            if held.category == "inspection" and reservation.wait_s < 3600:
                await self.give_back_inspection()

    async def settle(self, reservation: Reservation, hint: RateHint | None) -> None:
        held = self._held.pop(reservation.id, None)
        if held is not None:
            await self.buckets[held.category].settle(held.inner, None)
        if isinstance(hint, GscThrottleHint) and hint.blocked_s > 0:
            category = hint.category if hint.category in self._blocked_until else (held.category if held else "other")
            await self.hold(category, hint.blocked_s)

    def headroom(self) -> Headroom | None:
        return self.buckets["search_analytics"].headroom()

    # -- what a shared limiter keeps in Redis instead (gsc/shared_quota.py) ------------------------
    async def take_inspection(self) -> bool:
        """Count one URL inspection against today's (Pacific) budget; False when it is spent."""
        today = self.pacific_today()
        if today != self._inspections_day:
            self._inspections_day, self.inspections_today = today, 0
        if self.inspections_today + 1 > self.inspections_per_day:
            return False
        self.inspections_today += 1
        return True

    async def give_back_inspection(self) -> None:
        self.inspections_today = max(0, self.inspections_today - 1)

    async def hold(self, category: str, seconds: float) -> None:
        """Send nothing of ``category`` for ``seconds`` (the upstream said so)."""
        self._blocked_until[category] = max(self._blocked_until[category], self.clock.now() + seconds)

    async def hold_wait(self, category: str) -> float:
        return max(0.0, self._blocked_until[category] - self.clock.now())

    def shared_with(self, state: SharedState, key: str) -> RateLimiter:
        """This limiter with the site's budgets shared by the replicas (issue 10), as its
        ``shared_form`` builds it; without one it stays this replica's alone."""
        return self if self.shared_form is None else self.shared_form(self, state, key)
