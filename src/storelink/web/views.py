"""What each page shows, gathered defensively: a part that cannot be read becomes a problem
line on the page, never an exception. Pages only read local state (metrics, history, the
health board, the error log); none waits on an upstream.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from storelink.connectors.base import Connector
from storelink.connectors.credentials import CREDENTIAL_HOW_TO
from storelink.observability.history import ConnectorCounters, Increase, SeriesPoint, read_counters
from storelink.observability.logs import redact
from storelink.observability.slo import SloStatus, evaluate
from storelink.settings import SettingRow, describe_settings
from storelink.web.charts import Series, line_chart
from storelink.web.state import DashboardState

__all__ = [
    "Card",
    "ConnectorPage",
    "cards",
    "connector_page",
    "fmt_ago",
    "fmt_ms",
    "fmt_pct",
    "live_payload",
    "settings_page",
    "slo_rows",
]

log = logging.getLogger("storelink.web")
T = TypeVar("T")


def fmt_ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"


def fmt_pct(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "–"
    return f"{100 * value:.{digits}f} %"


def fmt_ago(ts: float | None, now: float | None = None) -> str:
    if ts is None:
        return "never"
    delta = max(0.0, (now or time.time()) - ts)
    if delta < 60:
        return f"{delta:.0f} s ago"
    if delta < 3600:
        return f"{delta / 60:.0f} min ago"
    if delta < 86_400:
        return f"{delta / 3600:.1f} h ago"
    return f"{delta / 86_400:.1f} d ago"


def _secrets(state: DashboardState) -> list[str]:
    """What must never reach the page: the environment's secrets and the store's own."""
    return [*state.runtime.settings.secret_values(), *state.runtime.config.secret_values()]


def _attempt(problems: list[str], what: str, fn: Callable[[], T], default: T, secrets: list[str]) -> T:
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001  (the page says what it could not read)
        log.warning("dashboard could not read %s: %s", what, type(exc).__name__)
        problems.append(redact(f"Could not read {what}: {type(exc).__name__}: {exc}", secrets)[:300])
        return default


@dataclass
class Card:
    name: str
    title: str
    mode: str
    health: str = "unknown"
    health_message: str = "Not probed yet."
    health_checked: float | None = None
    breaker: str = "closed"
    requests_5m: int = 0
    error_rate_5m: float | None = None
    p95_5m_ms: float | None = None
    throttles_5m: float = 0.0
    headroom_available: float | None = None
    headroom_maximum: float | None = None
    headroom_unit: str = ""
    cache_hit_ratio: float | None = None
    last_error_kind: str | None = None
    last_error_message: str = ""
    last_error_at: float | None = None
    missing: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def headroom_ratio(self) -> float | None:
        if self.headroom_available is None or not self.headroom_maximum:
            return None
        return max(0.0, min(1.0, self.headroom_available / self.headroom_maximum))

    def display(self, now: float | None = None) -> dict[str, str]:
        """The card's figures as the page prints them (the SSE stream sends the same strings)."""
        headroom = (
            f"{self.headroom_available:,.0f} / {self.headroom_maximum:,.0f} {self.headroom_unit}"
            if self.headroom_available is not None and self.headroom_maximum is not None
            else "not reported yet"
        )
        last_error = (
            f"{self.last_error_kind} · {fmt_ago(self.last_error_at, now)}: {self.last_error_message}"
            if self.last_error_kind
            else "none"
        )
        return {
            "health": self.health,
            "health_message": self.health_message,
            "health_checked": fmt_ago(self.health_checked, now) if self.health_checked else "not yet",
            "breaker": self.breaker.replace("_", "-"),
            "requests_5m": f"{self.requests_5m:,}",
            "error_rate_5m": fmt_pct(self.error_rate_5m),
            "p95_5m": fmt_ms(self.p95_5m_ms),
            "throttles_5m": f"{self.throttles_5m:,.0f}",
            "headroom": headroom,
            "headroom_pct": f"{100 * (self.headroom_ratio or 0.0):.0f}",
            "cache_hit": fmt_pct(self.cache_hit_ratio, 0),
            "last_error": last_error,
        }

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["display"] = self.display()
        return data


def card(state: DashboardState, connector: Connector, counters: dict[str, ConnectorCounters]) -> Card:
    secrets = _secrets(state)
    name = connector.name
    c = Card(name=name, title=connector.title, mode=connector.mode)
    p = c.problems
    c.missing = list(connector.ctx.missing)
    c.breaker = _attempt(p, "the breaker state", lambda: connector.breaker.state.value, "unknown", secrets)
    report = state.board.latest(name)
    if report is not None:
        c.health, c.health_message, c.health_checked = report.health.status, report.health.message, report.checked_at
    elif connector.mode == "disabled":
        c.health, c.health_message = "disabled", "Turned off by its flag."
    window = _attempt(
        p, "the 5-minute window", lambda: state.runtime.metrics.connector_window(name, "5m"), None, secrets
    )
    if window is not None:
        c.requests_5m, c.p95_5m_ms = window.count, window.p95_ms
        c.error_rate_5m = window.error_rate if window.count else None
    live = counters.get(name, ConnectorCounters())
    increase = _attempt(p, "the metric history", lambda: state.history.increase(name, 300, live=live), None, secrets)
    c.throttles_5m = increase.counters.throttles if increase is not None else live.throttles
    headroom = _attempt(p, "the rate-limit headroom", connector.limiter.headroom, None, secrets)
    if headroom is not None:
        c.headroom_available, c.headroom_maximum, c.headroom_unit = headroom.available, headroom.maximum, headroom.unit
    c.cache_hit_ratio = live.cache_hit_ratio()
    last = state.errors.last(name, upstream=True)  # a caller's bad cursor is not the upstream's error
    if last is not None:
        c.last_error_kind, c.last_error_message, c.last_error_at = last.kind, last.message, last.at
    elif (seen := state.runtime.metrics.last_errors.get(name)) is not None:
        kind, operation, at = seen
        c.last_error_kind, c.last_error_message, c.last_error_at = kind, f"in {operation}", at
    return c


def cards(state: DashboardState) -> tuple[list[Card], list[str]]:
    """One card per connector in the registry, and problems that concern the page as a whole."""
    problems: list[str] = []
    secrets = _secrets(state)
    counters: dict[str, ConnectorCounters] = _attempt(
        problems, "the metrics", lambda: read_counters(state.runtime.metrics), {}, secrets
    )
    connectors: list[Connector] = _attempt(
        problems, "the connector registry", lambda: list(state.runtime.registry), [], secrets
    )
    shared = state.runtime.shared
    if shared is not None and (status := shared.status()).degraded:
        problems.append(status.message)  # Redis is down: each replica runs on its share of the budget
    found: list[Card] = []
    for connector in connectors:
        try:
            found.append(card(state, connector, counters))
        except Exception as exc:  # noqa: BLE001
            name = getattr(connector, "name", "?")
            found.append(
                Card(
                    name=name,
                    title=getattr(connector, "title", name),
                    mode=getattr(connector, "mode", "?"),
                    problems=[redact(f"Could not read this connector: {type(exc).__name__}: {exc}", secrets)[:300]],
                )
            )
    return found, problems


def site_display(state: DashboardState, now: float | None = None) -> dict[str, str]:
    """The site knowledge warm-up as the overview prints it (the stream sends the same strings)."""
    status = state.runtime.site.warm_up
    shown = "interrupted" if status.stale(now) else status.state
    return {"state": shown, "summary": status.summary(now), "pct": f"{status.percent() or 0:.0f}"}


def live_payload(state: DashboardState) -> dict[str, Any]:
    found, problems = cards(state)
    now = time.time()
    connectors = {c.name: {"display": c.display(now), "problems": c.problems} for c in found}
    return {"at": now, "problems": problems, "connectors": connectors, "site": {"display": site_display(state, now)}}


# -- one connector ---------------------------------------------------------------------------------
@dataclass
class RangeSummary:
    label: str
    requests: float
    errors: float
    retries: float
    throttles: float
    worst_p95_ms: float | None
    partial: bool

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None


OPERATIONS_WINDOW = "1h"  # the operations table's one window: calls, errors and percentiles alike


@dataclass
class OperationRow:
    """One operation over :data:`OPERATIONS_WINDOW` (every figure; none since start)."""

    name: str
    summary: str
    write: bool
    calls: int = 0
    errors: int = 0  # the upstream's failures; the caller's own mistakes are calls, not errors
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.calls if self.calls else None


@dataclass
class ConnectorPage:
    card: Card
    charts: list[Any]
    ranges: list[RangeSummary]
    operations: list[OperationRow]
    errors: list[dict[str, Any]]
    credential_hint: str
    samples: int
    problems: list[str]


def _charts(points: list[SeriesPoint], start: float, end: float, label: str) -> list[Any]:
    """Latency and error rate from the same points: both draw where there were calls, and both
    say "no calls" only when there were none (a latency gap beside calls says so instead)."""
    latency = [
        Series("p50", [(p.ts, p.p50_ms) for p in points]),
        Series("p95", [(p.ts, p.p95_ms) for p in points]),
        Series("p99", [(p.ts, p.p99_ms) for p in points]),
    ]
    errors = [
        Series("error rate", [(p.ts, None if p.error_rate is None else 100 * p.error_rate) for p in points], "#dc2626")
    ]
    calls = sum(p.requests for p in points)
    no_latency = "No calls in this range yet." if not calls else f"{calls:,.0f} calls; no latency sampled for them yet."
    return [
        line_chart(latency, start=start, end=end, title=f"Latency over {label}", unit="ms", empty_note=no_latency),
        line_chart(errors, start=start, end=end, title=f"Error rate over {label}", unit="%"),
    ]


def connector_page(state: DashboardState, connector: Connector) -> ConnectorPage:
    secrets = _secrets(state)
    problems: list[str] = []
    counters: dict[str, ConnectorCounters] = _attempt(
        problems, "the metrics", lambda: read_counters(state.runtime.metrics), {}, secrets
    )
    the_card = card(state, connector, counters)
    name = connector.name
    now = time.time()
    live = counters.get(name, ConnectorCounters())
    charts: list[Any] = []
    ranges: list[RangeSummary] = []
    for label, window_s in (("1 h", 3600.0), ("24 h", 86_400.0)):
        points: list[SeriesPoint] = _attempt(
            problems, f"the {label} history", functools.partial(state.history.series, name, window_s), [], secrets
        )
        charts.extend(_charts(points, now - window_s, now, label))
        inc: Increase | None = _attempt(
            problems,
            f"the {label} totals",
            functools.partial(state.history.increase, name, window_s, live=live),
            None,
            secrets,
        )
        if inc is not None:
            p95s = [p.p95_ms for p in points if p.p95_ms is not None]
            ranges.append(
                RangeSummary(
                    label=label,
                    requests=inc.counters.requests,
                    errors=inc.counters.errors,
                    retries=inc.counters.retries,
                    throttles=inc.counters.throttles,
                    worst_p95_ms=max(p95s) if p95s else None,
                    partial=inc.partial,
                )
            )
    snapshot: dict[str, Any] = _attempt(
        problems, "the operations' metrics", state.runtime.metrics.snapshot, {}, secrets
    )
    measured: dict[str, Any] = snapshot.get("connectors", {}).get(name, {}).get("operations", {})
    operations: list[OperationRow] = []
    for op, spec in sorted(connector.operations.items()):
        row = OperationRow(name=op, summary=spec.summary, write=spec.write)
        if (m := measured.get(op)) is not None:
            w = m["windows"][OPERATIONS_WINDOW]
            row.calls, row.errors = w["count"], w["errors"]
            row.p50_ms, row.p95_ms, row.p99_ms = w["p50_ms"], w["p95_ms"], w["p99_ms"]
        operations.append(row)
    operations.sort(key=lambda r: (-r.calls, r.name))  # the ones in use first
    errors = [e.to_json() for e in state.errors.recent(name, 25)]
    samples = _attempt(problems, "the history size", lambda: state.history.sample_count(name), 0, secrets)
    return ConnectorPage(
        card=the_card,
        charts=charts,
        ranges=ranges,
        operations=operations,
        errors=errors,
        credential_hint=connector.credential_hint,
        samples=samples,
        problems=problems + the_card.problems,
    )


# -- settings ----------------------------------------------------------------------------------------


@dataclass
class ConnectorSettings:
    name: str
    title: str
    mode: str
    enabled: bool
    missing: list[str]
    credential_hint: str
    how_to: str


def _enabled(connector: Connector) -> bool:
    return bool(connector.knobs.enabled)


@dataclass
class SettingsPage:
    flags: list[tuple[str, str, str]]
    connectors: list[ConnectorSettings]
    rows: list[SettingRow]
    problems: list[str]


def settings_page(state: DashboardState, access_mode: str) -> SettingsPage:
    settings = state.runtime.settings
    secrets = _secrets(state)
    problems: list[str] = []
    rows: list[SettingRow] = _attempt(
        problems, "the effective configuration", lambda: describe_settings(settings), [], secrets
    )
    flags = [
        ("MCP_FORCE_MOCKS", "true" if settings.mcp_force_mocks else "false", "Every connector talks to its fake."),
        ("ENABLE_MCP", "true" if settings.enable_mcp else "false", "Serve MCP at /mcp."),
        ("STORELINK_ALLOW_WRITES", settings.allow_writes or "(none)", "Write operations allowed."),
        ("STORELINK_MCP_TOOLS", settings.mcp_tools, "Tools exposed over MCP."),
        ("STORELINK_REDIS_URL", "set" if settings.redis_url else "(unset: state is per process)", "Shared state."),
        ("dashboard access", access_mode, "open (loopback), password, proxy or locked."),
        ("error tracking", "Sentry on" if state.sentry else "off (SENTRY_DSN unset)", "Errors sent to Sentry."),
    ]
    connectors: list[ConnectorSettings] = []
    registered: list[Connector] = _attempt(
        problems, "the connector registry", lambda: list(state.runtime.registry), [], secrets
    )
    for connector in registered:
        enabled: bool = _attempt(
            problems, f"{connector.name}'s flag", functools.partial(_enabled, connector), True, secrets
        )
        flags.append((f"STORELINK_{connector.name.upper()}_ENABLED", "true" if enabled else "false", connector.title))
        connectors.append(
            ConnectorSettings(
                name=connector.name,
                title=connector.title,
                mode=connector.mode,
                enabled=enabled,
                missing=list(connector.ctx.missing),
                credential_hint=connector.credential_hint,
                how_to=CREDENTIAL_HOW_TO.get(connector.name, "See docs/connectors for this connector's credentials."),
            )
        )
    return SettingsPage(flags=flags, connectors=connectors, rows=rows, problems=problems)


# -- SLOs ----------------------------------------------------------------------------------------------
def slo_rows(state: DashboardState) -> tuple[list[SloStatus], list[str]]:
    problems: list[str] = []
    secrets = _secrets(state)
    counters: dict[str, ConnectorCounters] = _attempt(
        problems, "the metrics", lambda: read_counters(state.runtime.metrics), {}, secrets
    )
    statuses: list[SloStatus] = _attempt(
        problems, "the SLO burn", lambda: evaluate(state.slos, state.history, counters), [], secrets
    )
    return statuses, problems
