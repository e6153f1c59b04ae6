"""Answers across stores: each store answers for itself, a failing store is named in the answer and
the others still answer."""

from __future__ import annotations

from pathlib import Path

from storelink.fakes.faults import Fault, FaultPlan
from storelink.insights.across import health_across, low_stock_across, sales_and_traffic
from storelink.runtime import open_fleet
from storelink.store import EmbeddedStore
from tests.conftest import make_settings


async def test_sales_and_traffic_side_by_side_with_a_failing_store(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, demo_stores=3, demo_today="2026-11-20", shopify={"max_retries": 0}, ga4={"max_retries": 0}
    )
    async with open_fleet(settings, store=EmbeddedStore(None)) as fleet:
        broken = await fleet.runtime("demo-2")
        for source in ("shopify", "ga4"):
            broken.fakes[source].faults = FaultPlan(rates={Fault.SERVER_ERROR: 1.0})
        answer = await sales_and_traffic(fleet, fleet.ids(), days=7)
    assert [row.store for row in answer.stores] == ["demo-1", "demo-3"]
    assert all(row.orders and row.sessions and not row.problems for row in answer.stores)
    assert answer.stores[0].orders != answer.stores[1].orders  # their own data
    (failed,) = answer.failed
    assert (failed.store, failed.name, failed.kind) == ("demo-2", "Northline Motorsport", "unavailable")
    assert "shopify" in failed.message and "ga4" in failed.message


async def test_one_failing_source_is_a_problem_of_its_store_not_a_failure(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, demo_stores=2, demo_today="2026-11-20", ga4={"max_retries": 0})
    async with open_fleet(settings, store=EmbeddedStore(None)) as fleet:
        (await fleet.runtime("demo-1")).fakes["ga4"].faults = FaultPlan(rates={Fault.SERVER_ERROR: 1.0})
        answer = await sales_and_traffic(fleet, fleet.ids(), days=7)
    first, second = answer.stores
    assert first.orders and first.sessions is None and first.problems[0].startswith("ga4: [unavailable]")
    assert second.sessions and not second.problems and not answer.failed


async def test_low_stock_and_health_across_stores(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, demo_stores=2, demo_today="2026-11-20")
    async with open_fleet(settings, store=EmbeddedStore(None)) as fleet:
        low = await low_stock_across(fleet, fleet.ids(), limit=5)
        health = await health_across(fleet, fleet.ids())
    assert 0 < len(low.rows) <= 5 and {r.kind for r in low.rows} == {"stockout_risk"}
    risks = [r.revenue_at_risk for r in low.rows]
    assert risks == sorted(risks, reverse=True)
    assert [h.store for h in health.stores] == ["demo-1", "demo-2"]
    assert all(len(h.connectors) == 5 and all(c.status == "ok" for c in h.connectors) for h in health.stores)
