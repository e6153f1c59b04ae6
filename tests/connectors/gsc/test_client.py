"""The Search Console connector through the pipeline against the fake: paging past 25,000 rows
with progress, filters, sites, sitemaps, inspection, throttling. Loop time is faked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from storelink.connectors.gsc.client import GscConnector
from storelink.connectors.gsc.models import Filter, SearchAnalyticsParams
from storelink.connectors.progress import progress_listener
from storelink.errors import ConnectorError, ErrorKind
from storelink.fakes.faults import FaultPlan
from storelink.fakes.gsc import GscFake
from tests.connectors.ga4.support import SITE, google_runtime, live_settings

pytestmark = pytest.mark.looptime


@pytest.fixture(scope="module")
def shared() -> GscFake:
    return GscFake(sites=[SITE])


async def call(rt: Any, operation: str, params: dict[str, Any]) -> Any:
    return await rt.registry.get("gsc").call(operation, params)


async def test_sixty_thousand_rows_page_correctly_with_progress(tmp_path: Path) -> None:
    fake = GscFake(sites=[SITE])
    seen: list[tuple[float, float | None, str]] = []

    async def listener(done: float, total: float | None, message: str) -> None:
        seen.append((done, total, message))

    params = {"days": 70, "dimensions": "date,query,page", "row_limit": 60_000}
    token = progress_listener.set(listener)
    try:
        async with google_runtime(live_settings(tmp_path), [GscConnector], {"gsc": fake}) as rt:
            result = (await call(rt, "search_analytics", params)).data
    finally:
        progress_listener.reset(token)
    assert len(result.rows) == 60_000
    assert result.requests == 3 and result.truncated
    assert [d for d, _, _ in seen] == [25_000, 50_000, 60_000]
    assert "rows read" in seen[-1][2]
    assert fake.queries == 3  # 25,000 + 25,000 + 10,000: startRow 0, 25,000, 50,000
    keys = [tuple(r.keys.values()) for r in result.rows]
    assert len(set(keys)) == len(keys)  # no row twice, none skipped at page seams
    clicks = [r.clicks for r in result.rows]
    assert clicks == sorted(clicks, reverse=True)
    assert set(result.rows[0].keys) == {"date", "query", "page"}


async def test_paging_stops_at_a_short_page(tmp_path: Path, shared: GscFake) -> None:
    async with google_runtime(live_settings(tmp_path), [GscConnector], {"gsc": shared}) as rt:
        result = (await call(rt, "search_analytics", {"days": 28, "dimensions": "page", "row_limit": 100_000})).data
    assert result.requests == 1 and not result.truncated
    assert 200 < len(result.rows) < 25_000


async def test_dates_end_three_days_ago_for_final_data(tmp_path: Path, shared: GscFake) -> None:
    async with google_runtime(live_settings(tmp_path), [GscConnector], {"gsc": shared}) as rt:
        connector = rt.registry.get("gsc")
        assert isinstance(connector, GscConnector)
        final = (await call(rt, "search_analytics", {"days": 28, "dimensions": "date"})).data
        fresh = (await call(rt, "search_analytics", {"days": 7, "dimensions": "date", "data_state": "all"})).data
        today = connector.today()
    assert (today - final.end_date).days == 3 and (final.end_date - final.start_date).days == 27
    assert len(final.rows) == 28
    assert (today - fresh.end_date).days == 1
    assert fresh.first_incomplete_date is not None


async def test_filters_as_text(tmp_path: Path, shared: GscFake) -> None:
    async with google_runtime(live_settings(tmp_path), [GscConnector], {"gsc": shared}) as rt:
        result = (
            await call(
                rt,
                "search_analytics",
                {"dimensions": "query,page,device", "filters": "query~brake pads,page=~/products/,device=MOBILE"},
            )
        ).data
    assert result.rows
    for row in result.rows:
        assert "brake pads" in row.keys["query"] and "/products/" in row.keys["page"]
        assert row.keys["device"] == "MOBILE"
    assert result.response_aggregation_type == "byPage"


def test_filter_shorthands() -> None:
    assert Filter.model_validate("query!=~^apex").model_dump() == {
        "dimension": "query",
        "operator": "excludingRegex",
        "expression": "^apex",
    }
    assert Filter.model_validate("country=usa").operator == "equals"
    assert Filter.model_validate("page!~/blogs/").operator == "notContains"
    assert SearchAnalyticsParams.model_validate({"dimensions": ["query", "page"]}).dimensions == ["query", "page"]
    with pytest.raises(ValueError, match="searchAppearance"):
        SearchAnalyticsParams.model_validate({"dimensions": "searchAppearance,query"})


async def test_invalid_params_fail_before_any_call(tmp_path: Path, shared: GscFake) -> None:
    async with google_runtime(live_settings(tmp_path), [GscConnector], {"gsc": shared}) as rt:
        before = shared.queries
        with pytest.raises(ConnectorError) as info:
            await call(rt, "search_analytics", {"dimensions": "keyword"})
    assert info.value.kind is ErrorKind.INVALID_REQUEST and "dimensions" in info.value.message
    assert shared.queries == before


async def test_sites_sitemaps_and_inspection(tmp_path: Path, shared: GscFake) -> None:
    product = next(p for p in shared.traffic.store.products if p.status.value == "ACTIVE")
    archived = next(p for p in shared.traffic.store.products if p.status.value == "ARCHIVED")
    async with google_runtime(live_settings(tmp_path), [GscConnector], {"gsc": shared}) as rt:
        sites = (await call(rt, "list_sites", {})).data.sites
        maps = (await call(rt, "list_sitemaps", {})).data.sitemaps
        children = (await call(rt, "list_sitemaps", {"sitemap_index": maps[0].path})).data.sitemaps
        live = (await call(rt, "inspect_url", {"url": f"/products/{product.handle}"})).data
        gone = (await call(rt, "inspect_url", {"url": f"/products/{archived.handle}"})).data
        not_indexed = (await call(rt, "inspect_url", {"url": shared.signals.not_indexed[0]})).data
    assert {"permission_level": "siteOwner", "site_url": SITE} in [s.model_dump() for s in sites]
    assert maps[0].is_sitemaps_index and maps[0].contents[0].submitted > 250
    assert len(children) == 4 and all(isinstance(c.warnings, int) for c in children)
    assert live.verdict == "PASS" and live.url.startswith("https://www.apexperformanceparts.example/products/")
    assert gone.verdict == "FAIL" and gone.page_fetch_state == "NOT_FOUND"
    assert not_indexed.coverage_state == "Crawled - currently not indexed"


async def test_site_without_access_is_forbidden_with_remedy(tmp_path: Path) -> None:
    fake = GscFake(sites=["sc-domain:other.example"])
    async with google_runtime(live_settings(tmp_path), [GscConnector], {"gsc": fake}) as rt:
        with pytest.raises(ConnectorError) as info:
            await call(rt, "search_analytics", {})
    assert info.value.kind is ErrorKind.FORBIDDEN
    assert "Users and permissions" in info.value.message


async def test_rate_limit_exceeded_waits_a_minute_then_succeeds(tmp_path: Path, shared: GscFake) -> None:
    import asyncio

    shared.faults = FaultPlan.scripted("429")
    try:
        async with google_runtime(
            live_settings(tmp_path, gsc={"deadline": 120.0}), [GscConnector], {"gsc": shared}
        ) as rt:
            started = asyncio.get_running_loop().time()
            envelope = await call(rt, "list_sites", {})
            waited = asyncio.get_running_loop().time() - started
    finally:
        shared.faults = FaultPlan()
    assert envelope.meta.attempts == 2
    assert waited == pytest.approx(60.0, abs=0.5)


async def test_load_quota_is_rate_limited_and_holds_queries_back(tmp_path: Path) -> None:
    fake = GscFake(sites=[SITE], load_budget=3)
    async with google_runtime(live_settings(tmp_path), [GscConnector], {"gsc": fake}) as rt:
        for days in (5, 6, 7):
            await call(rt, "search_analytics", {"days": days})
        with pytest.raises(ConnectorError) as info:
            await call(rt, "search_analytics", {"days": 8})
        assert info.value.kind is ErrorKind.RATE_LIMITED
        assert "load quota" in info.value.message and info.value.retry_after_s == 900
        sent = fake.queries + fake.refused["load"]
        with pytest.raises(ConnectorError) as again:
            await call(rt, "search_analytics", {"days": 9})
        assert "nothing was sent" in again.value.message.lower()
        assert fake.queries + fake.refused["load"] == sent
        sites = await call(rt, "list_sites", {})  # other resources are not held back
        assert sites.data.sites


async def test_search_analytics_bursts_then_paces(tmp_path: Path) -> None:
    import asyncio

    fake = GscFake(sites=[SITE])
    async with google_runtime(live_settings(tmp_path, gsc={"deadline": 300.0}), [GscConnector], {"gsc": fake}) as rt:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.gather(*(call(rt, "search_analytics", {"days": 1, "filters": f"query~x{i}"}) for i in range(80)))
        elapsed = loop.time() - started
    # A burst of 20, then 1,180 a minute: 60 more take 60 / 19.67 s.
    assert elapsed == pytest.approx(60 / (1180 / 60), abs=0.1)
    assert not fake.refused


async def test_a_url_prefix_property_is_encoded_into_the_path(tmp_path: Path) -> None:
    site = "https://www.apexperformanceparts.example/"
    fake = GscFake(sites=[site])
    settings = live_settings(tmp_path, gsc_site_url=site)
    async with google_runtime(settings, [GscConnector], {"gsc": fake}) as rt:
        rows = (await call(rt, "search_analytics", {"days": 7, "row_limit": 5})).data.rows
        maps = (await call(rt, "list_sitemaps", {})).data.sitemaps
        home = (await call(rt, "inspect_url", {"url": "/"})).data
    assert len(rows) == 5 and maps
    assert home.url == site and home.verdict == "PASS"
