"""Pacing to a shop's cost bucket (GraphQL Admin: points restored per second, a bucket that
Shopify reports on every response as ``extensions.cost.throttleStatus``).

Why a limiter of its own: no well-kept library paces to a bucket the *server* reports (aiolimiter,
limits and pyrate-limiter count on their own clock), and the generic
:class:`~storelink.resilience.limiter.TokenBucketLimiter` is fooled by a live shop in three ways
(``bench/shopify_mixed.py`` measures them):

* it trusts the knobs' plan until the first answer, so a cold start bursts a Standard bucket's
  worth into a shop whose bucket is smaller, or already spent by another client of the same app;
* a wait, once given, is never revised while later ones are computed from a model that refunds
  and reports have moved, so a later (often smaller) request can be sent before an earlier one;
* it takes a report for the bucket as it is when the report arrives, though requests and answers
  overtake each other on the way: one that reached Shopify later is counted in neither the report
  nor the model, and the next request goes into a bucket that is not there.

:class:`ShopifyCostLimiter` keeps the Go-style reservation (the debt is the wait, and the pipeline
sleeps it, so limiter waits stay visible in metrics and reports) and adds what a live shop needs.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from storelink.clock import Clock, sleep_or_until
from storelink.connectors.shopify.shared_pacing import RedisCostBucket, never_admitted
from storelink.errors import ConnectorError, ErrorKind, Headroom
from storelink.resilience.classify import RateHint
from storelink.resilience.deadline import Deadline
from storelink.resilience.limiter import RateLimiter, Reservation, TokenBucketLimiter
from storelink.settings import ConnectorKnobs

if TYPE_CHECKING:
    from storelink.resilience.shared import SharedState

__all__ = ["ShopifyCostLimiter", "cost_limiter"]

# Waits end this much after the model says the bucket holds the cost: Shopify compares with ≥, and
# float dust must not send a request a hair early.
MARGIN_S = 0.001


def cost_limiter(knobs: ConnectorKnobs, *, clock: Clock) -> RateLimiter:
    """Starts from the plan the knobs assume (Standard: 100 points/s, a 2000-point bucket), sends
    one request alone until Shopify has reported its own, and follows every report after."""
    return ShopifyCostLimiter(
        rate=knobs.rate_limit, capacity=knobs.rate_burst, clock=clock, probe_lease_s=knobs.deadline
    )


class _Granted(NamedTuple):
    cost: float
    send_at: float


class _Closed(NamedTuple):
    at: float  # when its answer came back
    sent: float
    charge: float  # what it cost Shopify: the actual cost, or all it asked for when unknown
    available: float | None  # what Shopify reported after it, when it did


@dataclass(eq=False, slots=True)
class _Held:
    """A caller held in line before the shop's bucket is known."""

    cost: float
    nudge: asyncio.Event = field(default_factory=asyncio.Event)  # granted, refused, or now first
    reservation: Reservation | None = None
    error: ConnectorError | None = None


class ShopifyCostLimiter:
    """A model of the shop's bucket, learnt before the first burst and re-synced by every report.

    * **Cold start.** Until a response has carried ``throttleStatus`` only one reservation is out
      (the probe); other callers wait inside :meth:`reserve`, in line, within their deadline. A
      probe closed without a report (failed, cancelled) lets the next in line probe; one never
      closed is replaced after ``probe_lease_s``. The first report releases the line at once, each
      with its wait on the bucket the shop reported.
    * **Order.** A reservation's wait is the debt it adds (tokens may go negative), and never ends
      before the wait of any reservation granted earlier: requests are sent in arrival order,
      whatever their cost, and a large one is never passed by the small ones behind it.
    * **Re-sync.** A report sets the model to ``currentlyAvailable`` minus what Shopify may not
      have counted when it answered (every reservation still out, and those closed since this one
      was sent unless their own report shows they ran first), and adopts the plan's figures.
    * **Refunds.** Requested minus actual comes back with the report (or from ``actualQueryCost``
      when there is no bucket in it); a request closed with no report at all keeps its cost.
    """

    unit = "points"

    def __init__(self, *, rate: float, capacity: float, clock: Clock, probe_lease_s: float = 30.0) -> None:
        if rate <= 0 or capacity <= 0:
            raise ValueError("rate and capacity must be positive")
        self.rate = rate
        self.capacity = capacity
        self.probe_lease_s = probe_lease_s
        self._clock = clock
        self._tokens = capacity
        self._last = clock.now()
        self._ids = itertools.count(1)  # grant order
        self._granted: dict[int, _Granted] = {}  # neither settled nor cancelled
        self._closed: list[_Closed] = []  # closed while others were out, with what each cost Shopify
        self._send_after = float("-inf")  # no reservation is sent before one granted earlier
        self._line: deque[_Held] = deque()
        self._learned = False
        self._probe: int | None = None
        self._probe_since = 0.0

    @property
    def tokens(self) -> float:
        self._refill()
        return self._tokens

    @property
    def waiting(self) -> int:
        """Callers held in line at cold start."""
        return len(self._line)

    def _refill(self) -> None:
        now = self._clock.now()
        if now > self._last:
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
        # A clock that went back (under looptime, a fixture builds the limiter on the real loop clock
        # and the test runs on a fresh one from 0) refills from here rather than never.
        self._last = now

    # -- granting ----------------------------------------------------------------------------------
    def _grant(self, cost: float) -> Reservation:
        self._refill()
        now = self._clock.now()
        self._tokens -= cost
        send_at = now if self._tokens >= 0 else now + -self._tokens / self.rate + MARGIN_S
        send_at = max(send_at, self._send_after)
        self._send_after = send_at
        reservation = Reservation(cost=cost, wait_s=send_at - now, id=next(self._ids))
        self._granted[reservation.id] = _Granted(cost, send_at)
        return reservation

    def _release(self) -> None:
        """Grant from the front of the line while it may go; nudge the new first, which times the
        probe's lease."""
        while self._line:
            first = self._line[0]
            if not self._learned:
                if self._probe is not None and self._clock.now() - self._probe_since < self.probe_lease_s:
                    break
                self._line.popleft()
                first.reservation = self._grant(first.cost)
                self._probe, self._probe_since = first.reservation.id, self._clock.now()
            elif first.cost > self.capacity:
                self._line.popleft()
                first.error = never_admitted(first.cost, self.capacity)
            else:
                self._line.popleft()
                first.reservation = self._grant(first.cost)
            first.nudge.set()
        if self._line:
            self._line[0].nudge.set()

    async def reserve(self, cost: float, *, operation: str = "", deadline: Deadline | None = None) -> Reservation:
        if self._learned:
            if cost > self.capacity:
                raise never_admitted(cost, self.capacity)
            return self._grant(cost)
        held = _Held(cost)
        self._line.append(held)
        self._release()
        try:
            while held.reservation is None:
                if held.error is not None:
                    raise held.error
                await self._hold(held, deadline)
        except BaseException:
            if held.reservation is not None:  # granted as its caller was being cancelled
                self._give_back(held.reservation)
            elif held in self._line:
                self._line.remove(held)
            self._release()
            raise
        return held.reservation

    async def _hold(self, held: _Held, deadline: Deadline | None) -> None:
        """Wait for a nudge, the probe's lease or the deadline, whichever comes first."""
        held.nudge.clear()
        at_most: float | None = None
        if deadline is not None:
            at_most = deadline.remaining()
            if at_most <= 0:
                raise ConnectorError(
                    ErrorKind.RATE_LIMITED,
                    "Shopify has not reported this shop's cost bucket yet and the first request is still "
                    "out; this call's deadline passed while it waited, and nothing was sent. Retry.",
                )
        if self._line and self._line[0] is held and self._probe is not None:
            lease = max(0.0, self._probe_since + self.probe_lease_s - self._clock.now())
            at_most = lease if at_most is None else min(at_most, lease)
        if at_most is None:
            await held.nudge.wait()
        else:
            await sleep_or_until(self._clock, at_most, held.nudge)
        self._release()

    # -- closing -------------------------------------------------------------------------------------
    async def cancel(self, reservation: Reservation) -> None:
        self._give_back(reservation)
        self._release()

    def _give_back(self, reservation: Reservation) -> None:
        granted = self._granted.pop(reservation.id, None)
        if granted is None:
            return
        self._refill()
        self._tokens = min(self.capacity, self._tokens + granted.cost)
        if granted.send_at >= self._send_after:  # it was the last in line: the next need not wait for it
            self._send_after = max((g.send_at for g in self._granted.values()), default=self._clock.now())
        if reservation.id == self._probe:
            self._probe = None

    async def settle(self, reservation: Reservation, hint: RateHint | None) -> None:
        granted = self._granted.pop(reservation.id, None)
        if granted is None:
            return
        self._refill()
        if reservation.id == self._probe:
            self._probe = None
        now = self._clock.now()
        reported = hint is not None and hint.maximum > 0 and hint.restore_per_s > 0
        if hint is not None and reported:
            self.capacity, self.rate = hint.maximum, hint.restore_per_s
            # What Shopify may not have counted when it answered: every reservation still out, and
            # those closed since this one was sent that it may have run after this one.
            owed = sum(g.cost for g in self._granted.values())
            owed += sum(c.charge for c in self._closed if self._maybe_after(c, granted.send_at, hint.available))
            self._tokens = min(self.capacity, hint.available) - owed
            self._learned = True
        elif hint is not None and hint.actual_cost is not None:  # no bucket in it: the refund alone
            self._tokens = min(self.capacity, self._tokens + max(0.0, granted.cost - hint.actual_cost))
        charge = hint.actual_cost if hint is not None and hint.actual_cost is not None else granted.cost
        self._closed.append(_Closed(now, granted.send_at, charge, hint.available if hint and reported else None))
        oldest = min((g.send_at for g in self._granted.values()), default=now)
        self._closed = [c for c in self._closed if c.at >= oldest]  # only those a report still out can miss
        self._release()

    def _maybe_after(self, closed: _Closed, sent: float, available: float) -> bool:
        """Whether Shopify may have run ``closed`` after the request sent at ``sent`` that reported
        ``available`` (answers come back in any order, and requests overtake each other on the way).
        Not when it answered before that request left. Not when its own report is higher than this
        one by more than the bucket could have refilled from that request's sending to its answer:
        between two runs the bucket only gains refill, so it ran first. (Reports are rounded down:
        one point of slack.) When unsure, counting it again only delays the next request."""
        if closed.at < sent:
            return False
        if closed.available is None:
            return True
        return closed.available <= available + 1.0 + self.rate * (closed.at - sent)

    def headroom(self) -> Headroom:
        return Headroom(
            available=max(0.0, round(self.tokens, 3)), maximum=self.capacity, unit=self.unit, restore_per_s=self.rate
        )

    def shared_with(self, state: SharedState, key: str) -> RateLimiter:
        """Across replicas (Redis) the same model kept in Redis (:class:`RedisCostBucket`: one probe,
        one order and one re-sync for the deployment), and this replica's share of the knobs' plan
        while Redis is gone."""
        shared = RedisCostBucket(
            state.client,
            bucket=key,
            rate=self.rate,
            capacity=self.capacity,
            clock=state.clock,
            prefix=state.prefix,
            reservation_ttl_s=state.reservation_ttl_s,
            probe_lease_s=self.probe_lease_s,
        )
        local = TokenBucketLimiter(rate=self.rate, capacity=self.capacity, clock=self._clock, unit=self.unit)
        return state.fallback(key, shared, local)
