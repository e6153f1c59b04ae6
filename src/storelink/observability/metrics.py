"""One metrics registry, exported three ways: Prometheus text, a JSON snapshot, the dashboard.

Label values are store ids (from the operator's configuration), connector and operation names and
outcome kinds: closed sets, never URLs or anything a caller typed, so no secret can reach a label.
One registry serves every store: :meth:`Metrics.for_store` is a view that records under its store.

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

__all__ = ["CALLER_OUTCOMES", "CONTENT_TYPE", "DEFAULT_STORE", "Metrics", "OperationMetrics", "is_upstream_error"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# The caller's own mistakes (a bad cursor, an unknown order id): the upstream answered correctly.
# They count as calls, not errors, in error rates and the pages' "last error", as slos.yaml counts
# them as served; requests_total keeps every outcome, so they stay visible by kind.
CALLER_OUTCOMES = frozenset({"invalid_request", "not_found"})


def is_upstream_error(outcome: str) -> bool:
    """Whether an outcome is a failure of the upstream (or of our way to it), not the caller's."""
    return outcome != "ok" and outcome not in CALLER_OUTCOMES


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
        self._m = metrics  # the store's view
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
        error = is_upstream_error(outcome)
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
        for store, connector, operation, om in self._m._state.every_operation():
            labels = [store, connector, operation]
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


_OP = ["store", "connector", "operation"]
DEFAULT_STORE = "default"


class _State:
    """What every store's view of one registry shares."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.breaker_state = Gauge(
            "storelink_breaker_state",
            "Circuit breaker: 0 closed, 1 half-open, 2 open.",
            ["store", "connector"],
            registry=registry,
        )
        self.breaker_transitions = Counter(
            "storelink_breaker_transitions",
            "Circuit breaker state changes.",
            ["store", "connector", "from_state", "to_state"],
            registry=registry,
        )
        self.headroom_available = Gauge(
            "storelink_ratelimit_available",
            "Rate-limit budget left, as last known.",
            ["store", "connector"],
            registry=registry,
        )
        self.headroom_maximum = Gauge(
            "storelink_ratelimit_maximum",
            "Rate-limit budget size, as last known.",
            ["store", "connector"],
            registry=registry,
        )
        # By store, then (connector, operation): a store's view reads its own without scanning others'.
        self.operations: dict[str, dict[tuple[str, str], OperationMetrics]] = {}
        self.breaker: dict[tuple[str, str], str] = {}
        self.headroom: dict[tuple[str, str], Headroom] = {}
        self.last_errors: dict[str, dict[str, tuple[str, str, float]]] = {}

    def every_operation(self) -> list[tuple[str, str, str, OperationMetrics]]:
        """(store, connector, operation, its metrics) of every store; a copy, since a scrape may run
        while calls add operations."""
        return [(s, c, o, om) for s, own in list(self.operations.items()) for (c, o), om in list(own.items())]


class Metrics:
    """One store's view of the metrics registry (``store`` label); :meth:`for_store` gives another
    store's view of the same registry, so /metrics exports every store at once."""

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        store: str = DEFAULT_STORE,
        _state: _State | None = None,
    ) -> None:
        self.clock = clock
        self.store = store
        if _state is None:
            _state = _State(registry or CollectorRegistry(auto_describe=True))
            _state.registry.register(_OperationCollector(self))
        self._state = _state
        self.registry = _state.registry
        self.last_errors = _state.last_errors.setdefault(store, {})
        self._ops = _state.operations.setdefault(store, {})  # this store's, by (connector, operation)

    def for_store(self, store: str) -> Metrics:
        """The view that records under ``store`` (same registry, same clock); this one for its own."""
        if store == self.store:
            return self
        return Metrics(clock=self.clock, store=store, _state=self._state)

    def stores(self) -> list[str]:
        """The stores anything was recorded for."""
        return sorted({s for s, own in self._state.operations.items() if own} | {s for s, _ in self._state.breaker})

    def _new_operation(self, connector: str, operation: str) -> OperationMetrics:
        return OperationMetrics(self, connector, operation)

    def operation(self, connector: str, operation: str) -> OperationMetrics:
        found = self._ops.get((connector, operation))
        if found is None:
            found = self._ops[(connector, operation)] = self._new_operation(connector, operation)
        return found

    def connector_window(self, connector: str, window: str) -> WindowSummary:
        """Latency and errors of all of a connector's operations together."""
        series = [om.rolling for (c, _), om in self._ops.items() if c == connector]
        return RollingStats.combined(series, window)

    def set_breaker_state(self, connector: str, state: str, gauge: int) -> None:
        self._state.breaker[(self.store, connector)] = state
        self._state.breaker_state.labels(self.store, connector).set(gauge)

    def breaker_transition(self, connector: str, old: str, new: str, gauge: int) -> None:
        self._state.breaker_transitions.labels(self.store, connector, old, new).inc()
        self.set_breaker_state(connector, new, gauge)

    def set_headroom(self, connector: str, headroom: Headroom) -> None:
        self._state.headroom[(self.store, connector)] = headroom
        self._state.headroom_available.labels(self.store, connector).set(headroom.available)
        self._state.headroom_maximum.labels(self.store, connector).set(headroom.maximum)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def counter_value(self, name: str, **labels: str) -> float:
        """Sum of this store's samples of a counter matching ``labels`` (for tests and the snapshot)."""
        labels = {"store": self.store, **labels}
        total = 0.0
        for family in self.registry.collect():
            for sample in family.samples:
                if sample.name == f"{name}_total" and all(sample.labels.get(k) == v for k, v in labels.items()):
                    total += sample.value
        return total

    def snapshot(self) -> dict[str, Any]:
        """Everything the dashboard shows of this store, as JSON-ready data."""
        connectors: dict[str, Any] = {}
        breakers = {c: state for (s, c), state in self._state.breaker.items() if s == self.store}
        for name in sorted({c for c, _ in self._ops}):
            connectors[name] = {
                "windows": {w: self.connector_window(name, w).to_json() for w in WINDOWS},
                "breaker": breakers.get(name, "closed"),
                "headroom": h.model_dump() if (h := self._state.headroom.get((self.store, name))) else None,
                "last_error": _last_error(self.last_errors.get(name)),
                "operations": {},
            }
        for (connector, operation), om in self._ops.items():
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
        for name, state in breakers.items():
            connectors.setdefault(name, {"operations": {}})["breaker"] = state
        return {"connectors": connectors}


def _last_error(entry: tuple[str, str, float] | None) -> dict[str, Any] | None:
    if entry is None:
        return None
    kind, operation, at = entry
    return {"kind": kind, "operation": operation, "at": at}
