"""How the inventory insight reads Shopify: every stock level in one bulk operation, so the whole
insight fits in the cost bucket and never waits for it to refill (paging the levels asked for
about 8,000 points against a 2,000-point bucket)."""

from __future__ import annotations

from pathlib import Path

from storelink.connectors.shopify.client import ShopifyConnector
from storelink.fakes.base import InProcessTransport
from storelink.fakes.shopify import ShopifyFake
from storelink.insights import tools
from storelink.insights.models import InventoryParams
from storelink.runtime import open_runtime
from storelink.store import EmbeddedStore
from tests.conftest import make_settings


async def test_inventory_insight_reads_stock_in_one_bulk_operation(tmp_path: Path) -> None:
    fake = ShopifyFake()
    async with open_runtime(
        make_settings(tmp_path),
        connectors=[ShopifyConnector],
        transports={"shopify": InProcessTransport(fake.app)},
        store=EmbeddedStore(None),
    ) as rt:
        result = await tools.inventory_signals(rt, InventoryParams(limit=3))
    assert set(result.counts) == {"stockout_risk", "dead_stock", "overstock"}
    assert not any("stock rows were read" in n for n in result.notes)  # the demo store fits the limit
    queries = [op.query for op in fake.bulk_operations.values()]
    assert sum("inventoryLevels" in query for query in queries) == 1
    assert len(queries) == 3  # stock, the catalogue, the orders
    assert fake.cost.throttled == 0
    assert fake.cost.points_requested < fake.bucket_size, fake.cost.to_json()  # one full bucket pays it all
