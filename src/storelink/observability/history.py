"""Metric history in the embedded store, for the dashboard's 1 h / 24 h charts and the SLO page.

The live registry answers "now" (rolling windows of 1 m, 5 m, 1 h); charts over a day and SLO
burn over three days need the past, and the dashboard must answer without a Prometheus server.
So a sampler copies each connector's figures into SQLite every ``interval_s`` seconds:

* cumulative counters (requests by outcome, latency histogram buckets, retries, throttles,
  attempts, limiter wait, cache results), from which any window's increase is exact to one
  sample, as Prometheus' ``increase()`` is;
* the rolling one-minute p50/p95/p99, for the latency charts.

Each store's figures are sampled apart (a ``store`` column; one sampler per store's
:class:`Metrics` view), so one store's calls never show in another's charts.

Counters restart at zero with the process. Each sampler has a *boot* id, and increases are
summed per boot, so a restart loses nothing but the calls between the last sample and the crash.
The same holds for replicas side by side: with PostgreSQL each replica copies the others' samples
into its embedded store (:mod:`storelink.database.history`), and every boot's calls are counted.

Retention: every sample for :data:`FULL_RETENTION_S` (3 days, the longest burn window), then
one sample an hour up to :data:`THIN_RETENTION_S` (31 days, the SLO window).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from storelink.observability.metrics import CALLER_OUTCOMES, Metrics
from storelink.store import EmbeddedStore
from storelink.tasks import in_background

__all__ = [
    "DEFAULT_INTERVAL_S",
    "FULL_RETENTION_S",
    "THIN_RETENTION_S",
    "ConnectorCounters",
    "HistoryExchange",
    "HistoryRow",
    "Increase",
    "MetricsHistory",
    "SeriesPoint",
    "read_counters",
]

log = logging.getLogger("storelink.history")

DEFAULT_INTERVAL_S = 60.0
FULL_RETENTION_S = 3 * 86_400.0 + 3_600.0
THIN_RETENTION_S = 31 * 86_400.0
_THIN_EVERY_S = 3_600.0

_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS metric_history (
        ts            REAL NOT NULL,
        boot          TEXT NOT NULL,
        boot_started  REAL NOT NULL,
        connector     TEXT NOT NULL,
        requests      REAL NOT NULL,
        errors        REAL NOT NULL,
        retries       REAL NOT NULL,
        throttles     REAL NOT NULL,
        p50_ms        REAL,
        p95_ms        REAL,
        p99_ms        REAL,
        counters      TEXT NOT NULL,
        store         TEXT NOT NULL DEFAULT 'default',
        PRIMARY KEY (store, connector, boot, ts)
    )
    """,
    "CREATE INDEX IF NOT EXISTS metric_history_ts ON metric_history (ts)",
)
# A history written before stores had their own rows: every row was the one store's ('default').
_MIGRATE = (
    "ALTER TABLE metric_history RENAME TO metric_history_v1",
    _SCHEMA[0],
    "INSERT INTO metric_history SELECT *, 'default' FROM metric_history_v1",
    "DROP TABLE metric_history_v1",
)
# One written before replicas shared their samples: two boots may sample the same instant now.
_MIGRATE_KEY = (
    "ALTER TABLE metric_history RENAME TO metric_history_v2",
    _SCHEMA[0],
    "INSERT INTO metric_history SELECT * FROM metric_history_v2",
    "DROP TABLE metric_history_v2",
)


# One sample of one connector, in the table's column order.
HistoryRow = tuple[float, str, float, str, float, float, float, float, Any, Any, Any, str, str]


class HistoryExchange(Protocol):
    """Where replicas share their samples (``storelink.database.history.SharedHistory``)."""

    async def exchange(self, store_id: str, boot: str, rows: Sequence[HistoryRow]) -> int:
        """Write this boot's new ``rows``; copy the other replicas' new rows into the embedded store."""
        ...

    async def thin(self, now: float) -> None: ...


def _add(into: dict[str, float], key: str, value: float) -> None:
    into[key] = into.get(key, 0.0) + value


@dataclass(slots=True)
class ConnectorCounters:
    """A connector's cumulative counters, summed over its operations."""

    outcomes: dict[str, float] = field(default_factory=dict)
    buckets: dict[str, float] = field(default_factory=dict)  # latency histogram, by ``le``
    retries: float = 0.0
    throttles: float = 0.0
    attempts: float = 0.0
    limiter_wait_s: float = 0.0
    cache: dict[str, float] = field(default_factory=dict)

    @property
    def requests(self) -> float:
        return sum(self.outcomes.values())

    @property
    def errors(self) -> float:
        """Calls the upstream failed (the caller's own mistakes are not among them)."""
        return self.requests - self.outcomes.get("ok", 0.0) - self.caller_errors

    @property
    def caller_errors(self) -> float:
        return self.count_of(CALLER_OUTCOMES)

    def count_of(self, outcomes: Iterable[str]) -> float:
        return sum(self.outcomes.get(o, 0.0) for o in outcomes)

    def within(self, threshold_s: float) -> float:
        """Calls that took at most ``threshold_s`` (which must be a bucket boundary)."""
        for le, value in self.buckets.items():
            if le != "+Inf" and abs(float(le) - threshold_s) < 1e-9:
                return value
        raise KeyError(f"no latency bucket at {threshold_s:g} s")

    def cache_hit_ratio(self) -> float | None:
        hits = self.cache.get("fresh", 0.0) + self.cache.get("revalidated", 0.0)
        lookups = hits + self.cache.get("miss", 0.0)
        return hits / lookups if lookups else None

    def plus(self, other: ConnectorCounters) -> ConnectorCounters:
        out = ConnectorCounters(
            outcomes=dict(self.outcomes),
            buckets=dict(self.buckets),
            retries=self.retries + other.retries,
            throttles=self.throttles + other.throttles,
            attempts=self.attempts + other.attempts,
            limiter_wait_s=self.limiter_wait_s + other.limiter_wait_s,
            cache=dict(self.cache),
        )
        for k, v in other.outcomes.items():
            _add(out.outcomes, k, v)
        for k, v in other.buckets.items():
            _add(out.buckets, k, v)
        for k, v in other.cache.items():
            _add(out.cache, k, v)
        return out

    def minus(self, earlier: ConnectorCounters) -> ConnectorCounters:
        """What happened between ``earlier`` and this reading of the same boot (never negative)."""

        def sub(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
            return {k: max(0.0, v - b.get(k, 0.0)) for k, v in a.items()}

        return ConnectorCounters(
            outcomes=sub(self.outcomes, earlier.outcomes),
            buckets=sub(self.buckets, earlier.buckets),
            retries=max(0.0, self.retries - earlier.retries),
            throttles=max(0.0, self.throttles - earlier.throttles),
            attempts=max(0.0, self.attempts - earlier.attempts),
            limiter_wait_s=max(0.0, self.limiter_wait_s - earlier.limiter_wait_s),
            cache=sub(self.cache, earlier.cache),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "outcomes": self.outcomes,
            "buckets": self.buckets,
            "retries": self.retries,
            "throttles": self.throttles,
            "attempts": self.attempts,
            "limiter_wait_s": self.limiter_wait_s,
            "cache": self.cache,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ConnectorCounters:
        return cls(
            outcomes={str(k): float(v) for k, v in dict(data.get("outcomes", {})).items()},
            buckets={str(k): float(v) for k, v in dict(data.get("buckets", {})).items()},
            retries=float(data.get("retries", 0.0)),
            throttles=float(data.get("throttles", 0.0)),
            attempts=float(data.get("attempts", 0.0)),
            limiter_wait_s=float(data.get("limiter_wait_s", 0.0)),
            cache={str(k): float(v) for k, v in dict(data.get("cache", {})).items()},
        )


def read_counters(metrics: Metrics) -> dict[str, ConnectorCounters]:
    """Every connector's cumulative counters in ``metrics``' store, in one pass over the registry
    (which holds every store's series)."""
    found: dict[str, ConnectorCounters] = {}

    def entry(labels: dict[str, str]) -> ConnectorCounters:
        name = labels.get("connector", "")
        got = found.get(name)
        if got is None:
            got = found[name] = ConnectorCounters()
        return got

    for family in metrics.registry.collect():
        for sample in family.samples:
            name, labels, value = sample.name, sample.labels, sample.value
            if labels.get("store", metrics.store) != metrics.store:
                continue
            if name == "storelink_requests_total":
                _add(entry(labels).outcomes, labels["outcome"], value)
            elif name == "storelink_request_duration_seconds_bucket":
                _add(entry(labels).buckets, labels["le"], value)
            elif name == "storelink_retries_total":
                entry(labels).retries += value
            elif name == "storelink_throttles_total":
                entry(labels).throttles += value
            elif name == "storelink_attempts_total":
                entry(labels).attempts += value
            elif name == "storelink_limiter_wait_seconds_total":
                entry(labels).limiter_wait_s += value
            elif name == "storelink_cache_total":
                _add(entry(labels).cache, labels["result"], value)
    found.pop("", None)
    return found


@dataclass(frozen=True, slots=True)
class Increase:
    """What a connector did over a window, and how much of the window the history covers."""

    counters: ConnectorCounters
    window_s: float
    covered_s: float

    @property
    def partial(self) -> bool:
        return self.covered_s < self.window_s * 0.98


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """One chart point: the calls in the interval ending at ``ts`` and the latency around it."""

    ts: float
    requests: float
    errors: float
    retries: float
    throttles: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None


@dataclass(slots=True)
class _Row:
    ts: float
    boot: str
    boot_started: float
    raw: str
    _parsed: ConnectorCounters | None = None

    @property
    def counters(self) -> ConnectorCounters:
        if self._parsed is None:
            self._parsed = ConnectorCounters.from_json(json.loads(self.raw))
        return self._parsed


class MetricsHistory:
    """Samples a :class:`Metrics` registry into the embedded store and answers window queries."""

    def __init__(
        self,
        store: EmbeddedStore,
        metrics: Metrics,
        *,
        interval_s: float = DEFAULT_INTERVAL_S,
        clock: Callable[[], float] = time.time,
        shared: HistoryExchange | None = None,
    ) -> None:
        self.store = store
        self.shared = shared
        self._unshared: list[HistoryRow] = []  # samples not yet written to the shared history
        self._thin_shared_at: float | None = None
        self.metrics = metrics
        self.interval_s = interval_s
        self.clock = clock
        self.boot = secrets.token_hex(6)
        self.boot_started = clock()
        self._last_thin = 0.0
        info = store.db.execute("PRAGMA table_info(metric_history)").fetchall()
        columns = {row[1]: row[5] for row in info}  # name -> its place in the primary key (0: none)
        for statement in _MIGRATE if columns and "store" not in columns else ():
            store.db.execute(statement)
        for statement in _MIGRATE_KEY if columns.get("boot") == 0 and "store" in columns else ():
            store.db.execute(statement)
        for statement in _SCHEMA:
            store.db.execute(statement)

    @property
    def store_id(self) -> str:
        """The store whose figures this history samples and reads."""
        return self.metrics.store

    # -- writing ------------------------------------------------------------------------------
    def sample(self, now: float | None = None) -> int:
        """Record one sample of every connector that has metrics; return how many rows."""
        now = self.clock() if now is None else now
        rows: list[HistoryRow] = []
        for name, counters in sorted(read_counters(self.metrics).items()):
            window = self.metrics.connector_window(name, "1m")
            if window.count == 0:  # the minute's ring can miss calls 50-60 s old: the interval's calls
                window = self.metrics.connector_window(name, "5m")
            rows.append(
                (
                    now,
                    self.boot,
                    self.boot_started,
                    name,
                    counters.requests,
                    counters.errors,
                    counters.retries,
                    counters.throttles,
                    window.p50_ms,
                    window.p95_ms,
                    window.p99_ms,
                    json.dumps(counters.to_json(), separators=(",", ":")),
                    self.store_id,
                )
            )
        self.store.db.executemany(
            "INSERT OR REPLACE INTO metric_history VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
        )
        if self.shared is not None:
            self._unshared.extend(rows)
        if now - self._last_thin >= _THIN_EVERY_S:
            self.thin(now)
        return len(rows)

    def thin(self, now: float) -> None:
        """Keep every sample for 3 days, the first of each hour for 31 days, nothing older."""
        db = self.store.db
        db.execute("DELETE FROM metric_history WHERE ts < ?", (now - THIN_RETENTION_S,))
        db.execute(
            """
            DELETE FROM metric_history WHERE ts < ? AND rowid NOT IN (
                SELECT MIN(rowid) FROM metric_history WHERE ts < ?
                GROUP BY store, connector, boot, CAST(ts / 3600 AS INTEGER)
            )
            """,
            (now - FULL_RETENTION_S, now - FULL_RETENTION_S),
        )
        self._last_thin = now
        if self.shared is not None:
            self._thin_shared_at = now

    async def run(self) -> None:
        """Sample now and then every ``interval_s`` until cancelled. A failing sample is logged
        and skipped: history is a convenience, never a reason to stop serving."""
        while True:
            try:
                self.sample()
            except (sqlite3.Error, ValueError) as exc:
                log.warning("metric history sample failed: %s", exc)
            await self.share()
            await asyncio.sleep(self.interval_s)

    async def share(self) -> None:
        """Exchange samples with the other replicas, when there is a shared history. What cannot be
        written now is kept and written with the next exchange (up to a day of samples)."""
        if self.shared is None:
            return
        try:
            await self.shared.exchange(self.store_id, self.boot, self._unshared)
            self._unshared.clear()
            if self._thin_shared_at is not None:  # the embedded copy was thinned: the shared one too
                await self.shared.thin(self._thin_shared_at)
                self._thin_shared_at = None
        except Exception as exc:  # noqa: BLE001  (history is a convenience: log it and go on)
            del self._unshared[: max(0, len(self._unshared) - 1440 * 8)]
            log.warning("metric history not shared this time: %s", getattr(exc, "message", type(exc).__name__))

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[MetricsHistory]:
        async with in_background(self.run(), name="storelink-metric-history"):
            yield self

    # -- reading ------------------------------------------------------------------------------
    def connectors(self) -> list[str]:
        found = self.store.db.execute(
            "SELECT DISTINCT connector FROM metric_history WHERE store = ? ORDER BY 1", (self.store_id,)
        )
        return [r[0] for r in found]

    def sample_count(self, connector: str) -> int:
        row = self.store.db.execute(
            "SELECT COUNT(*) FROM metric_history WHERE store = ? AND connector = ?", (self.store_id, connector)
        ).fetchone()
        return int(row[0])

    def increase(
        self,
        connector: str,
        window_s: float,
        *,
        now: float | None = None,
        live: ConnectorCounters | None = None,
    ) -> Increase:
        """Counters' increase over the last ``window_s``, ending with ``live`` (the registry now).

        Boot by boot, since boots may be a restart or other replicas running beside this one (their
        rows come from PostgreSQL): a boot's increase is its last counters minus its last sample
        before the window; without one, all of them if it began inside the window, else from its
        first sample."""
        now = self.clock() if now is None else now
        start = now - window_s
        db = self.store.db
        key = (self.store_id, connector)
        baselines = db.execute(
            "SELECT ts, boot, boot_started, counters FROM metric_history AS h WHERE store = ? AND connector = ? "
            "AND ts = (SELECT MAX(ts) FROM metric_history WHERE store = h.store AND connector = h.connector "
            "AND boot = h.boot AND ts < ?)",
            (*key, start),
        ).fetchall()
        rows = db.execute(
            "SELECT ts, boot, boot_started, counters FROM metric_history WHERE store = ? AND connector = ? "
            "AND ts >= ? AND ts <= ? ORDER BY ts",
            (*key, start, now),
        ).fetchall()
        boots: dict[str, list[_Row]] = {}
        for row in [*baselines, *rows]:
            boots.setdefault(row[1], []).append(_Row(*row))
        if live is not None:
            boots.setdefault(self.boot, []).append(_Row(now, self.boot, self.boot_started, "", live))
        total = ConnectorCounters()
        covered_from = now
        for points in boots.values():
            first, last = points[0], points[-1]
            if first.ts < start:  # a sample before the window: the increase since it
                covered_from = start
            elif first.boot_started >= start:  # began inside the window: everything since
                first = _Row(first.boot_started, first.boot, first.boot_started, "", ConnectorCounters())
            if last is not first:
                total = total.plus(last.counters.minus(first.counters))
            covered_from = min(covered_from, max(start, first.ts))
        return Increase(total, window_s, min(window_s, max(0.0, now - covered_from)))

    def series(
        self, connector: str, window_s: float, *, now: float | None = None, points: int = 120
    ) -> list[SeriesPoint]:
        """Chart points over the last ``window_s``, merged into at most ``points`` buckets.

        Counts are summed; a bucket's percentiles are the highest of its samples' one-minute
        percentiles among those with calls (percentiles do not add; the highest keeps a spike from
        being averaged away, so a longer range's worst p95 is never below a shorter one's)."""
        now = self.clock() if now is None else now
        start = now - window_s
        earliest = start - self.interval_s * 2
        rows = self.store.db.execute(
            "SELECT ts, boot, requests, errors, retries, throttles, p50_ms, p95_ms, p99_ms, boot_started "
            "FROM metric_history WHERE store = ? AND connector = ? AND ts >= ? AND ts <= ? ORDER BY ts",
            (self.store_id, connector, earliest, now),
        ).fetchall()
        deltas: list[tuple[float, float, float, float, float, Any, Any, Any]] = []
        previous: dict[str, tuple[Any, ...]] = {}  # by boot: a restart, or replicas side by side
        for row in rows:
            ts, boot, req, err, ret, thr = row[:6]
            before = previous.get(boot)
            if before is not None:
                d = (req - before[2], err - before[3], ret - before[4], thr - before[5])
            elif row[9] > rows[0][0]:  # a boot that began after the range's first sample: all of it
                d = (req, err, ret, thr)
            else:  # the first sample of a boot already running: a baseline
                d = (0.0, 0.0, 0.0, 0.0)
            previous[boot] = row
            if ts >= start:
                r, e, t, h = (max(0.0, x) for x in d)
                deltas.append((ts, r, e, t, h, row[6], row[7], row[8]))
        if not deltas:
            return []
        width = max(window_s / max(points, 1), self.interval_s)
        buckets: dict[int, list[tuple[float, float, float, float, float, Any, Any, Any]]] = {}
        for delta in deltas:
            buckets.setdefault(int((delta[0] - start) // width), []).append(delta)
        out: list[SeriesPoint] = []
        for _, items in sorted(buckets.items()):
            requests = sum(i[1] for i in items)
            quiet = requests == 0  # no calls in this bucket: a gap in the latency lines
            out.append(
                SeriesPoint(
                    ts=items[-1][0],
                    requests=requests,
                    errors=sum(i[2] for i in items),
                    retries=sum(i[3] for i in items),
                    throttles=sum(i[4] for i in items),
                    p50_ms=None if quiet else _highest([(i[5], i[1]) for i in items]),
                    p95_ms=None if quiet else _highest([(i[6], i[1]) for i in items]),
                    p99_ms=None if quiet else _highest([(i[7], i[1]) for i in items]),
                )
            )
        return out


def _highest(values: list[tuple[float | None, float]]) -> float | None:
    known = [v for v, calls in values if v is not None and calls > 0]
    return round(max(known), 3) if known else None
