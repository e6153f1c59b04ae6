"""One metrics registry, exported three ways: Prometheus text, a JSON snapshot, the dashboard.

Label values are connector and operation names and outcome kinds: closed sets written in code,
never URLs, ids or anything a caller typed, so no secret can reach a label.

The hot path records into plain per-operation numbers (:class:`OperationMetrics`), which a
collector turns into Prometheus families when /metrics is scraped.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from storelink.errors import Headroom
from storelink.observability.rolling import WINDOWS, RollingStats, WindowSummary

__all__ = ["CONTENT_TYPE", "Metrics", "OperationMetrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# A boundary sits exactly on each latency SLO threshold (0.5 s, 1 s, 2.5 s) so SLIs are exact.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class OperationMetrics:
    """The counters of one (connector, operation), kept as plain numbers.

    Calls are recorded on the event loop's thread, so no lock is needed; prometheus-client's own
    instruments take a lock per increment, which cost more than the rest of the metrics path. The
    registry reads these numbers at scrape time through :class:`_OperationCollector`.
    """

    __slots__ = (
        "_m",
        "attempts",
        "cache_results",
        "connector",
        "latency_buckets",
        "latency_count",
        "latency_sum",
        "limiter_wait_s",
        "operation",
        "outcomes",
        "retries",
        "rolling",
        "throttles",
    )

    def __init__(self, metrics: Metrics, connector: str, operation: str) -> None:
        self._m = metrics
        self.connector = connector
        self.operation = operation
        self.outcomes: dict[str, int] = {}
        self.latency_buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # per bucket, not cumulative; last is +Inf
        self.latency_sum = 0.0
        self.latency_count = 0
        self.attempts = 0
        self.retries: dict[str, int] = {}
        self.throttles = 0
        self.limiter_wait_s = 0.0
        self.cache_results: dict[str, int] = {}
        self.rolling = RollingStats(metrics.clock)

    def observe(self, *, outcome: str, latency_s: float, attempts: int) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        self.latency_buckets[bisect.bisect_left(LATENCY_BUCKETS, latency_s)] += 1
        self.latency_sum += latency_s
        self.latency_count += 1
        self.attempts += attempts
        error = outcome != "ok"
        self.rolling.record(latency_s, error=error)
        if error:
            self._m.last_errors[self.connector] = (outcome, self.operation, time.time())

    def retry(self, reason: str) -> None:
        self.retries[reason] = self.retries.get(reason, 0) + 1

    def throttled(self) -> None:
        self.throttles += 1

    def limiter_waited(self, seconds: float) -> None:
        self.limiter_wait_s += seconds

    def cache(self, result: str) -> None:
        self.cache_results[result] = self.cache_results.get(result, 0) + 1


class _OperationCollector(Collector):
    """Exports every OperationMetrics as Prometheus families at scrape time."""

    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics

    def describe(self) -> Iterable[Metric]:
        return []  # families are known only once operations have run

    def collect(self) -> Iterable[Metric]:
        requests = CounterMetricFamily(
            "storelink_requests", "Calls by outcome kind (ok or an error kind).", labels=[*_OP, "outcome"]
        )
        latency = HistogramMetricFamily(
            "storelink_request_duration_seconds", "Call latency, retries and waits included.", labels=_OP
        )
        attempts = CounterMetricFamily(
            "storelink_attempts", "Attempts sent upstream (first tries and retries).", labels=_OP
        )
        retries = CounterMetricFamily(
            "storelink_retries", "Retries by the error kind that caused them.", labels=[*_OP, "reason"]
        )
        throttles = CounterMetricFamily(
            "storelink_throttles", "Attempts the upstream refused for rate (429, THROTTLED, quota).", labels=_OP
        )
        waits = CounterMetricFamily(
            "storelink_limiter_wait_seconds", "Time spent waiting for the local rate limiter.", labels=_OP
        )
        cache = CounterMetricFamily(
            "storelink_cache", "Cache lookups: fresh, revalidated or miss.", labels=[*_OP, "result"]
        )
        for (connector, operation), om in list(self._m._operations.items()):
            labels = [connector, operation]
            for outcome, n in om.outcomes.items():
                requests.add_metric([*labels, outcome], n)
            cumulative, running = [], 0
            for bound, n in zip((*LATENCY_BUCKETS, float("inf")), om.latency_buckets, strict=True):
                running += n
                cumulative.append(("+Inf" if bound == float("inf") else repr(bound), running))
            latency.add_metric(labels, cumulative, om.latency_sum)
            attempts.add_metric(labels, om.attempts)
            for reason, n in om.retries.items():
                retries.add_metric([*labels, reason], n)
            throttles.add_metric(labels, om.throttles)
            waits.add_metric(labels, om.limiter_wait_s)
            for result, n in om.cache_results.items():
                cache.add_metric([*labels, result], n)
        yield from (requests, latency, attempts, retries, throttles, waits, cache)


_OP = ["connector", "operation"]


class Metrics:
    def __init__(
        self, registry: CollectorRegistry | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.clock = clock
        r = self.registry
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
        r.register(_OperationCollector(self))
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
