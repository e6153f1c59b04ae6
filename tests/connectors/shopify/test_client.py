"""The Shopify connector over its fake: paging, masking, errors, auth, cost pacing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from storelink.connectors.shopify.client import MAX_QUERY_COST, ShopifyConnector
from storelink.connectors.shopify.queries import PRODUCTS, estimate_cost
from storelink.errors import ConnectorError, ErrorKind
from storelink.fakes.base import InProcessTransport
from storelink.fakes.faults import Fault, FaultPlan
from storelink.fakes.shopify import ShopifyFake
from storelink.observability.metrics import Metrics
from storelink.runtime import Runtime, open_runtime
from storelink.store import EmbeddedStore
from tests.conftest import make_settings

SHOP = "apex-demo.myshopify.com"


@asynccontextmanager
async def live_against(fake: ShopifyFake, tmp_path: Path, **settings: Any) -> AsyncIterator[Runtime]:
    """Live mode (credentials set) with the wire pointed at the fake: the real live code path."""
    s = make_settings(tmp_path, shopify_shop=SHOP, **settings)
    async with open_runtime(
        s,
        connectors=[ShopifyConnector],
        transports={"shopify": InProcessTransport(fake.app)},
        metrics=Metrics(),
        store=EmbeddedStore(None),
    ) as rt:
        yield rt


@pytest.fixture
async def mock_runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    async with open_runtime(
        make_settings(tmp_path), connectors=[ShopifyConnector], metrics=Metrics(), store=EmbeddedStore(None)
    ) as rt:
        yield rt


async def test_mock_mode_without_credentials(mock_runtime: Runtime) -> None:
    connector = mock_runtime.registry.get("shopify")
    assert connector.mode == "mock"
    envelope = await connector.call("list_products", {"limit": 5})
    assert len(envelope.data.items) == 5
    assert envelope.meta.mode == "mock"
    assert envelope.meta.headroom is not None
    assert envelope.meta.headroom.unit == "points"


async def test_paging_yields_every_product_exactly_once(mock_runtime: Runtime) -> None:
    connector = mock_runtime.registry.get("shopify")
    fake = mock_runtime.fakes["shopify"]
    assert isinstance(fake, ShopifyFake)
    seen: list[str] = []
    cursor = None
    while True:
        page = (await connector.call("list_products", {"limit": 120, "cursor": cursor})).data
        seen += [p.id for p in page.items]
        if page.next_cursor is None:
            assert page.truncated is False
            break
        assert page.truncated is True
        cursor = page.next_cursor
    assert len(seen) == len(set(seen)) == len(fake.store.products)


async def test_page_boundary_inside_a_fetched_page(mock_runtime: Runtime) -> None:
    connector = mock_runtime.registry.get("shopify")
    first = (await connector.call("list_products", {"limit": 7})).data
    rest = (await connector.call("list_products", {"limit": 7, "cursor": first.next_cursor})).data
    all14 = (await connector.call("list_products", {"limit": 14})).data
    assert [p.id for p in first.items + rest.items] == [p.id for p in all14.items]


async def test_filters_reach_the_search_query(mock_runtime: Runtime) -> None:
    connector = mock_runtime.registry.get("shopify")
    some = (await connector.call("list_products", {"limit": 1})).data.items[0]
    by_vendor = (await connector.call("list_products", {"vendor": some.vendor, "limit": 250})).data.items
    assert by_vendor
    assert {p.vendor for p in by_vendor} == {some.vendor}
    drafts = (await connector.call("list_products", {"status": "draft", "limit": 250})).data.items
    assert drafts
    assert {p.status for p in drafts} == {"DRAFT"}


async def test_pii_is_masked_by_default(mock_runtime: Runtime) -> None:
    fake = mock_runtime.fakes["shopify"]
    assert isinstance(fake, ShopifyFake)
    customers = (await mock_runtime.registry.get("shopify").call("list_customers", {"limit": 20})).data.items
    real_emails = {c.email for c in fake.store.customers}
    for c in customers:
        assert c.pii_masked
        assert c.email not in real_emails
        assert c.email is None or "***@" in c.email
        assert c.phone in (None, "***")


async def test_pii_exposed_when_asked(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, shopify={"expose_pii": True})
    async with open_runtime(settings, connectors=[ShopifyConnector], store=EmbeddedStore(None)) as rt:
        fake = rt.fakes["shopify"]
        assert isinstance(fake, ShopifyFake)
        customers = (await rt.registry.get("shopify").call("list_customers", {"limit": 5})).data.items
        assert {c.email for c in customers} <= {c.email for c in fake.store.customers}
        assert not any(c.pii_masked for c in customers)


async def test_401_names_the_token_setting(tmp_path: Path) -> None:
    fake = ShopifyFake()
    async with live_against(fake, tmp_path, shopify_access_token="shpat_wrong") as rt:
        connector = rt.registry.get("shopify")
        assert connector.mode == "live"
        with pytest.raises(ConnectorError) as info:
            await connector.call("shop_info", {})
    assert info.value.kind is ErrorKind.UNAUTHORIZED
    assert "SHOPIFY_ACCESS_TOKEN" in info.value.message
    assert "shpat_wrong" not in str(info.value)


async def test_client_credentials_refresh_once_under_50_callers(tmp_path: Path) -> None:
    fake = ShopifyFake()
    async with live_against(
        fake, tmp_path, shopify_client_id="storelink-demo-app", shopify_client_secret="storelink-demo-secret"
    ) as rt:
        connector = rt.registry.get("shopify")
        results = await asyncio.gather(*(connector.call("shop_info", {}) for _ in range(50)))
    assert len(results) == 50
    assert fake.token_exchanges == 1


async def test_wrong_client_secret_is_unauthorized(tmp_path: Path) -> None:
    fake = ShopifyFake()
    async with live_against(fake, tmp_path, shopify_client_id="storelink-demo-app", shopify_client_secret="nope") as rt:
        with pytest.raises(ConnectorError) as info:
            await rt.registry.get("shopify").call("shop_info", {})
    assert info.value.kind is ErrorKind.UNAUTHORIZED
    assert "SHOPIFY_CLIENT_SECRET" in info.value.message


async def test_query_over_max_cost_is_refused_locally(mock_runtime: Runtime) -> None:
    connector = mock_runtime.registry.get("shopify")
    assert isinstance(connector, ShopifyConnector)
    fake = mock_runtime.fakes["shopify"]
    assert isinstance(fake, ShopifyFake)
    before = sum(fake.stats.values())
    expensive = "query($first: Int!) { products(first: $first) { nodes { variants(first: 250) { nodes { id } } } } }"
    assert estimate_cost(expensive, {"first": 250}) > MAX_QUERY_COST
    with pytest.raises(ConnectorError) as info:
        await connector.graphql(expensive, {"first": 250}, operation="custom")
    assert info.value.kind is ErrorKind.INVALID_REQUEST
    assert "lower `first`" in info.value.message
    assert sum(fake.stats.values()) == before  # nothing was sent


async def test_page_size_keeps_queries_under_the_ceiling(tmp_path: Path) -> None:
    fake = ShopifyFake(plan="plus")  # a bucket big enough that the test does not wait for refill
    async with live_against(fake, tmp_path, shopify_access_token="shpat_demo_token") as rt:
        envelope = await rt.registry.get("shopify").call("list_orders", {"limit": 250})
    assert len(envelope.data.items) == 250
    assert envelope.meta.attempts == 3  # 99 orders per page keep each query under 1000 points
    assert fake.cost.to_json()["throttled"] == 0


async def test_throttled_is_rate_limited_with_the_computed_wait(tmp_path: Path) -> None:
    import httpx2

    fake = ShopifyFake(bucket_size=60, restore_rate=10, clock=lambda: 0.0)  # time stands still
    # Another client of the same app drains the bucket: 52 of 60 points.
    async with httpx2.AsyncClient(transport=InProcessTransport(fake.app), base_url=f"https://{SHOP}") as other:
        response = await other.post(
            "/admin/api/2026-10/graphql.json",
            json={"query": PRODUCTS, "variables": {"first": 50}},
            headers={"X-Shopify-Access-Token": "shpat_demo_token"},
        )
        assert response.json()["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 8
    async with live_against(fake, tmp_path, shopify_access_token="shpat_demo_token", shopify={"max_retries": 0}) as rt:
        with pytest.raises(ConnectorError) as info:
            await rt.registry.get("shopify").call("list_products", {"limit": 50})
    assert info.value.kind is ErrorKind.RATE_LIMITED
    assert info.value.upstream_code == "THROTTLED"
    assert info.value.retry_after_s == pytest.approx((52 - 8) / 10)


async def test_5xx_from_the_fake_is_retried(mock_runtime: Runtime) -> None:
    fake = mock_runtime.fakes["shopify"]
    fake.faults = FaultPlan.scripted("503", "502")
    envelope = await mock_runtime.registry.get("shopify").call("shop_info", {})
    assert envelope.meta.attempts == 3
    assert envelope.data.name


async def test_get_order_by_name_and_not_found(mock_runtime: Runtime) -> None:
    connector = mock_runtime.registry.get("shopify")
    order = (await connector.call("get_order", {"id": "#1001"})).data
    assert order.name == "#1001"
    assert order.line_items
    with pytest.raises(ConnectorError) as info:
        await connector.call("get_order", {"id": "#99999999"})
    assert info.value.kind is ErrorKind.NOT_FOUND


async def test_sales_summary_matches_the_orders(mock_runtime: Runtime) -> None:
    connector = mock_runtime.registry.get("shopify")
    summary = (await connector.call("sales_summary", {"start": "2026-11-10", "end": "2026-11-16"})).data
    orders: list[Any] = []
    cursor: str | None = None
    while True:  # 250 a call at most; the cursor fetches the rest
        week = {"created_from": "2026-11-10", "created_to": "2026-11-16", "limit": 250, "cursor": cursor}
        page = (await connector.call("list_orders", week)).data
        orders += page.items
        cursor = page.next_cursor
        if cursor is None:
            break
    assert summary.totals.orders == len(orders)
    assert len(summary.days) == 7
    assert sum(d.orders for d in summary.days) == len(orders)
    assert summary.totals.net == summary.totals.gross - summary.totals.discounts - summary.totals.refunds


async def test_bulk_export_streams_every_product(mock_runtime: Runtime) -> None:
    fake = mock_runtime.fakes["shopify"]
    assert isinstance(fake, ShopifyFake)
    seen: list[tuple[float, str]] = []

    async def listener(done: float, total: float | None, message: str) -> None:
        seen.append((done, message))

    from storelink.connectors.progress import progress_listener

    token = progress_listener.set(listener)
    try:
        export = (
            await mock_runtime.registry.get("shopify").call(
                "bulk_export", {"resource": "products", "poll_interval_s": 0.01}
            )
        ).data
    finally:
        progress_listener.reset(token)
    assert export.status == "COMPLETED"
    assert export.root_object_count == len(fake.store.products)
    assert export.rows_read == export.object_count
    assert any("bulk operation" in m for _, m in seen)


# -- bounded calls ------------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", ["list_orders", "list_products", "list_customers"])
async def test_a_list_call_returns_at_most_250_items(mock_runtime: Runtime, operation: str) -> None:
    connector = mock_runtime.registry.get("shopify")
    schema = connector.operations[operation].params.model_json_schema()
    assert schema["properties"]["limit"]["maximum"] == 250  # agents see the cap in the tool schema
    with pytest.raises(ConnectorError) as info:
        await connector.call(operation, {"limit": 1000})
    assert info.value.kind is ErrorKind.INVALID_REQUEST
    assert "limit" in info.value.message and "250" in info.value.message


@pytest.mark.looptime
async def test_the_deadline_covers_every_page_and_the_cursor_resumes(tmp_path: Path) -> None:
    """250 orders are three pages of ~1,000 points; on a Standard bucket (2,000, +100/s) the third
    waits ~5 s for refill. With a 3 s deadline for the whole call, it returns the two pages read,
    truncated, with the cursor after the last order and a note; that cursor gets the rest."""
    fake = ShopifyFake(clock=asyncio.get_running_loop().time)
    async with live_against(fake, tmp_path, shopify_access_token="shpat_demo_token", shopify={"deadline": 3.0}) as rt:
        connector = rt.registry.get("shopify")
        loop = asyncio.get_running_loop()
        started = loop.time()
        first = (await connector.call("list_orders", {"limit": 250})).data
        elapsed = loop.time() - started
        assert elapsed <= 3.0 + 1e-6  # loop time (looptime): the call ended by its deadline
        assert len(first.items) == 198 and first.truncated and first.next_cursor
        assert first.note and "next_cursor" in first.note and "198 of 250" in first.note
        await asyncio.sleep(30)  # the bucket refills
        rest = (await connector.call("list_orders", {"limit": 52, "cursor": first.next_cursor})).data
    everything = [o.id for o in first.items] + [o.id for o in rest.items]
    assert len(set(everything)) == 250
    async with live_against(ShopifyFake(plan="plus"), tmp_path, shopify_access_token="shpat_demo_token") as rt:
        whole = (await rt.registry.get("shopify").call("list_orders", {"limit": 250})).data
    assert [o.id for o in whole.items] == everything


@pytest.mark.looptime
async def test_a_deadline_that_passes_before_any_page_is_an_error(tmp_path: Path) -> None:
    fake = ShopifyFake(clock=asyncio.get_running_loop().time, faults=FaultPlan(rates={Fault.STALL: 1.0}))
    async with live_against(
        fake, tmp_path, shopify_access_token="shpat_demo_token", shopify={"deadline": 2.0, "timeout": 10.0}
    ) as rt:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(ConnectorError) as info:
            await rt.registry.get("shopify").call("list_orders", {"limit": 250})
        assert loop.time() - started <= 2.0 + 1e-6  # one attempt, cut at the call's deadline
    assert info.value.kind is ErrorKind.TIMEOUT
