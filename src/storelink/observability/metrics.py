"""One metrics registry, exported three ways: Prometheus text, a JSON snapshot, the dashboard.

Label values are connector and operation names and outcome kinds: closed sets written in code,
never URLs, ids or anything a caller typed, so no secret can reach a label.

The hot path touches pre-bound children (:class:`OperationMetrics`), so recording a call costs a
few dictionary lookups and counter increments.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from storelink.errors import Headroom
from storelink.observability.rolling import WINDOWS, RollingStats, WindowSummary

__all__ = ["CONTENT_TYPE", "Metrics", "OperationMetrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# A boundary sits exactly on each latency SLO threshold (0.5 s, 1 s, 2.5 s) so SLIs are exact.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class OperationMetrics:
    """Pre-bound instruments of one (connector, operation)."""

    def __init__(self, metrics: Metrics, connector: str, operation: str) -> None:
        self._m = metrics
        self.connector = connector
        self.operation = operation
        self._latency = metrics.latency.labels(connector, operation)
        self._attempts = metrics.attempts.labels(connector, operation)
        self._throttles = metrics.throttles.labels(connector, operation)
        self._limiter_wait = metrics.limiter_wait.labels(connector, operation)
        self._requests: dict[str, Any] = {}
        self._retries: dict[str, Any] = {}
        self._cache: dict[str, Any] = {}
        self.rolling = RollingStats(metrics.clock)

    def observe(self, *, outcome: str, latency_s: float, attempts: int) -> None:
        child = self._requests.get(outcome)
        if child is None:
            child = self._requests[outcome] = self._m.requests.labels(self.connector, self.operation, outcome)
        child.inc()
        self._latency.observe(latency_s)
        self._attempts.inc(attempts)
        error = outcome != "ok"
        self.rolling.record(latency_s, error=error)
        if error:
            self._m.last_errors[self.connector] = (outcome, self.operation, time.time())

    def retry(self, reason: str) -> None:
        child = self._retries.get(reason)
        if child is None:
            child = self._retries[reason] = self._m.retries.labels(self.connector, self.operation, reason)
        child.inc()

    def throttled(self) -> None:
        self._throttles.inc()

    def limiter_waited(self, seconds: float) -> None:
        self._limiter_wait.inc(seconds)

    def cache(self, result: str) -> None:
        child = self._cache.get(result)
        if child is None:
            child = self._cache[result] = self._m.cache.labels(self.connector, self.operation, result)
        child.inc()


class Metrics:
    def __init__(
        self, registry: CollectorRegistry | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.clock = clock
        r = self.registry
        self.requests = Counter(
            "storelink_requests",
            "Calls by outcome kind (ok or an error kind).",
            ["connector", "operation", "outcome"],
            registry=r,
        )
        self.latency = Histogram(
            "storelink_request_duration_seconds",
            "Call latency, retries and waits included.",
            ["connector", "operation"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.attempts = Counter(
            "storelink_attempts",
            "Attempts sent upstream (first tries and retries).",
            ["connector", "operation"],
            registry=r,
        )
        self.retries = Counter(
            "storelink_retries",
            "Retries by the error kind that caused them.",
            ["connector", "operation", "reason"],
            registry=r,
        )
        self.throttles = Counter(
            "storelink_throttles",
            "Attempts the upstream refused for rate (429, THROTTLED, quota).",
            ["connector", "operation"],
            registry=r,
        )
        self.limiter_wait = Counter(
            "storelink_limiter_wait_seconds",
            "Time spent waiting for the local rate limiter.",
            ["connector", "operation"],
            registry=r,
        )
        self.cache = Counter(
            "storelink_cache",
            "Cache lookups: fresh, revalidated or miss.",
            ["connector", "operation", "result"],
            registry=r,
        )
        self.breaker_state = Gauge(
            "storelink_breaker_state",
            "Circuit breaker: 0 closed, 1 half-open, 2 open.",
            ["connector"],
            registry=r,
        )
        self.breaker_transitions = Counter(
            "storelink_breaker_transitions",
            "Circuit breaker state changes.",
            ["connector", "from_state", "to_state"],
            registry=r,
        )
        self.headroom_available = Gauge(
            "storelink_ratelimit_available",
            "Rate-limit budget left, as last known.",
            ["connector"],
            registry=r,
        )
        self.headroom_maximum = Gauge(
            "storelink_ratelimit_maximum", "Rate-limit budget size, as last known.", ["connector"], registry=r
        )
        self._operations: dict[tuple[str, str], OperationMetrics] = {}
        self._breaker: dict[str, str] = {}
        self._headroom: dict[str, Headroom] = {}
        self.last_errors: dict[str, tuple[str, str, float]] = {}

    def operation(self, connector: str, operation: str) -> OperationMetrics:
        key = (connector, operation)
        found = self._operations.get(key)
        if found is None:
            found = self._operations[key] = OperationMetrics(self, connector, operation)
        return found

    def connector_window(self, connector: str, window: str) -> WindowSummary:
        """Latency and errors of all of a connector's operations together."""
        series = [om.rolling for (c, _), om in self._operations.items() if c == connector]
        return RollingStats.combined(series, window)

    def set_breaker_state(self, connector: str, state: str, gauge: int) -> None:
        self._breaker[connector] = state
        self.breaker_state.labels(connector).set(gauge)

    def breaker_transition(self, connector: str, old: str, new: str, gauge: int) -> None:
        self.breaker_transitions.labels(connector, old, new).inc()
        self.set_breaker_state(connector, new, gauge)

    def set_headroom(self, connector: str, headroom: Headroom) -> None:
        self._headroom[connector] = headroom
        self.headroom_available.labels(connector).set(headroom.available)
        self.headroom_maximum.labels(connector).set(headroom.maximum)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def counter_value(self, name: str, **labels: str) -> float:
        """Sum of a counter's samples matching ``labels`` (for tests and the snapshot)."""
        total = 0.0
        for family in self.registry.collect():
            for sample in family.samples:
                if sample.name == f"{name}_total" and all(sample.labels.get(k) == v for k, v in labels.items()):
                    total += sample.value
        return total

    def snapshot(self) -> dict[str, Any]:
        """Everything the dashboard shows, as JSON-ready data."""
        connectors: dict[str, Any] = {}
        for name in sorted({c for c, _ in self._operations}):
            connectors[name] = {
                "windows": {w: self.connector_window(name, w).to_json() for w in WINDOWS},
                "breaker": self._breaker.get(name, "closed"),
                "headroom": h.model_dump() if (h := self._headroom.get(name)) else None,
                "last_error": _last_error(self.last_errors.get(name)),
                "operations": {},
            }
        for (connector, operation), om in self._operations.items():
            entry = connectors.setdefault(connector, {"operations": {}})
            entry["operations"][operation] = {
                "windows": {w: om.rolling.summary(w).to_json() for w in WINDOWS},
                "requests": self.counter_value("storelink_requests", connector=connector, operation=operation),
                "retries": self.counter_value("storelink_retries", connector=connector, operation=operation),
                "throttles": self.counter_value("storelink_throttles", connector=connector, operation=operation),
                "cache": {
                    result: self.counter_value(
                        "storelink_cache", connector=connector, operation=operation, result=result
                    )
                    for result in ("fresh", "revalidated", "miss")
                },
            }
        for name, state in self._breaker.items():
            connectors.setdefault(name, {"operations": {}})["breaker"] = state
        return {"connectors": connectors}


def _last_error(entry: tuple[str, str, float] | None) -> dict[str, Any] | None:
    if entry is None:
        return None
    kind, operation, at = entry
    return {"kind": kind, "operation": operation, "at": at}
