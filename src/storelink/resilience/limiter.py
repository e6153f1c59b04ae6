"""Rate limiting by reservation, fed by the upstream's own reports.

The interface is async and reservation-based so that a Redis backend (issue 10) can slot in:
``reserve`` debits the budget at once and says how long to wait before sending; it is told the
attempt's operation and the call's deadline, for a limiter with a budget per kind of call (GA4's
realtime reports, Search Console's inspections) or one that waits for a turn itself; ``cancel``
returns an unused reservation; ``settle`` closes it with what the upstream reported (its real
cost, its bucket state), which re-synchronises the model on every response.

No well-kept library paces to a *server-reported* budget (aiolimiter and limits only know their
own clock), so the local token bucket is written here, in the form of Go's
``rate.Limiter.Reserve``: tokens may go negative, and the debt is the wait. Waiters are thus
served first come, first served, with an exact wait each.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Protocol

from storelink.clock import Clock
from storelink.errors import ConnectorError, ErrorKind, Headroom
from storelink.resilience.classify import RateHint
from storelink.resilience.deadline import Deadline

__all__ = ["RateLimiter", "Reservation", "TokenBucketLimiter"]


@dataclass(slots=True)
class Reservation:
    cost: float
    wait_s: float
    id: int = 0
    settled: bool = field(default=False)


class RateLimiter(Protocol):
    async def reserve(self, cost: float, *, operation: str, deadline: Deadline | None) -> Reservation:
        """Debit ``cost`` now for an attempt of ``operation``; the caller must wait ``wait_s`` before
        sending. A limiter that waits inside ``reserve`` waits no later than ``deadline`` (the call's;
        ``None``: no call bounds it, the limiter's own default does)."""
        ...

    async def cancel(self, reservation: Reservation) -> None:
        """Give back a reservation whose request was never sent."""
        ...

    async def settle(self, reservation: Reservation, hint: RateHint | None) -> None:
        """Close a sent reservation with what the upstream reported."""
        ...

    def headroom(self) -> Headroom | None: ...


class TokenBucketLimiter:
    """A local token bucket of ``capacity`` refilled at ``rate`` per second.

    Invariant: over any interval of length W, the cost admitted (counted at the time each
    reservation may send) is at most ``capacity + rate·W``.
    """

    def __init__(self, *, rate: float, capacity: float, clock: Clock, unit: str = "requests") -> None:
        if rate <= 0 or capacity <= 0:
            raise ValueError("rate and capacity must be positive")
        self.rate = rate
        self.capacity = capacity
        self.unit = unit
        self._clock = clock
        self._tokens = capacity
        self._last = clock.now()
        self._ids = itertools.count(1)
        self._outstanding: dict[int, float] = {}
        self._reported = False

    def _refill(self) -> None:
        now = self._clock.now()
        if now > self._last:
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
            self._last = now

    @property
    def tokens(self) -> float:
        self._refill()
        return self._tokens

    async def reserve(self, cost: float, *, operation: str = "", deadline: Deadline | None = None) -> Reservation:
        if cost > self.capacity:
            raise ConnectorError(
                ErrorKind.INVALID_REQUEST,
                f"This request costs {cost:g} {self.unit}, more than the whole budget of "
                f"{self.capacity:g}; it can never be admitted. Ask for less per request.",
                retryable=False,
            )
        self._refill()
        self._tokens -= cost
        wait = 0.0 if self._tokens >= 0 else -self._tokens / self.rate
        reservation = Reservation(cost=cost, wait_s=wait, id=next(self._ids))
        self._outstanding[reservation.id] = cost
        return reservation

    async def cancel(self, reservation: Reservation) -> None:
        if self._outstanding.pop(reservation.id, None) is None:
            return
        self._refill()
        self._tokens = min(self.capacity, self._tokens + reservation.cost)

    async def settle(self, reservation: Reservation, hint: RateHint | None) -> None:
        if self._outstanding.pop(reservation.id, None) is None or hint is None:
            return
        self._refill()
        if hint.actual_cost is not None and hint.actual_cost < reservation.cost:
            # The upstream refunds requested minus actual; so do we.
            self._tokens = min(self.capacity, self._tokens + reservation.cost - hint.actual_cost)
        if hint.maximum > 0 and hint.restore_per_s > 0:
            self.capacity = hint.maximum
            self.rate = hint.restore_per_s
            # The server's figure is authoritative for what it has seen; what we reserved and it
            # has not seen yet is still owed.
            owed = sum(self._outstanding.values())
            self._tokens = min(self.capacity, hint.available) - owed
            self._reported = True

    def headroom(self) -> Headroom:
        return Headroom(
            available=max(0.0, round(self.tokens, 3)),
            maximum=self.capacity,
            unit=self.unit,
            restore_per_s=self.rate,
        )
