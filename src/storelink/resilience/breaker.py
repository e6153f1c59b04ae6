"""A circuit breaker with resilience4j semantics.

The Python breakers on PyPI (pybreaker, purgatory, aiobreaker) count *consecutive* failures;
none has a failure-rate window, slow-call detection or a bounded half-open probe set, so this
one is written here (resilience.md §2).

* CLOSED: outcomes go into a count-based sliding window of the last ``window`` calls. Once at
  least ``min_calls`` are recorded, the breaker opens when the failure rate or the slow-call rate
  reaches its threshold.
* OPEN: calls fail fast with ``circuit_open`` until ``open_s`` has passed; the next call then
  moves it to HALF_OPEN (no background timer, as resilience4j by default).
* HALF_OPEN: at most ``half_open_calls`` probes are let through; when all have reported, the
  breaker closes if their failure and slow rates are under the thresholds, else opens again.

Only upstream faults count as failures. Outcomes that say nothing about the upstream's health
(``not_found``, ``invalid_request``, ``rate_limited``…) are ignored, as resilience4j's
``ignoreExceptions``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from storelink.clock import Clock
from storelink.errors import ConnectorError, ErrorKind

__all__ = ["BreakerPolicy", "BreakerState", "CircuitBreaker"]


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"

    @property
    def gauge(self) -> int:
        return {"closed": 0, "half_open": 1, "open": 2}[self.value]


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """No defaults: an upstream's knobs give them (:func:`storelink.resilience.policy.breaker_policy`)."""

    failure_rate: float
    slow_call_rate: float
    slow_call_s: float
    window: int
    min_calls: int
    open_s: float
    half_open_calls: int


@dataclass(frozen=True, slots=True)
class _Outcome:
    failed: bool
    slow: bool


Transition = Callable[[BreakerState, BreakerState], None]


class CircuitBreaker:
    def __init__(
        self,
        policy: BreakerPolicy,
        *,
        clock: Clock,
        name: str = "",
        on_transition: Transition | None = None,
    ) -> None:
        self.policy = policy
        self.name = name
        self._clock = clock
        self._on_transition = on_transition
        self._state = BreakerState.CLOSED
        self._window: deque[_Outcome] = deque(maxlen=policy.window)
        self._failures = 0
        self._slow = 0
        self._opened_at = 0.0
        self._probes_issued = 0
        self._probe_outcomes: list[_Outcome] = []

    @property
    def state(self) -> BreakerState:
        return self._state

    def open_remaining(self) -> float:
        if self._state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self.policy.open_s - self._clock.now())

    def acquire(self) -> None:
        """Admit one call or raise ``circuit_open``. Every admitted call must ``record`` or ``release``."""
        if self._state is BreakerState.OPEN:
            remaining = self.open_remaining()
            if remaining > 0:
                raise self._open_error(remaining)
            self._transition(BreakerState.HALF_OPEN)
        if self._state is BreakerState.HALF_OPEN:
            if self._probes_issued >= self.policy.half_open_calls:
                raise self._open_error(None)
            self._probes_issued += 1

    def release(self) -> None:
        """An admitted call ended with an outcome that says nothing about upstream health."""
        if self._state is BreakerState.HALF_OPEN and self._probes_issued > len(self._probe_outcomes):
            self._probes_issued -= 1

    def record(self, *, failed: bool, duration_s: float) -> None:
        outcome = _Outcome(failed=failed, slow=duration_s >= self.policy.slow_call_s)
        if self._state is BreakerState.HALF_OPEN:
            self._probe_outcomes.append(outcome)
            if len(self._probe_outcomes) >= self.policy.half_open_calls:
                n = len(self._probe_outcomes)
                failures = sum(o.failed for o in self._probe_outcomes)
                slow = sum(o.slow for o in self._probe_outcomes)
                tripped = self._tripped(failures, slow, n)
                self._transition(BreakerState.OPEN if tripped else BreakerState.CLOSED)
            return
        if self._state is BreakerState.OPEN:
            return  # a call admitted before the breaker opened; its outcome is stale
        if len(self._window) == self._window.maxlen:
            evicted = self._window[0]
            self._failures -= evicted.failed
            self._slow -= evicted.slow
        self._window.append(outcome)
        self._failures += outcome.failed
        self._slow += outcome.slow
        n = len(self._window)
        if n >= self.policy.min_calls and self._tripped(self._failures, self._slow, n):
            self._transition(BreakerState.OPEN)

    def failure_rate(self) -> float:
        n = len(self._window)
        return 100.0 * self._failures / n if n else 0.0

    def _tripped(self, failures: int, slow: int, n: int) -> bool:
        return 100.0 * failures / n >= self.policy.failure_rate or 100.0 * slow / n >= self.policy.slow_call_rate

    def _transition(self, new: BreakerState) -> None:
        old = self._state
        self._state = new
        self._window.clear()
        self._failures = self._slow = 0
        self._probes_issued = 0
        self._probe_outcomes = []
        if new is BreakerState.OPEN:
            self._opened_at = self._clock.now()
        if self._on_transition is not None and old is not new:
            self._on_transition(old, new)

    def _open_error(self, remaining: float | None) -> ConnectorError:
        when = f"for another {remaining:.1f} s" if remaining else "until the probe calls report"
        return ConnectorError(
            ErrorKind.CIRCUIT_OPEN,
            f"Calls to {self.name or 'this upstream'} are failing fast {when}: too many recent calls "
            "failed. Nothing was sent; retry after the wait, or see `storelink health`.",
            retryable=False,
            retry_after_s=remaining,
        )
