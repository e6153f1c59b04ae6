"""Metric history: samples land in SQLite, increases over windows are exact to one sample and
survive a restart (a new boot), charts bucket the samples, old samples are thinned."""

from __future__ import annotations

import pytest

from storelink.observability.history import FULL_RETENTION_S, MetricsHistory, read_counters
from storelink.observability.metrics import Metrics
from storelink.store import EmbeddedStore
from tests.support.clocks import ManualClock as WallClock


def calls(metrics: Metrics, connector: str, ok: int, failed: int = 0, latency_s: float = 0.2) -> None:
    om = metrics.operation(connector, "op")
    for _ in range(ok):
        om.observe(outcome="ok", latency_s=latency_s, attempts=1)
    for _ in range(failed):
        om.observe(outcome="unavailable", latency_s=latency_s, attempts=3)
        om.retry("unavailable")
        om.retry("unavailable")
    om.throttled()


def test_read_counters_sums_operations() -> None:
    m = Metrics()
    calls(m, "shopify", ok=3, failed=1, latency_s=0.3)
    m.operation("shopify", "other").observe(outcome="timeout", latency_s=2.0, attempts=2)
    m.operation("shopify", "other").cache("fresh")
    m.operation("shopify", "other").cache("miss")
    c = read_counters(m)["shopify"]
    assert c.requests == 5 and c.errors == 2
    assert c.outcomes == {"ok": 3, "unavailable": 1, "timeout": 1}
    assert c.within(0.5) == 4 and c.within(2.5) == 5 and c.buckets["+Inf"] == 5
    assert c.retries == 2 and c.throttles == 1 and c.attempts == 3 + 3 + 2
    assert c.cache_hit_ratio() == pytest.approx(0.5)
    with pytest.raises(KeyError):
        c.within(0.3)


def test_increase_over_windows_and_restart() -> None:
    clock = WallClock()
    store = EmbeddedStore(None)
    m = Metrics()
    h = MetricsHistory(store, m, interval_s=60, clock=clock)
    start = clock.now
    calls(m, "shopify", ok=10)
    h.sample()  # t=0: 10 ok
    clock.now += 600
    calls(m, "shopify", ok=5, failed=5)
    h.sample()  # t=600: 15 ok, 5 failed

    # The process restarts: a new registry and a new boot, counters from zero.
    m2 = Metrics()
    clock.now += 60
    h2 = MetricsHistory(store, m2, interval_s=60, clock=clock)
    calls(m2, "shopify", ok=2, failed=2)
    clock.now += 60
    live = read_counters(m2)["shopify"]

    recent = h2.increase("shopify", 100, live=live)
    # Window (t=620, t=720]: the baseline is the t=600 sample (old boot), then the new boot's 4 calls.
    assert recent.counters.requests == 4 and recent.counters.errors == 2
    assert not recent.partial

    last_5m = h2.increase("shopify", 300, live=live)
    # Window (t=420, t=720]: the t=600 sample is inside it, so the calls between the t=0 and t=600
    # samples count too (exact to one sample, as Prometheus' increase()).
    assert last_5m.counters.requests == 10 + 4

    whole = h2.increase("shopify", 3600, live=live)
    # No sample before the window: the first boot began inside it, so all its calls count.
    assert whole.counters.requests == 20 + 4
    assert whole.counters.errors == 5 + 2
    assert whole.counters.outcomes["unavailable"] == 7
    assert whole.covered_s == pytest.approx(clock.now - start)
    assert whole.partial

    between = h2.increase("shopify", 700, now=start + 650)
    assert between.counters.requests == 20  # both samples of the first boot, nothing live


def test_series_buckets_counts_and_gaps() -> None:
    clock = WallClock()
    m = Metrics(clock=clock)
    h = MetricsHistory(EmbeddedStore(None), m, interval_s=60, clock=clock)
    for minute in range(10):
        if minute != 5:
            calls(m, "ga4", ok=9, failed=1, latency_s=0.1 * (minute + 1))
        h.sample()
        clock.now += 60
    series = h.series("ga4", 3600, points=120)
    assert len(series) == 10
    assert series[0].requests == 0  # the first sample is the baseline
    assert [p.requests for p in series[1:]] == [10, 10, 10, 10, 0, 10, 10, 10, 10]
    assert series[5].p95_ms is None and series[5].error_rate is None
    assert series[6].error_rate == pytest.approx(0.1)
    assert series[9].p50_ms is not None and series[9].p50_ms == pytest.approx(1000, rel=0.1)
    coarse = h.series("ga4", 3600, points=2)
    assert sum(p.requests for p in coarse) == 80
    assert len(coarse) <= 2


def test_thin_keeps_hourly_samples_then_drops() -> None:
    clock = WallClock()
    m = Metrics()
    calls(m, "bing", ok=1)
    h = MetricsHistory(EmbeddedStore(None), m, interval_s=60, clock=clock)
    first = clock.now
    for i in range(0, 2 * 3600, 600):  # every 10 minutes for 2 hours
        h.sample(now=first + i)
    assert h.sample_count("bing") == 12
    h.thin(first + FULL_RETENTION_S + 3 * 3600)
    assert h.sample_count("bing") == 2  # one per hour
    h.thin(first + 40 * 86_400)
    assert h.sample_count("bing") == 0


@pytest.mark.looptime
async def test_running_samples_until_stopped() -> None:
    import asyncio

    m = Metrics()
    calls(m, "zoho", ok=1)
    store = EmbeddedStore(None)
    h = MetricsHistory(store, m, interval_s=10)
    async with h.running():
        await asyncio.sleep(25)
    assert h.sample_count("zoho") == 3  # t = 0, 10, 20
    await asyncio.sleep(30)
    assert h.sample_count("zoho") == 3


def test_each_store_has_its_own_history() -> None:
    """One registry holds every store's series; a store's counters and samples are its own."""
    clock = WallClock()
    north = Metrics(store="north")
    south = north.for_store("south")
    calls(north, "shopify", ok=5)
    calls(south, "shopify", ok=1, failed=2)
    assert read_counters(north)["shopify"].requests == 5
    assert read_counters(south)["shopify"].errors == 2
    db = EmbeddedStore(None)
    histories = [MetricsHistory(db, m, clock=clock) for m in (north, south)]
    for history in histories:
        history.sample()
    clock.now += 60
    calls(north, "shopify", ok=3)
    for history in histories:
        history.sample()
    assert [h.sample_count("shopify") for h in histories] == [2, 2]
    assert histories[0].increase("shopify", 3600).counters.requests == 8
    assert histories[1].increase("shopify", 3600).counters.requests == 3
    assert [p.requests for p in histories[1].series("shopify", 3600)] == [0.0, 0.0]


def test_a_history_from_before_stores_becomes_the_default_stores() -> None:
    db = EmbeddedStore(None)
    db.db.execute(
        "CREATE TABLE metric_history (ts REAL NOT NULL, boot TEXT NOT NULL, boot_started REAL NOT NULL, "
        "connector TEXT NOT NULL, requests REAL NOT NULL, errors REAL NOT NULL, retries REAL NOT NULL, "
        "throttles REAL NOT NULL, p50_ms REAL, p95_ms REAL, p99_ms REAL, counters TEXT NOT NULL, "
        "PRIMARY KEY (connector, ts))"
    )
    db.db.execute("INSERT INTO metric_history VALUES (1, 'b', 0, 'shopify', 4, 0, 0, 0, 1, 2, 3, '{}')")
    history = MetricsHistory(db, Metrics(), clock=WallClock(100.0))
    assert history.sample_count("shopify") == 1
    assert MetricsHistory(db, Metrics(store="north")).sample_count("shopify") == 0


def test_a_sample_has_latency_for_the_calls_it_counts_and_caller_mistakes_are_not_errors() -> None:
    # Calls early in a 60 s interval are older than the minute's ring reaches (10 s slices) when
    # the next sample is taken: the chart drew their error rate and said "no calls" for latency.
    clock = WallClock()
    mono = [clock.now]
    store = EmbeddedStore(None)
    m = Metrics(clock=lambda: mono[0])
    h = MetricsHistory(store, m, interval_s=60, clock=clock)
    m.operation("shopify", "op").observe(outcome="ok", latency_s=0.02, attempts=1)
    h.sample()  # the connector's first row: counts from here
    mono[0] += 5
    calls(m, "shopify", ok=3, latency_s=0.02)
    m.operation("shopify", "op").observe(outcome="invalid_request", latency_s=0.01, attempts=1)  # a bad cursor
    clock.now += 60
    mono[0] += 58
    h.sample()
    (point,) = [p for p in h.series("shopify", 3600, now=clock.now) if p.requests]
    assert point.requests == 4 and point.errors == 0
    assert point.p50_ms is not None
    assert read_counters(m)["shopify"].caller_errors == 1


def test_a_history_keyed_without_boots_is_rekeyed_so_replicas_may_sample_the_same_instant() -> None:
    db = EmbeddedStore(None)
    db.db.execute(
        "CREATE TABLE metric_history (ts REAL NOT NULL, boot TEXT NOT NULL, boot_started REAL NOT NULL, "
        "connector TEXT NOT NULL, requests REAL NOT NULL, errors REAL NOT NULL, retries REAL NOT NULL, "
        "throttles REAL NOT NULL, p50_ms REAL, p95_ms REAL, p99_ms REAL, counters TEXT NOT NULL, "
        "store TEXT NOT NULL DEFAULT 'default', PRIMARY KEY (store, connector, ts))"
    )
    db.db.execute("INSERT INTO metric_history VALUES (1, 'old', 0, 'shopify', 4, 0, 0, 0, 1, 2, 3, '{}', 'default')")
    clock = WallClock(100.0)
    first, second = MetricsHistory(db, Metrics(), clock=clock), MetricsHistory(db, Metrics(), clock=clock)
    assert first.sample_count("shopify") == 1  # kept
    for history in (first, second):
        calls(history.metrics, "shopify", ok=1)
        history.sample()  # the same instant, two boots
    assert first.sample_count("shopify") == 3
