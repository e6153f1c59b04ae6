"""Each connector's last health probe, refreshed in the background, for pages that must not wait.

A page that probed upstreams while rendering would take as long as the slowest timeout and
spend quota on every refresh. The board probes every connector once at start and then every
``interval_s`` seconds, each probe bounded by ``timeout_s``, and pages read what it last saw.
A probe that hangs or raises becomes a ``down`` report that says so; nothing here raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from storelink.connectors.base import Connector, Health
from storelink.connectors.registry import Registry
from storelink.errors import ErrorKind
from storelink.observability.logs import redact
from storelink.tasks import in_background

__all__ = ["HealthBoard", "HealthReport"]

log = logging.getLogger("storelink.web")


@dataclass(frozen=True, slots=True)
class HealthReport:
    health: Health
    checked_at: float  # wall clock
    took_s: float


class HealthBoard:
    def __init__(
        self,
        registry: Registry,
        *,
        interval_s: float = 60.0,
        timeout_s: float = 10.0,
        secrets: list[str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self._secrets = secrets or []
        self._clock = clock
        self._reports: dict[str, HealthReport] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def latest(self, name: str) -> HealthReport | None:
        return self._reports.get(name)

    async def probe(self, connector: Connector) -> HealthReport:
        """Probe one connector now (one probe per connector at a time)."""
        lock = self._locks.setdefault(connector.name, asyncio.Lock())
        async with lock:
            started = time.perf_counter()
            try:
                health = await asyncio.wait_for(connector.health(), self.timeout_s)
            except TimeoutError:
                health = self._down(
                    connector,
                    f"The health probe did not answer within {self.timeout_s:g} s.",
                    ErrorKind.TIMEOUT,
                )
            except Exception as exc:  # noqa: BLE001  (a page must show it, not crash)
                log.warning("health probe of %s failed: %s", connector.name, type(exc).__name__)
                message = redact(f"The health probe failed: {type(exc).__name__}: {exc}", self._secrets)
                health = self._down(connector, message[:500], None)
            report = HealthReport(health, self._clock(), time.perf_counter() - started)
            self._reports[connector.name] = report
            return report

    @staticmethod
    def _down(connector: Connector, message: str, kind: ErrorKind | None) -> Health:
        return Health(
            connector=connector.name,
            title=connector.title,
            mode=connector.mode,
            status="down",
            breaker=connector.breaker.state,
            message=message,
            missing=list(connector.ctx.missing),
            error_kind=kind,
        )

    async def probe_all(self) -> list[HealthReport]:
        return list(await asyncio.gather(*(self.probe(c) for c in self.registry)))

    async def run(self) -> None:
        while True:
            await self.probe_all()
            await asyncio.sleep(self.interval_s)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[HealthBoard]:
        async with in_background(self.run(), name="storelink-health-board"):
            yield self
