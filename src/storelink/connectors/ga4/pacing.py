"""Pacing to a GA4 property's quotas (api-facts.md §2.4): the :class:`Ga4QuotaLimiter`.

Four things are paced, all per property (one connector serves one property):

* **Concurrency** (10 requests in flight): the pipeline's bulkhead (``STORELINK_GA4_MAX_IN_FLIGHT``).
* **Tokens** (per day, per hour, per project per hour): every report answers with what it cost and
  what remains (``propertyQuota``), which is authoritative. Between answers the model subtracts
  what calls in flight have reserved (an estimate learned from the costs reported). A call that
  would take a bucket below its floor (1 % of it, at least 20 tokens) is held back until that
  bucket's window resets: the next full hour, or midnight Pacific for the daily one. Holding back
  matters: once *any* bucket is empty every request to the property fails.
* **Server errors** (10 per project per hour): each 5xx spends one, and running out locks the
  property for everyone. The limiter counts the 5xx it sees over a rolling hour and, taking the
  last reported figure when lower, admits a new attempt only while even the failure of *every*
  attempt in flight would leave one spare. Healthy, that allows 9 attempts at once; as errors
  accrue, fewer; with one left, none until the oldest error is an hour old. Attempts that would
  have to wait for one in flight to return wait (within the call's deadline), the others are
  refused at once with the wait as ``retry_after_s``. The retry budget (the connector's) is sized
  to the same quota.
* **RESOURCE_EXHAUSTED**: when the server says a bucket is empty, every call is held back until
  the window the classifier computed has passed.

A local token bucket (``STORELINK_GA4_RATE_LIMIT`` / ``_RATE_BURST`` requests per second) smooths
bursts on top. Realtime reports have their own, equal token buckets: ``reserve`` is told each
attempt's operation and takes its category from it (:func:`category_of`), and is told the call's
deadline, which bounds a wait for a turn.

Shared by replicas (issue 10), the property's state lives in Redis:
:class:`~storelink.connectors.ga4.shared_quota.SharedGa4Limiter` wraps this limiter, which knows
nothing of it; whoever builds this limiter says how it is shared (``shared_form``).
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from storelink.clock import Clock
from storelink.connectors.ga4.errors import (
    CONCURRENCY_WAIT_S,
    TOKEN_BUCKETS,
    Ga4QuotaHint,
    seconds_to_next_hour,
    seconds_to_pacific_midnight,
)
from storelink.errors import ConnectorError, ErrorKind, Headroom
from storelink.resilience.classify import RateHint
from storelink.resilience.deadline import Deadline
from storelink.resilience.limiter import RateLimiter, Reservation, TokenBucketLimiter

if TYPE_CHECKING:
    from storelink.resilience.shared import SharedState

    # How a limiter is shared by the replicas: (the local limiter, the shared state, its key) -> the shared one.
    SharedForm = Callable[["Ga4QuotaLimiter", SharedState, str], RateLimiter]

__all__ = [
    "REALTIME_OPERATIONS",
    "STANDARD_QUOTAS",
    "Ga4QuotaLimiter",
    "category_of",
]

# Standard property; Analytics 360 is ten times larger (five for concurrency and errors). The
# limiter raises a maximum when a report shows more (consumed + remaining), so 360 is learned.
STANDARD_QUOTAS: dict[str, float] = {
    "tokensPerDay": 200_000,
    "tokensPerHour": 40_000,
    "tokensPerProjectPerHour": 14_000,
    "concurrentRequests": 10,
    "serverErrorsPerProjectPerHour": 10,
    "potentiallyThresholdedRequestsPerHour": 120,
}
ERROR_WINDOW_S = 3600.0
DEFAULT_COST = 10.0  # "most requests cost fewer than 10 tokens": a safe first guess


# The operations that run realtime reports, which have token buckets of their own.
REALTIME_OPERATIONS = frozenset({"run_realtime_report"})


def category_of(operation: str) -> str:
    """The quota category an operation's requests draw on: ``realtime`` or ``core``."""
    return "realtime" if operation in REALTIME_OPERATIONS else "core"


def _whole() -> float:
    return 1.0


@dataclass(slots=True)
class _Bucket:
    maximum: float
    remaining: float
    resets_at: float  # on the monotonic clock


@dataclass(slots=True)
class _Category:
    buckets: dict[str, _Bucket] = field(default_factory=dict)
    blocked_until: float = 0.0
    cost_estimate: float = DEFAULT_COST


@dataclass(slots=True)
class _Held:
    category: str
    cost: float
    rate: Reservation


class Ga4QuotaLimiter:
    """A :class:`~storelink.resilience.limiter.RateLimiter` for one GA4 property."""

    def __init__(
        self,
        *,
        clock: Clock,
        wall: Callable[[], float],
        rate: float,
        burst: float,
        default_deadline_s: float = 30.0,
        quotas: dict[str, float] | None = None,
        shared_form: SharedForm | None = None,
    ) -> None:
        self.clock = clock
        self.wall = wall
        self._rate = TokenBucketLimiter(rate=rate, capacity=burst, clock=clock)
        self.default_deadline_s = default_deadline_s  # for a reservation that names no deadline
        self.shared_form = shared_form
        # The part of the property's concurrency, error and token budgets this limiter may use
        # alone: all of it, except for a replica whose shared state is unreachable (1/replicas).
        self.share: Callable[[], float] = _whole
        self.quotas = dict(STANDARD_QUOTAS if quotas is None else quotas)
        self._categories: dict[str, _Category] = {}
        self._held: dict[int, _Held] = {}
        self._ids = itertools.count(1)
        self._errors: deque[float] = deque()  # when each 5xx was seen
        self._reported_errors: tuple[float, float] | None = None  # (remaining, when)
        self._changed = asyncio.Condition()

    # -- what the connector and the tests read -----------------------------------------------------
    def estimate(self, category: str = "core") -> float:
        """Tokens a request of ``category`` is expected to cost (learned from the reports)."""
        return self._category(category).cost_estimate

    def remaining(self, bucket: str, category: str = "core") -> float:
        state = self._category(category)
        self._roll(state)
        return state.buckets[bucket].remaining

    @property
    def in_flight(self) -> int:
        return len(self._held)

    def server_errors_left(self) -> int:
        now = self.clock.now()
        while self._errors and now - self._errors[0] >= ERROR_WINDOW_S:
            self._errors.popleft()
        left = self.quotas["serverErrorsPerProjectPerHour"] - len(self._errors)
        if self._reported_errors is not None:
            reported, at = self._reported_errors
            if now - at < ERROR_WINDOW_S:
                since = sum(1 for t in self._errors if t > at)
                left = min(left, reported - since)
            else:
                self._reported_errors = None
        return int(left)

    # -- the RateLimiter protocol ---------------------------------------------------------------------
    async def reserve(self, cost: float, *, operation: str = "", deadline: Deadline | None = None) -> Reservation:
        category = category_of(operation)
        await self._admit_errors(deadline)
        state = self._category(category)
        self._roll(state)
        now = self.clock.now()
        waits = [max(0.0, state.blocked_until - now)]
        held_cost = sum(h.cost for h in self._held.values() if h.category == category)
        share = self.share()
        for bucket in state.buckets.values():
            floor = max(20.0, bucket.maximum * 0.01)
            if bucket.remaining * share - held_cost - cost < floor * share:
                waits.append(bucket.resets_at - now)
        rate = await self._rate.reserve(1.0, operation=operation, deadline=deadline)
        waits.append(rate.wait_s)
        reservation = Reservation(cost=cost, wait_s=max(waits), id=next(self._ids))
        self._held[reservation.id] = _Held(category, cost, rate)
        return reservation

    async def cancel(self, reservation: Reservation) -> None:
        held = self._held.pop(reservation.id, None)
        if held is not None:
            await self._rate.cancel(held.rate)
        await self._notify()

    async def settle(self, reservation: Reservation, hint: RateHint | None) -> None:
        held = self._held.pop(reservation.id, None)
        if isinstance(hint, Ga4QuotaHint):
            self._observe(hint, held.category if held else hint.category)
        await self._notify()

    def headroom(self) -> Headroom | None:
        state = self._category("core")
        self._roll(state)
        name, bucket = min(state.buckets.items(), key=lambda item: item[1].remaining)
        return Headroom(available=bucket.remaining, maximum=bucket.maximum, unit=f"tokens ({name})")

    def shared_with(self, state: SharedState, key: str) -> RateLimiter:
        """This limiter with the property's state shared by the replicas (issue 10), as its
        ``shared_form`` builds it; without one it stays this replica's alone."""
        return self if self.shared_form is None else self.shared_form(self, state, key)

    # -- internals ----------------------------------------------------------------------------------
    def _category(self, name: str) -> _Category:
        state = self._categories.get(name)
        if state is None:
            state = _Category()
            for bucket in TOKEN_BUCKETS:
                maximum = self.quotas[bucket]
                state.buckets[bucket] = _Bucket(maximum, maximum, self._resets_at(bucket))
            self._categories[name] = state
        return state

    def _resets_at(self, bucket: str) -> float:
        wall = self.wall()
        span = seconds_to_pacific_midnight(wall) if bucket == "tokensPerDay" else seconds_to_next_hour(wall)
        return self.clock.now() + span

    def _roll(self, state: _Category) -> None:
        now = self.clock.now()
        for name, bucket in state.buckets.items():
            if now >= bucket.resets_at:
                bucket.remaining = bucket.maximum
                bucket.resets_at = self._resets_at(name)

    def _observe(self, hint: Ga4QuotaHint, category: str) -> None:
        now = self.clock.now()
        state = self._category(category)
        self._roll(state)
        if hint.server_error:
            self._errors.append(now)
        for name, reading in hint.buckets.items():
            if name in state.buckets:
                bucket = state.buckets[name]
                bucket.maximum = max(bucket.maximum, reading.consumed + reading.remaining)
                # Answers may arrive out of order: within a window the lowest figure is the latest.
                bucket.remaining = min(bucket.remaining, reading.remaining)
            elif name == "serverErrorsPerProjectPerHour":
                self._reported_errors = (reading.remaining, now)
                self.quotas[name] = max(self.quotas[name], reading.consumed + reading.remaining)
        consumed = max((hint.buckets[b].consumed for b in TOKEN_BUCKETS if b in hint.buckets), default=None)
        if consumed is not None and consumed > 0:
            state.cost_estimate = max(1.0, 0.7 * state.cost_estimate + 0.3 * consumed)
        if hint.hold_s > 0:
            state.blocked_until = max(state.blocked_until, now + hint.hold_s)
            if hint.exhausted in state.buckets:
                state.buckets[hint.exhausted].remaining = 0.0

    def _error_wait(self) -> float:
        """How long until one more server error would fit again, with nothing in flight."""
        now = self.clock.now()
        candidates = []
        if self._errors:
            candidates.append(self._errors[0] + ERROR_WINDOW_S - now)
        if self._reported_errors is not None:
            candidates.append(self._reported_errors[1] + ERROR_WINDOW_S - now)
        return max(1.0, min(candidates)) if candidates else 1.0

    async def _admit_errors(self, deadline: Deadline | None) -> None:
        """Wait until the failure of every attempt in flight plus this one would leave one error spare,
        at most until ``deadline``; refuse at once when even a lone attempt could not (with the wait
        as ``retry_after_s``)."""
        left_s = deadline.remaining() if deadline is not None else self.default_deadline_s
        deadline_at = self.clock.now() + left_s
        while True:
            left = self.server_errors_left()
            allowed = left - 1  # attempts that may fail at once and leave one error spare
            if (share := self.share()) < 1.0:
                # Alone, a replica may spend only its share: every replica may fail its attempts at once.
                allowed = math.floor(allowed * share)
            if len(self._held) + 1 <= allowed:
                return
            if allowed <= 0:
                wait = self._error_wait()
                raise ConnectorError(
                    ErrorKind.RATE_LIMITED,
                    f"GA4 allows {self.quotas['serverErrorsPerProjectPerHour']:.0f} server errors per property per "
                    "hour and this hour's are nearly spent; one more could lock the property for everyone, so "
                    f"storelink holds calls back for {wait:.0f} s. Nothing was sent.",
                    retry_after_s=wait,
                    upstream_code="serverErrorsPerProjectPerHour",
                )
            remaining = deadline_at - self.clock.now()
            try:
                if remaining <= 0:
                    raise TimeoutError
                async with asyncio.timeout(remaining), self._changed:
                    await self._changed.wait()
            except TimeoutError:
                raise ConnectorError(
                    ErrorKind.RATE_LIMITED,
                    "GA4's server-error quota is running low, so storelink sends fewer requests at once; this "
                    "call waited its whole deadline for a turn. Nothing was sent; retry shortly.",
                    retry_after_s=CONCURRENCY_WAIT_S,
                    upstream_code="serverErrorsPerProjectPerHour",
                ) from None

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()
