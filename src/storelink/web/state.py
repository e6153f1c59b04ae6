"""What the pages read besides the runtime, and the background work that keeps it fresh.

``dashboard_services(runtime)`` is entered in the app's lifespan, right after the runtime:

    async with runtime_factory(settings) as runtime, dashboard_services(runtime) as dashboard:
        app.state.runtime = runtime
        app.state.dashboard = dashboard

It samples metric history into the embedded store, probes connectors in the background, keeps
the recent-errors log and starts Sentry when ``SENTRY_DSN`` is set. Pages that find no
``app.state.dashboard`` (the lifespan hook not wired) build one on the fly without background
work, so they still render from live metrics.
"""

from __future__ import annotations

import contextlib
import time
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from storelink.observability.errors_log import ErrorLog
from storelink.observability.history import DEFAULT_INTERVAL_S, MetricsHistory
from storelink.observability.sentry import forward_errors, init_sentry
from storelink.observability.slo import SloSpec, load_slos
from storelink.runtime import Runtime
from storelink.web.status import HealthBoard

__all__ = ["DashboardState", "dashboard_services", "errors_for", "state_for"]

# By id, since a Runtime (a dataclass) is unhashable; each entry leaves with its runtime.
_ERRORS: dict[int, ErrorLog] = {}


def errors_for(runtime: Runtime) -> ErrorLog:
    """The runtime's recent-errors log: ``runtime.errors`` once the core carries one, else one
    kept beside the runtime (so tests and pages share it)."""
    found: Any = getattr(runtime, "errors", None)
    if isinstance(found, ErrorLog):
        return found
    key = id(runtime)
    log = _ERRORS.get(key)
    if log is None:
        log = _ERRORS[key] = ErrorLog(secrets=runtime.settings.secret_values())
        weakref.finalize(runtime, _ERRORS.pop, key, None)
    return log


@dataclass
class DashboardState:
    runtime: Runtime
    history: MetricsHistory
    board: HealthBoard
    errors: ErrorLog
    slos: SloSpec
    started_at: float = field(default_factory=time.time)
    background: bool = False
    sentry: bool = False


def _build(runtime: Runtime, *, history_interval_s: float, health_interval_s: float) -> DashboardState:
    return DashboardState(
        runtime=runtime,
        history=MetricsHistory(runtime.store, runtime.metrics, interval_s=history_interval_s),
        board=HealthBoard(runtime.registry, interval_s=health_interval_s, secrets=runtime.settings.secret_values()),
        errors=errors_for(runtime),
        slos=load_slos(),
    )


def state_for(app_state: Any) -> DashboardState:
    """The dashboard state of a running app (``request.app.state``); built on first use, without
    background work, when the lifespan did not start :func:`dashboard_services`."""
    found = getattr(app_state, "dashboard", None)
    runtime: Runtime = app_state.runtime
    if isinstance(found, DashboardState) and found.runtime is runtime:
        return found
    state = _build(runtime, history_interval_s=DEFAULT_INTERVAL_S, health_interval_s=DEFAULT_INTERVAL_S)
    app_state.dashboard = state
    return state


@contextlib.asynccontextmanager
async def dashboard_services(
    runtime: Runtime,
    *,
    history_interval_s: float = DEFAULT_INTERVAL_S,
    health_interval_s: float = 60.0,
) -> AsyncIterator[DashboardState]:
    state = _build(runtime, history_interval_s=history_interval_s, health_interval_s=health_interval_s)
    state.background = True
    if init_sentry(runtime.settings):
        forward_errors(state.errors)
        state.sentry = True
    async with state.history.running(), state.board.running():
        yield state
