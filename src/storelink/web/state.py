"""What the pages read besides each store's runtime, and the background work that keeps it fresh.

``dashboard_services(directory)`` is entered in the app's lifespan, right after the stores open:

    async with open_fleet(settings) as fleet, dashboard_services(fleet, settings) as dashboards:
        app.state.fleet = fleet
        app.state.dashboards = dashboards

For every *opened* store (:meth:`StoreDirectory.opened`: a page, an MCP tool or the CLI asked for
it) it samples that store's metric history into the embedded store and probes its connectors in
the background; a store nobody has opened costs nothing here, and its connectors are never
probed. Stores opened by someone else (an MCP call) are noticed within :data:`ADOPT_INTERVAL_S`.
Sentry, when ``SENTRY_DSN`` is set, receives every opened store's recent errors.

Pages that find no ``app.state.dashboards`` (the lifespan hook not wired) build one on the fly
without background work, so they still render from live metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from storelink.database.history import SharedHistory
from storelink.database.postgres import Database
from storelink.observability.errors_log import ErrorLog
from storelink.observability.history import DEFAULT_INTERVAL_S, MetricsHistory
from storelink.observability.sentry import forward_errors, init_sentry
from storelink.observability.slo import SloSpec, load_slos
from storelink.runtime import OneStore, Runtime, StoreDirectory
from storelink.settings import Settings
from storelink.tasks import in_background
from storelink.web.status import HealthBoard

__all__ = [
    "ADOPT_INTERVAL_S",
    "DashboardState",
    "Dashboards",
    "dashboard_services",
    "dashboards_for",
    "directory_of",
    "errors_for",
]

log = logging.getLogger("storelink.web")

ADOPT_INTERVAL_S = 5.0  # how soon a store opened elsewhere (MCP, CLI) gets its sampler and probes
HEALTH_INTERVAL_S = 60.0

# By id, since a Runtime (a dataclass) is unhashable; each entry leaves with its runtime.
_ERRORS: dict[int, ErrorLog] = {}


def errors_for(runtime: Runtime) -> ErrorLog:
    """The runtime's recent-errors log: ``runtime.errors`` (every runtime the fleet builds has
    one), else one kept beside the runtime (so tests and pages share it)."""
    found: Any = getattr(runtime, "errors", None)
    if isinstance(found, ErrorLog):
        return found
    key = id(runtime)
    log_ = _ERRORS.get(key)
    if log_ is None:
        log_ = _ERRORS[key] = ErrorLog(secrets=runtime.settings.secret_values())
        weakref.finalize(runtime, _ERRORS.pop, key, None)
    return log_


@dataclass
class DashboardState:
    """One opened store as the pages see it."""

    runtime: Runtime
    history: MetricsHistory
    board: HealthBoard
    errors: ErrorLog
    slos: SloSpec
    started_at: float = field(default_factory=time.time)
    background: bool = False
    sentry: bool = False

    @property
    def store_id(self) -> str:
        return self.runtime.config.id


class Dashboards:
    """Every opened store's :class:`DashboardState`, built (and, with background work, started)
    the first time the store is opened. Reading never opens a store; :meth:`open` does."""

    def __init__(
        self,
        directory: StoreDirectory,
        *,
        history_interval_s: float = DEFAULT_INTERVAL_S,
        health_interval_s: float = HEALTH_INTERVAL_S,
        background: contextlib.AsyncExitStack | None = None,
        sentry: bool = False,
    ) -> None:
        self.directory = directory
        self.history_interval_s = history_interval_s
        self.health_interval_s = health_interval_s
        self.slos = load_slos()
        self.sentry = sentry
        self._background = background
        self._states: dict[str, DashboardState] = {}
        self._lock = asyncio.Lock()

    @property
    def background(self) -> bool:
        return self._background is not None

    def get(self, store_id: str) -> DashboardState | None:
        """The store's state if it has been opened here (never opens it)."""
        return self._states.get(store_id)

    def watched(self) -> list[str]:
        """The stores with a sampler and a health board, in order of opening."""
        return list(self._states)

    async def open(self, store_id: str) -> DashboardState:
        """The store's state: its runtime opened (the directory's unknown-store error when there is
        no such store) and, the first time, its sampler and health board started."""
        found = self._states.get(store_id)
        if found is not None:
            return found
        runtime = await self.directory.runtime(store_id)
        async with self._lock:
            found = self._states.get(store_id)
            if found is None:
                found = await self._start(runtime)
                self._states[store_id] = found
        return found

    async def _start(self, runtime: Runtime) -> DashboardState:
        state = DashboardState(
            runtime=runtime,
            history=MetricsHistory(
                runtime.store,
                runtime.metrics,
                interval_s=self.history_interval_s,
                shared=SharedHistory(runtime.database, runtime.store) if runtime.database is not None else None,
            ),
            board=HealthBoard(runtime.registry, interval_s=self.health_interval_s, secrets=_secrets(runtime)),
            errors=errors_for(runtime),
            slos=self.slos,
            background=self.background,
            sentry=self.sentry,
        )
        if self.sentry:
            forward_errors(state.errors)
        if self._background is not None:
            await self._background.enter_async_context(state.history.running())
            await self._background.enter_async_context(state.board.running())
            log.info("dashboard: sampling and probing store %s", runtime.config.id)
        return state

    async def adopt(self) -> None:
        """Start the background work of stores opened elsewhere since the last look."""
        for store_id in self.directory.opened():
            if store_id not in self._states:
                await self.open(store_id)

    async def watch(self, interval_s: float = ADOPT_INTERVAL_S) -> None:
        while True:
            try:
                await self.adopt()
            except Exception:  # a background task: log it and keep watching
                log.exception("dashboard: could not start a store's background work")
            await asyncio.sleep(interval_s)


def _secrets(runtime: Runtime) -> list[str]:
    return [*runtime.settings.secret_values(), *runtime.config.secret_values()]


def directory_of(app_state: Any) -> StoreDirectory:
    """The stores an app serves: ``app.state.fleet``, or the one ``app.state.runtime`` (an app
    built around a single runtime, as some tests build it)."""
    fleet = getattr(app_state, "fleet", None)
    if fleet is not None:
        directory: StoreDirectory = fleet
        return directory
    runtime = getattr(app_state, "runtime", None)
    if not isinstance(runtime, Runtime):
        raise RuntimeError("The app has no stores: the dashboard must run inside create_app.")
    return OneStore(runtime)


def database_of(app_state: Any) -> Database | None:
    """The deployment's PostgreSQL (``STORELINK_DATABASE_URL``), once the app has opened its stores."""
    if getattr(app_state, "fleet", None) is None and getattr(app_state, "runtime", None) is None:
        return None  # not started yet
    return directory_of(app_state).database


def dashboards_for(app_state: Any) -> Dashboards:
    """The dashboards of a running app (``request.app.state``); built on first use, without
    background work, when the lifespan did not start :func:`dashboard_services`."""
    found = getattr(app_state, "dashboards", None)
    if isinstance(found, Dashboards):
        return found
    built = Dashboards(directory_of(app_state))
    app_state.dashboards = built
    return built


@contextlib.asynccontextmanager
async def dashboard_services(
    directory: StoreDirectory,
    settings: Settings,
    *,
    history_interval_s: float = DEFAULT_INTERVAL_S,
    health_interval_s: float = HEALTH_INTERVAL_S,
    adopt_interval_s: float = ADOPT_INTERVAL_S,
) -> AsyncIterator[Dashboards]:
    """Background work for every store opened now or later, until the block ends."""
    sentry = init_sentry(settings)
    async with contextlib.AsyncExitStack() as stack:
        dashboards = Dashboards(
            directory,
            history_interval_s=history_interval_s,
            health_interval_s=health_interval_s,
            background=stack,
            sentry=sentry,
        )
        await dashboards.adopt()
        async with in_background(dashboards.watch(adopt_interval_s), name="storelink-dashboard-stores"):
            yield dashboards
