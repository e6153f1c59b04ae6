"""Time as a dependency: every resilience component takes a :class:`Clock`.

Production uses :class:`LoopClock` (the event loop's monotonic clock). Single-component tests use
:class:`FakeClock`, which only moves when told to; pipeline tests run under ``looptime``, which
fast-forwards the loop clock itself, so ``LoopClock`` is exact there too.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

__all__ = ["Clock", "FakeClock", "LoopClock", "MonotonicClock"]


class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds; only differences mean anything."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class LoopClock:
    """The running event loop's clock (monotonic, and fakeable by ``looptime``)."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class MonotonicClock:
    """The process's monotonic clock, for code that runs outside an event loop (a fake served from a
    thread)."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """A clock that moves only when advanced; ``sleep`` advances it by the slept time."""

    def __init__(self, start: float = 1_000.0) -> None:
        self._now = start
        self.slept: list[float] = []

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds

    async def sleep(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        self.slept.append(seconds)
        self._now += seconds
        await asyncio.sleep(0)


async def sleep_or_until(clock: Clock, seconds: float, event: asyncio.Event) -> None:
    """Sleep ``seconds`` on ``clock``, or less if ``event`` is set first. On the injected clock (a
    test's may be fake), so not ``asyncio.timeout``."""
    sleeper = asyncio.ensure_future(clock.sleep(seconds))
    nudged = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait((sleeper, nudged), return_when=asyncio.FIRST_COMPLETED)
    finally:
        sleeper.cancel()
        nudged.cancel()
