"""A deadline set once at the top of a call and consulted by every layer below it."""

from __future__ import annotations

from dataclasses import dataclass

from storelink.resilience.clock import Clock

__all__ = ["Deadline"]


@dataclass(slots=True)
class Deadline:
    """An absolute point on ``clock`` after which no work for the call may start (SRE book)."""

    clock: Clock
    at: float

    @classmethod
    def after(cls, clock: Clock, seconds: float) -> Deadline:
        return cls(clock, clock.now() + seconds)

    def remaining(self) -> float:
        return max(0.0, self.at - self.clock.now())

    def expired(self) -> bool:
        return self.clock.now() >= self.at

    def allows(self, wait_s: float) -> bool:
        """Whether waiting ``wait_s`` still leaves time to do something afterwards."""
        return wait_s < self.remaining()
