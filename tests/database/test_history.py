"""Metric history shared by replicas through PostgreSQL: each replica samples its own calls, and
after an exchange every replica's increases and charts count all of them; the sequence of
restarts and of replicas side by side is read boot by boot."""

from __future__ import annotations

import pytest

from storelink.database.history import SharedHistory
from storelink.database.postgres import Database
from storelink.observability.history import MetricsHistory, read_counters
from storelink.observability.metrics import Metrics
from storelink.store import EmbeddedStore
from tests.observability.test_history import calls
from tests.support.clocks import ManualClock as WallClock
from tests.support.postgres_server import postgres_answers
from tests.support.redis_server import free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not postgres_answers(), reason="no PostgreSQL at 127.0.0.1:5432 (.ci/run starts one)"),
]


def replica(database: Database, clock: WallClock) -> tuple[MetricsHistory, Metrics]:
    store, metrics = EmbeddedStore(None), Metrics()
    return MetricsHistory(store, metrics, interval_s=60, clock=clock, shared=SharedHistory(database, store)), metrics


async def test_every_replica_counts_every_replicas_calls(database: Database) -> None:
    clock = WallClock()
    (a, on_a), (b, on_b), (c, on_c) = (replica(database, clock) for _ in range(3))
    for metrics in (on_a, on_b, on_c):
        calls(metrics, "shopify", ok=0)  # the connector's series exist (a throttle), no call yet
    for history in (a, b, c):
        history.sample()  # each replica's first sample: its baseline
    clock.now += 60
    calls(on_a, "shopify", ok=5)
    calls(on_b, "shopify", ok=2, failed=1)
    for history in (a, b, c):
        history.sample()
    for history in (a, b, c, a):  # a exchanges twice: it has written before b and c did
        await history.share()
    clock.now += 30
    for history in (a, b, c):
        found = history.increase("shopify", 600)
        assert (found.counters.requests, found.counters.errors) == (8, 1)
        points = [p for p in history.series("shopify", 3600) if p.requests]
        assert [(p.requests, p.errors) for p in points] == [(8, 1)]
    # A replica's own calls since its last sample count too, as the live registry adds them.
    calls(on_c, "shopify", ok=4)
    assert c.increase("shopify", 600, live=read_counters(on_c)["shopify"]).counters.requests == 12


async def test_without_the_database_each_replica_keeps_its_own_history(tmp_path: object) -> None:
    unreachable = Database(f"postgresql://storelink:pw@127.0.0.1:{free_port()}/x", schema="storelink", timeout_s=0.5)
    await unreachable.open()
    try:
        clock = WallClock()
        a, on_a = replica(unreachable, clock)
        a.sample()
        clock.now += 60
        calls(on_a, "shopify", ok=3)
        a.sample()
        await a.share()  # logged, not raised: history is a convenience
        assert a.increase("shopify", 600).counters.requests == 3
    finally:
        await unreachable.close()
