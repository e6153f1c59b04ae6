"""Mock mode end to end: the real connectors over their fakes, the real views, the real pages.

The demo data holds real cases of every signal; these tests check each kind shows up with
plausible figures. ``looptime`` makes the Shopify cost limiter's waits and bulk-operation polls
instant; the Shopify fake's bucket is refilled on the same loop clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from storelink.connectors.bing.client import BingConnector
from storelink.connectors.ga4.client import Ga4Connector
from storelink.connectors.gsc.client import GscConnector
from storelink.connectors.shopify.client import ShopifyConnector
from storelink.errors import ConnectorError, ErrorKind
from storelink.fakes.base import InProcessTransport
from storelink.fakes.shopify import ShopifyFake
from storelink.insights import tools
from storelink.insights.models import InventoryParams, RecommendationParams, SeoParams
from storelink.runtime import Runtime, open_runtime
from storelink.store import EmbeddedStore
from storelink.web.auth import AccessPolicy
from storelink.web.insights import insights_routes
from tests.conftest import make_settings

pytestmark = pytest.mark.looptime

ALL = [ShopifyConnector, GscConnector, BingConnector, Ga4Connector]


def _shopify_on_loop_time() -> dict[str, httpx2.AsyncBaseTransport]:
    """The Shopify fake with its cost bucket refilled on the event loop's (fake) clock, like the limiter."""
    loop = asyncio.get_running_loop()
    return {"shopify": InProcessTransport(ShopifyFake(clock=loop.time).app)}


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    async with open_runtime(
        make_settings(tmp_path), connectors=ALL, transports=_shopify_on_loop_time(), store=EmbeddedStore(None)
    ) as rt:
        yield rt


async def test_seo_opportunities_in_mock_mode(runtime: Runtime) -> None:
    result = await tools.seo_opportunities(runtime, SeoParams(limit=5))
    assert set(result.counts) == {"striking_distance", "low_ctr", "losing_page", "cannibalisation"}
    assert {r.source for r in result.rows} >= {"gsc"}
    assert len(result.rows) == 20 and result.truncated
    for row in result.rows:
        assert row.upside_clicks >= 0
        assert row.current.impressions >= 0
        if row.kind == "striking_distance":
            assert row.current.position is not None and 4 <= row.current.position <= 20
        if row.kind == "cannibalisation":
            assert len(row.pages) >= 2
        if row.kind == "losing_page":
            assert row.previous is not None and row.previous.clicks > row.current.clicks
    # GA4 answers in mock mode: Search Console's losing pages carry page views.
    assert any(r.page_views is not None for r in result.rows if r.kind == "losing_page" and r.source == "gsc")
    upsides = [r.upside_clicks for r in result.rows]
    assert upsides == sorted(upsides, reverse=True)
    assert result.current_period is not None and result.previous_period is not None
    assert result.previous_period[1] < result.current_period[0]


async def test_inventory_signals_in_mock_mode(runtime: Runtime) -> None:
    result = await tools.inventory_signals(runtime, InventoryParams(limit=3))
    assert set(result.counts) == {"stockout_risk", "dead_stock", "overstock"}
    assert result.lead_time_days == 14  # the setting's default
    for s in result.rows:
        assert s.revenue_at_risk > 0 and s.price > 0
        if s.kind == "stockout_risk":
            assert s.days_of_cover is not None and s.days_of_cover < 14
        if s.kind == "dead_stock":
            assert s.available > 0 and s.units_sold == 0


async def test_product_recommendations_in_mock_mode(runtime: Runtime) -> None:
    result = await tools.product_recommendations(runtime, RecommendationParams(limit=5))
    assert result.orders > 50
    assert len(result.top_sellers) == 5 and len(result.rising) == 5
    assert result.bought_together and all(p.lift > 1 for p in result.bought_together)
    assert result.viewed_not_bought and all(v.views >= 100 for v in result.viewed_not_bought)
    revenue = [p.revenue for p in result.top_sellers]
    assert revenue == sorted(revenue, reverse=True)


async def test_optional_sources_off_are_noted(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, bing={"enabled": False}, ga4={"enabled": False})
    async with open_runtime(
        settings, connectors=ALL, transports=_shopify_on_loop_time(), store=EmbeddedStore(None)
    ) as rt:
        seo = await tools.seo_opportunities(rt, SeoParams(limit=2))
        assert seo.rows and any("Bing" in n and "disabled" in n for n in seo.notes)
        assert any("GA4 skipped (disabled)" in n for n in seo.notes)
        recs = await tools.product_recommendations(rt, RecommendationParams(limit=2))
        assert recs.top_sellers and recs.viewed_not_bought == []
        assert any("GA4 skipped (disabled)" in n for n in recs.notes)


async def test_shopify_off_is_a_clear_error(tmp_path: Path) -> None:
    async with open_runtime(
        make_settings(tmp_path, shopify={"enabled": False}), connectors=ALL, store=EmbeddedStore(None)
    ) as rt:
        with pytest.raises(ConnectorError) as info:
            await tools.inventory_signals(rt)
        assert info.value.kind is ErrorKind.DISABLED
        assert "STORELINK_SHOPIFY_ENABLED" in info.value.message


def _app(runtime: Runtime) -> ASGIApp:
    """A minimal app: the insight routes over the runtime, with the dashboard guard's policy in the
    request state as the real middleware leaves it (the guard itself is tested with the dashboard)."""
    app = Starlette(routes=insights_routes())
    app.state.runtime = runtime
    policy = AccessPolicy(runtime.settings)

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        scope.setdefault("state", {})["dashboard_policy"] = policy
        await app(scope, receive, send)

    return guarded


async def test_pages_render_in_mock_mode(runtime: Runtime) -> None:
    transport = httpx2.ASGITransport(app=_app(runtime))
    async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1:8765") as client:
        index = await client.get("/app/insights")
        assert index.status_code == 200 and "/app/insights/seo" in index.text
        seo = await client.get("/app/insights/seo?limit=3")
        assert seo.status_code == 200 and "striking_distance" in seo.text and "cannibalisation" in seo.text
        inv = await client.get("/app/insights/inventory?limit=3")
        assert inv.status_code == 200 and "stockout_risk" in inv.text and "dead_stock" in inv.text
        recs = await client.get("/app/insights/recommendations?limit=3")
        assert recs.status_code == 200 and "Bought together" in recs.text and "lift" in recs.text


async def test_pages_show_a_failed_source_and_still_answer(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, shopify={"enabled": False})
    async with open_runtime(settings, connectors=ALL, store=EmbeddedStore(None)) as rt:
        transport = httpx2.ASGITransport(app=_app(rt))
        async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1:8765") as client:
            for path in ("/app/insights/inventory", "/app/insights/recommendations"):
                page = await client.get(path)
                assert page.status_code == 200
                assert 'data-state="disabled"' in page.text and "STORELINK_SHOPIFY_ENABLED" in page.text
