"""Retry policy (full-jitter backoff) and the retry budget that bounds it.

Backoff is AWS "full jitter": the n-th retry waits ``uniform(0, min(cap, base·2ⁿ))``. A server
hint (``Retry-After``, a quota reset) replaces the backoff when present. The budget is a token
bucket in the spirit of Finagle's ``RetryBudget`` and the SRE book: each first attempt earns
``ratio`` tokens, each retry spends one, and ``burst`` tokens are kept so that a quiet connector
can still retry; with ``refill_per_s`` it also refills with time (GA4's hourly error quota).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from storelink.clock import Clock

__all__ = ["RetryBudget", "RetryPolicy"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """No defaults: an upstream's knobs give them (:func:`storelink.resilience.policy.retry_policy`)."""

    max_retries: int
    backoff_base: float
    backoff_cap: float

    def backoff(self, retry_number: int, random: Callable[[], float]) -> float:
        """Full-jitter wait before retry number ``retry_number`` (1-based)."""
        ceiling = min(self.backoff_cap, self.backoff_base * 2.0 ** (retry_number - 1))
        return random() * ceiling


class RetryBudget:
    def __init__(self, *, ratio: float, burst: float, clock: Clock, refill_per_s: float = 0.0) -> None:
        self.ratio = ratio
        self.burst = burst
        self.refill_per_s = refill_per_s
        self._clock = clock
        self._tokens = burst
        self._last = clock.now()

    @property
    def tokens(self) -> float:
        self._refill()
        return self._tokens

    def _refill(self) -> None:
        if self.refill_per_s:
            now = self._clock.now()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.refill_per_s)
            self._last = now

    def on_first_attempt(self) -> None:
        self._tokens = min(self.burst, self._tokens + self.ratio)

    def try_spend(self) -> bool:
        self._refill()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False
