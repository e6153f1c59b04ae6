"""Inventory levels read page by page and through a bulk operation: the same report either way.

``looptime`` makes the cost limiter's waits instant (the paged read of every location spends about
8,000 points against a 2,000-point bucket) and the fake refills its bucket on the same loop clock,
so the paged path is paced exactly as against Shopify, just without the real waiting."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest

from storelink.connectors.progress import progress_listener
from storelink.connectors.shopify import models as m
from storelink.connectors.shopify import queries as q
from storelink.connectors.shopify.bulk import query_rows
from storelink.connectors.shopify.client import DEMO_SHOP, ShopifyConnector
from storelink.errors import ConnectorError, ErrorKind
from storelink.fakes.base import InProcessTransport
from storelink.fakes.data import demo_store
from storelink.fakes.faults import FaultPlan
from storelink.fakes.shopify import DEFAULT_TOKEN as DEMO_TOKEN
from storelink.fakes.shopify import ShopifyFake
from storelink.observability.metrics import Metrics
from storelink.runtime import open_runtime
from storelink.settings import ShopifyKnobs
from storelink.store import EmbeddedStore
from tests.conftest import make_settings

pytestmark = pytest.mark.looptime


@dataclass
class Demo:
    connector: ShopifyConnector
    fake: ShopifyFake

    @property
    def levels(self) -> int:
        return sum(len(v.levels) for v in self.fake.store.variants)

    @property
    def inventory_bulks(self) -> int:
        return sum("inventoryLevels" in op.query for op in self.fake.bulk_operations.values())


async def _demo(tmp_path: Path, *, deadline: float = 30.0, **fake_args: Any) -> AsyncIterator[Demo]:
    fake = ShopifyFake(clock=asyncio.get_running_loop().time, **fake_args)
    async with open_runtime(
        make_settings(tmp_path, shopify=ShopifyKnobs(deadline=deadline)),
        connectors=[ShopifyConnector],
        transports={"shopify": InProcessTransport(fake.app)},
        metrics=Metrics(),
        store=EmbeddedStore(None),
    ) as rt:
        connector = rt.registry.get("shopify")
        assert isinstance(connector, ShopifyConnector)
        assert connector.mode == "mock"
        yield Demo(connector, fake)


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[Demo]:
    async for d in _demo(tmp_path):
        yield d


# The demo store lists 601 variants at each of two locations; locations come in name order, so
# "East Coast Depot" is read first. Limits around 601 and 1,202 put the cut inside, at the end of,
# and past each location.
CASES: list[dict[str, Any]] = [
    {"limit": 5000},
    {"limit": 1202},
    {"limit": 1201},
    {"limit": 700},
    {"limit": 601},
    {"limit": 300},
    {"limit": 10},
    {"location": "Main Warehouse", "limit": 5000},
    {"location": "East Coast Depot", "limit": 50},
    {"only_low": True, "limit": 5000},
    {"only_low": True, "limit": 10},
    {"only_low": True, "low_stock_threshold": 0, "location": "Main Warehouse", "limit": 5000},
    {"low_stock_threshold": 20, "limit": 900},
]


@pytest.mark.parametrize("params", CASES, ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()))
async def test_paged_and_bulk_reads_give_the_same_report(demo: Demo, params: dict[str, Any]) -> None:
    p = m.InventoryParams.model_validate(params)
    paged = await demo.connector.read_inventory(p, bulk=False)
    assert demo.inventory_bulks == 0
    bulk = await demo.connector.read_inventory(p, bulk=True)
    assert demo.inventory_bulks == 1
    assert bulk.model_dump() == paged.model_dump()
    assert len(bulk.rows) <= p.limit
    assert bulk.rows  # every case matches something in the demo store


async def test_report_is_complete_flagged_and_sorted(demo: Demo) -> None:
    everything = await demo.connector.read_inventory(m.InventoryParams(limit=5000), bulk=True)
    assert len(everything.rows) == demo.levels and not everything.truncated
    assert len({(r.location_id, r.inventory_item_id) for r in everything.rows}) == demo.levels
    assert everything.low_count == sum(r.available <= 5 for r in everything.rows) > 0
    keys = [(r.available, r.location, r.sku or "") for r in everything.rows]
    assert keys == sorted(keys)
    cut = await demo.connector.read_inventory(m.InventoryParams(limit=demo.levels - 1), bulk=True)
    assert cut.truncated and len(cut.rows) == demo.levels - 1
    exact = await demo.connector.read_inventory(m.InventoryParams(limit=demo.levels), bulk=True)
    assert not exact.truncated


async def test_large_reads_run_as_one_bulk_operation_and_spare_the_bucket(demo: Demo) -> None:
    report = (await demo.connector.call("inventory_levels", {"limit": 5000})).data
    assert len(report.rows) == demo.levels
    assert demo.inventory_bulks == 1
    # The locations list, the mutation (10) and a few status polls: far below one page of levels.
    assert demo.fake.cost.points_requested < q.estimate_cost(q.LOCATION_INVENTORY, {"first": 50})
    assert demo.fake.cost.throttled == 0


async def test_small_reads_page(demo: Demo) -> None:
    report = (await demo.connector.call("inventory_levels", {"location": "Main Warehouse", "limit": 10})).data
    assert len(report.rows) == 10 and report.truncated
    assert {r.location for r in report.rows} == {"Main Warehouse"}
    assert demo.inventory_bulks == 0


async def test_only_low_goes_bulk_even_when_small(demo: Demo) -> None:
    report = (await demo.connector.call("inventory_levels", {"only_low": True, "limit": 3})).data
    assert len(report.rows) == 3 and all(r.low for r in report.rows)
    assert demo.inventory_bulks == 1


async def test_bulk_progress_is_reported(demo: Demo) -> None:
    seen: list[str] = []

    async def listener(done: float, total: float | None, message: str) -> None:
        seen.append(message)

    token = progress_listener.set(listener)
    try:
        await demo.connector.call("inventory_levels", {"limit": 5000})
    finally:
        progress_listener.reset(token)
    assert "bulk operation started" in seen
    assert any(s.startswith("bulk operation completed") for s in seen)
    assert any("lines read" in s for s in seen)


async def test_busy_bulk_slots_fall_back_to_paging(tmp_path: Path) -> None:
    # Paging all 1,202 levels waits on the cost bucket for longer than the default 30 s deadline.
    async for demo in _demo(tmp_path, deadline=300.0, bulk_concurrency=1):
        # Another caller of the same app holds the one bulk slot this (older) API behaviour allows.
        async with httpx2.AsyncClient(
            transport=InProcessTransport(demo.fake.app), base_url=f"https://{DEMO_SHOP}"
        ) as c:
            response = await c.post(
                "/admin/api/2026-10/graphql.json",
                json={"query": q.BULK_RUN, "variables": {"query": q.BULK_PRODUCTS.replace("(QUERY)", "")}},
                headers={"X-Shopify-Access-Token": DEMO_TOKEN},
            )
            assert response.json()["data"]["bulkOperationRunQuery"]["userErrors"] == []
        report = (await demo.connector.call("inventory_levels", {"limit": 5000})).data
        assert len(report.rows) == demo.levels
        assert demo.inventory_bulks == 0
        with pytest.raises(ConnectorError) as info:
            async for _ in query_rows(demo.connector, q.BULK_INVENTORY, operation="test"):
                pass
        assert info.value.kind is ErrorKind.RATE_LIMITED
        assert info.value.upstream_code == "OPERATION_IN_PROGRESS"


async def test_unknown_location_is_not_found(demo: Demo) -> None:
    with pytest.raises(ConnectorError) as info:
        await demo.connector.call("inventory_levels", {"location": "Nowhere", "limit": 5000})
    assert info.value.kind is ErrorKind.NOT_FOUND
    assert demo.inventory_bulks == 0


async def test_a_bulk_file_that_does_not_parse_is_an_upstream_error(demo: Demo) -> None:
    # The locations list, the mutation and three status polls answer; the file download does not.
    demo.fake.faults = FaultPlan.scripted("ok", "ok", "ok", "ok", "ok", "malformed")
    with pytest.raises(ConnectorError) as info:
        await demo.connector.call("inventory_levels", {"limit": 5000})
    assert info.value.kind is ErrorKind.UPSTREAM_ERROR


async def test_a_broken_line_in_the_bulk_file_is_an_upstream_error(demo: Demo) -> None:
    start = demo.fake.start_bulk

    def start_and_break_a_line(ctx: Any, query: str) -> Any:
        answer = start(ctx, query)
        op = max(demo.fake.bulk_operations.values(), key=lambda o: o.id)
        op.jsonl = op.jsonl.replace(b"\n", b"\n{not json\n", 1)  # as if a line were cut short
        return answer

    demo.fake.start_bulk = start_and_break_a_line  # type: ignore[method-assign]  # a fake that breaks, on purpose
    with pytest.raises(ConnectorError) as info:
        await demo.connector.call("inventory_levels", {"limit": 5000})
    assert info.value.kind is ErrorKind.UPSTREAM_ERROR
    assert "bulk result file" in info.value.message


async def test_every_location_is_read_however_many_the_shop_has(tmp_path: Path) -> None:
    """Locations come 50 to a page: a shop with 120 (118 of them empty here) has all of them read,
    and one on the third page can be named."""
    store = demo_store()
    extra = tuple(dataclasses.replace(store.locations[0], id=900_000 + i, name=f"Pop-up {i:03d}") for i in range(118))
    crowded = dataclasses.replace(store, locations=store.locations + extra)
    async for d in _demo(tmp_path, store=crowded):
        assert len(await d.connector._inventory_locations(None)) == 120
        everything = await d.connector.read_inventory(m.InventoryParams(limit=5000), bulk=False)
        assert len(everything.rows) == d.levels and not everything.truncated
        with pytest.raises(ConnectorError) as info:
            await d.connector.read_inventory(m.InventoryParams(location="Nowhere"), bulk=False)
        assert info.value.kind is ErrorKind.NOT_FOUND
        named = await d.connector.read_inventory(m.InventoryParams(location="Pop-up 117"), bulk=False)
        assert named.rows == []  # found (no NOT_FOUND), and empty
