"""A clock a test moves by hand: ``clock.now += 60`` or ``clock.advance(60)``. Passed wherever the
code takes a ``Callable[[], float]`` (a wall clock in epoch seconds, or monotonic seconds)."""

from __future__ import annotations

__all__ = ["ManualClock"]


class ManualClock:
    """Seconds that move only when a test says so."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
