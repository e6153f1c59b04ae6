"""The breaker's state machine, step by step on a fake clock (resilience4j semantics)."""

from __future__ import annotations

import pytest

from storelink.clock import FakeClock
from storelink.errors import ConnectorError, ErrorKind
from storelink.resilience.breaker import BreakerPolicy, BreakerState, CircuitBreaker

POLICY = BreakerPolicy(
    failure_rate=50.0,
    slow_call_rate=80.0,
    slow_call_s=2.0,
    window=10,
    min_calls=4,
    open_s=30.0,
    half_open_calls=2,
)


def make() -> tuple[CircuitBreaker, FakeClock, list[tuple[str, str]]]:
    clock = FakeClock()
    transitions: list[tuple[str, str]] = []
    breaker = CircuitBreaker(POLICY, clock=clock, on_transition=lambda a, b: transitions.append((a.value, b.value)))
    return breaker, clock, transitions


def state(breaker: CircuitBreaker) -> BreakerState:
    """The state now. (A function, not ``breaker.state`` inline: mypy would carry the state one
    assert saw past the calls that change it.)"""
    return breaker.state


def call(breaker: CircuitBreaker, *, failed: bool, duration: float = 0.1) -> None:
    breaker.acquire()
    breaker.record(failed=failed, duration_s=duration)


def test_no_verdict_before_minimum_calls() -> None:
    breaker, _, _ = make()
    for _ in range(3):
        call(breaker, failed=True)
    assert state(breaker) is BreakerState.CLOSED  # 3 of 3 failed, but the minimum is 4


def test_opens_at_failure_rate_and_fails_fast() -> None:
    breaker, clock, transitions = make()
    call(breaker, failed=False)
    call(breaker, failed=False)
    call(breaker, failed=True)
    assert state(breaker) is BreakerState.CLOSED
    call(breaker, failed=True)  # 2 of 4 = 50 % ≥ threshold
    assert state(breaker) is BreakerState.OPEN
    assert transitions == [("closed", "open")]
    clock.advance(10.0)
    with pytest.raises(ConnectorError) as info:
        breaker.acquire()
    assert info.value.kind is ErrorKind.CIRCUIT_OPEN
    assert info.value.retry_after_s == pytest.approx(20.0)


def test_opens_on_slow_call_rate() -> None:
    breaker, _, _ = make()
    for _ in range(4):
        call(breaker, failed=False, duration=2.5)
    assert state(breaker) is BreakerState.OPEN


def test_half_opens_after_wait_admits_bounded_probes_then_closes() -> None:
    breaker, clock, transitions = make()
    for _ in range(4):
        call(breaker, failed=True)
    clock.advance(29.9)
    with pytest.raises(ConnectorError):
        breaker.acquire()
    clock.advance(0.1)
    breaker.acquire()  # probe 1: moves to half-open
    assert state(breaker) is BreakerState.HALF_OPEN
    breaker.acquire()  # probe 2
    with pytest.raises(ConnectorError):
        breaker.acquire()  # a third call is refused while probes are out
    breaker.record(failed=False, duration_s=0.1)
    assert state(breaker) is BreakerState.HALF_OPEN
    breaker.record(failed=False, duration_s=0.1)
    assert state(breaker) is BreakerState.CLOSED
    assert transitions == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]


def test_failed_probes_reopen() -> None:
    breaker, clock, transitions = make()
    for _ in range(4):
        call(breaker, failed=True)
    clock.advance(30.0)
    call(breaker, failed=True)
    call(breaker, failed=False)  # 1 of 2 failed = 50 %: open again
    assert state(breaker) is BreakerState.OPEN
    assert transitions[-1] == ("half_open", "open")


def test_ignored_outcomes_release_probe_permits() -> None:
    breaker, clock, _ = make()
    for _ in range(4):
        call(breaker, failed=True)
    clock.advance(30.0)
    breaker.acquire()
    breaker.acquire()
    breaker.release()  # e.g. a 404: says nothing about health
    breaker.acquire()  # so another probe may go
    assert state(breaker) is BreakerState.HALF_OPEN


def test_window_slides() -> None:
    breaker, _, _ = make()
    # 10-call window: old failures leave it as new successes arrive.
    for failed in [True, False, False, False, False, False, False, False, False, False]:
        call(breaker, failed=failed)
    assert breaker.failure_rate() == pytest.approx(10.0)
    call(breaker, failed=False)
    assert breaker.failure_rate() == 0.0
