"""Whether Redis is usable right now: one tracker shared by the limiters, the cache and the locks.

Shared state must never cost a request (issue 10): when a Redis call fails, the caller falls back
to local state for that call and reports the failure here. The tracker then says "degraded" to
everyone (health, metrics, the dashboard read :meth:`RedisHealth.status`), so other callers stop
paying a connect timeout each, and lets exactly one caller probe Redis again after a backoff
(0.5 s doubling to 15 s). The first success brings everyone back. Each transition is logged once,
at WARNING, naming the error class only: the Redis URL can carry a password.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from redis.exceptions import RedisError

__all__ = ["REDIS_ERRORS", "RedisHealth", "SharedStatus"]

log = logging.getLogger("storelink.shared")

# What "Redis failed" means to a caller: the client's errors (connection refused or reset,
# timeouts, NOSCRIPT/READONLY/OOM replies), and socket errors that escape it.
REDIS_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError, asyncio.TimeoutError)

State = Literal["shared", "degraded"]


@dataclass(frozen=True, slots=True)
class SharedStatus:
    """What health, metrics and the dashboard show about shared state."""

    state: State
    since_s: float  # seconds in this state
    replicas: int  # the share each replica takes when degraded is 1/replicas
    last_error: str | None  # an exception class name, never a message (it may carry the URL)
    failures: int  # transitions to degraded since start
    fallback_calls: int  # calls answered from local state because Redis failed or was skipped

    @property
    def degraded(self) -> bool:
        return self.state == "degraded"

    @property
    def message(self) -> str:
        if self.state == "shared":
            return "Rate limits, cache and tokens are shared through Redis."
        return (
            f"Redis is unreachable ({self.last_error}) for {self.since_s:.0f} s: each replica paces to 1/"
            f"{self.replicas} of every budget and caches locally; shared state resumes when Redis answers."
        )

    def to_json(self) -> dict[str, object]:
        return {
            "state": self.state,
            "since_s": round(self.since_s, 1),
            "replicas": self.replicas,
            "last_error": self.last_error,
            "failures": self.failures,
            "fallback_calls": self.fallback_calls,
            "message": self.message,
        }


class RedisHealth:
    def __init__(
        self,
        *,
        replicas: int = 1,
        clock: Callable[[], float] = time.monotonic,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 15.0,
        on_change: Callable[[SharedStatus], None] | None = None,
    ) -> None:
        self.replicas = replicas
        self._clock = clock
        self._initial = backoff_initial_s
        self._max = backoff_max_s
        self._on_change = on_change
        self._state: State = "shared"
        self._since = clock()
        self._backoff = backoff_initial_s
        self._next_probe = 0.0
        self._last_error: str | None = None
        self._failures = 0
        self._fallbacks = 0

    @property
    def degraded(self) -> bool:
        return self._state == "degraded"

    def should_try(self) -> bool:
        """True when a caller should use Redis now: always while shared; while degraded, for one
        caller once the backoff has passed (it claims the probe, so the others stay local)."""
        if self._state == "shared":
            return True
        now = self._clock()
        if now < self._next_probe:
            return False
        self._next_probe = now + self._backoff
        self._backoff = min(self._max, self._backoff * 2)
        return True

    def fell_back(self) -> None:
        """A call was answered locally (Redis failed or was skipped)."""
        self._fallbacks += 1

    def failed(self, exc: BaseException) -> None:
        self._last_error = type(exc).__name__
        self._fallbacks += 1
        if self._state == "degraded":
            return
        self._state = "degraded"
        self._since = self._clock()
        self._failures += 1
        self._backoff = self._initial
        self._next_probe = self._since + self._backoff
        log.warning(
            "Redis is unreachable (%s): falling back to local limits at 1/%d of each budget and a local "
            "cache; probing again in the background.",
            self._last_error,
            self.replicas,
        )
        self._changed()

    def succeeded(self) -> None:
        if self._state == "shared":
            return
        down_for = self._clock() - self._since
        self._state = "shared"
        self._since = self._clock()
        self._backoff = self._initial
        log.warning("Redis answers again after %.1f s: shared limits, cache and tokens resumed.", down_for)
        self._changed()

    def status(self) -> SharedStatus:
        return SharedStatus(
            state=self._state,
            since_s=self._clock() - self._since,
            replicas=self.replicas,
            last_error=self._last_error,
            failures=self._failures,
            fallback_calls=self._fallbacks,
        )

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change(self.status())
