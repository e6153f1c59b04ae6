"""The Bing connector over its fake: envelope and dates, filters, errors by ErrorCode, quota, submission."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from storelink.audit import embedded_trail
from storelink.connectors.bing import BingConnector
from storelink.connectors.bing.errors import THROTTLE_WAIT_S
from storelink.errors import ConnectorError, ErrorKind
from storelink.fakes.base import InProcessTransport
from storelink.fakes.bing import DEMO_SITE_URL, BingFake, bing_traffic
from storelink.fakes.data import ProductStatus, demo_store
from storelink.fakes.faults import FaultPlan
from storelink.observability.metrics import Metrics
from storelink.runtime import Runtime, open_runtime
from storelink.store import EmbeddedStore
from tests.conftest import make_settings

pytestmark = pytest.mark.looptime

KEY = "0123456789abcdef0123456789abcdef"


@asynccontextmanager
async def live_against(fake: BingFake, tmp_path: Path, **settings: Any) -> AsyncIterator[Runtime]:
    """Live mode (key and site set) with the wire pointed at the fake: the real live code path."""
    s = make_settings(tmp_path, bing_wmt_api_key=KEY, bing_site_url=DEMO_SITE_URL, **settings)
    async with open_runtime(
        s,
        connectors=[BingConnector],
        transports={"bing": InProcessTransport(fake.app)},
        metrics=Metrics(),
        store=EmbeddedStore(None),
        random_source=lambda: 0.5,
    ) as rt:
        yield rt


@pytest.fixture
def fake() -> BingFake:
    return BingFake(api_keys=frozenset({KEY}))


async def test_live_mode_lists_sites(fake: BingFake, tmp_path: Path) -> None:
    async with live_against(fake, tmp_path) as rt:
        bing = rt.registry.get("bing")
        assert bing.mode == "live"
        envelope = await bing.call("list_sites", {})
        assert [(s.url, s.verified) for s in envelope.data.items] == [
            (DEMO_SITE_URL, True),
            ("https://blog.apexperformanceparts.example/", False),
        ]


async def test_query_stats_parse_dates_and_positions(fake: BingFake, tmp_path: Path) -> None:
    async with live_against(fake, tmp_path) as rt:
        page = (await rt.registry.get("bing").call("query_stats", {"limit": 5000, "order_by": "date"})).data
    assert page.kind == "query" and page.site_url == DEMO_SITE_URL
    assert page.total == len(bing_traffic().queries) and not page.truncated
    first = page.items[0]
    assert isinstance(first.date, dt.datetime) and first.date.tzinfo is not None
    # Weeks start Fridays at midnight Pacific: 07:00 or 08:00 UTC.
    assert first.date.weekday() == 4 and first.date.hour in (7, 8)
    assert page.last_date == first.date
    no_clicks = [r for r in page.items if r.clicks == 0]
    assert no_clicks and all(r.avg_click_position is None for r in no_clicks)  # Bing's -1
    assert all(r.avg_impression_position and r.avg_impression_position > 0 for r in page.items)


async def test_query_stats_filters_orders_and_aggregates(fake: BingFake, tmp_path: Path) -> None:
    async with live_against(fake, tmp_path) as rt:
        bing = rt.registry.get("bing")
        weekly = (await bing.call("query_stats", {"contains": "Brake Pads", "limit": 5000})).data
        summed = (await bing.call("query_stats", {"contains": "brake pads", "aggregate": True, "limit": 5000})).data
        start = dt.date(2026, 11, 1)
        recent = (await bing.call("query_stats", {"start": start.isoformat(), "limit": 5000})).data
    assert weekly.items and all("brake pads" in r.key for r in weekly.items)
    assert [r.clicks for r in weekly.items] == sorted((r.clicks for r in weekly.items), reverse=True)
    # Aggregation keeps every click and impression, one row per query.
    assert sum(r.clicks for r in summed.items) == sum(r.clicks for r in weekly.items)
    assert sum(r.impressions for r in summed.items) == sum(r.impressions for r in weekly.items)
    assert len({r.key for r in summed.items}) == len(summed.items)
    assert max(r.weeks for r in summed.items) > 1
    assert all(r.date is not None and r.date.date() >= start for r in recent.items)


async def test_page_stats_are_the_stores_pages(fake: BingFake, tmp_path: Path) -> None:
    async with live_against(fake, tmp_path) as rt:
        page = (await rt.registry.get("bing").call("page_stats", {"aggregate": True, "limit": 20})).data
    store = demo_store()
    known = {
        f"{store.shop.primary_url}/products/{p.handle}" for p in store.products if p.status is ProductStatus.ACTIVE
    }
    assert page.kind == "page" and page.truncated
    assert all(r.key in known or "/collections/" in r.key or r.key == DEMO_SITE_URL for r in page.items)
    assert any(r.key in known for r in page.items)


async def test_traffic_and_crawl_stats(fake: BingFake, tmp_path: Path) -> None:
    async with live_against(fake, tmp_path) as rt:
        bing = rt.registry.get("bing")
        traffic = (await bing.call("rank_and_traffic_stats", {"start": "2026-11-17", "end": "2026-11-23"})).data
        crawl = (await bing.call("crawl_stats", {"days": 400})).data
        recent = (await bing.call("crawl_stats", {})).data
    assert [d.date.date() for d in traffic.items if d.date] == [
        dt.date(2026, 11, 17) + dt.timedelta(days=i) for i in range(7)
    ]
    assert traffic.clicks == sum(d.clicks for d in traffic.items) > 0
    assert len(crawl.items) == 182
    assert recent.items == crawl.items[-30:]  # by default the last 30 days Bing reports
    assert [d.date for d in crawl.items] == sorted(d.date for d in crawl.items if d.date)
    last = crawl.items[-1]
    assert last.crawled_pages == last.code_2xx + last.code_301 + last.code_302 + last.code_4xx + last.code_5xx


async def test_stats_are_cached_quota_is_not(fake: BingFake, tmp_path: Path) -> None:
    async with live_against(fake, tmp_path) as rt:
        bing = rt.registry.get("bing")
        await bing.call("page_stats", {})
        again = await bing.call("page_stats", {"limit": 3})
        assert again.meta.source == "cache-fresh"
        await bing.call("url_submission_quota", {})
        await bing.call("url_submission_quota", {})
    assert fake.stats["GET /webmaster/api.svc/json/GetPageStats"] == 1
    assert fake.stats["GET /webmaster/api.svc/json/GetUrlSubmissionQuota"] == 2


async def test_no_site_configured_is_not_configured(fake: BingFake, tmp_path: Path) -> None:
    s = make_settings(tmp_path, bing_wmt_api_key=KEY)
    async with open_runtime(
        s, connectors=[BingConnector], transports={"bing": InProcessTransport(fake.app)}, store=EmbeddedStore(None)
    ) as rt:
        with pytest.raises(ConnectorError) as info:
            await rt.registry.get("bing").call("query_stats", {})
    assert info.value.kind is ErrorKind.NOT_CONFIGURED and "BING_SITE_URL" in info.value.message


# -- errors --------------------------------------------------------------------------------------------
async def test_bad_key_is_unauthorized_and_not_retried(tmp_path: Path) -> None:
    fake = BingFake(api_keys=frozenset({"another-key-entirely-000000000000"}))
    async with live_against(fake, tmp_path) as rt:
        with pytest.raises(ConnectorError) as info:
            await rt.registry.get("bing").call("list_sites", {})
    err = info.value
    assert err.kind is ErrorKind.UNAUTHORIZED and err.status == 400
    assert err.upstream_code == "InvalidApiKey" and "BING_WMT_API_KEY" in err.message
    assert fake.stats["GET /webmaster/api.svc/json/GetUserSites"] == 1


async def test_throttling_is_retried_after_the_wait(fake: BingFake, tmp_path: Path) -> None:
    import asyncio

    fake.faults = FaultPlan.scripted("429")  # the fake answers ErrorCode 4 (ThrottleUser)
    async with live_against(fake, tmp_path) as rt:
        started = asyncio.get_running_loop().time()
        envelope = await rt.registry.get("bing").call("list_sites", {})
        waited = asyncio.get_running_loop().time() - started
    assert envelope.meta.attempts == 2
    assert waited == pytest.approx(THROTTLE_WAIT_S, abs=0.05)
    assert rt.metrics.counter_value("storelink_throttles", connector="bing") == 1


async def test_unverified_site_is_forbidden(fake: BingFake, tmp_path: Path) -> None:
    async with live_against(fake, tmp_path) as rt:
        with pytest.raises(ConnectorError) as info:
            await rt.registry.get("bing").call(
                "crawl_stats", {"site_url": "https://blog.apexperformanceparts.example/"}
            )
    assert info.value.kind is ErrorKind.FORBIDDEN and info.value.upstream_code == "NotAuthorized"
    assert "list_sites" in info.value.message


async def test_gateway_html_is_unavailable_and_retried(fake: BingFake, tmp_path: Path) -> None:
    fake.faults = FaultPlan.scripted("502", "503")
    async with live_against(fake, tmp_path) as rt:
        envelope = await rt.registry.get("bing").call("url_submission_quota", {})
    assert envelope.meta.attempts == 3 and envelope.data.daily_remaining == 100


# -- submission ---------------------------------------------------------------------------------------
URLS = [f"{DEMO_SITE_URL}products/{p.handle}" for p in demo_store().products[:2]]


async def test_submit_is_refused_unless_allowed(fake: BingFake, tmp_path: Path) -> None:
    async with live_against(fake, tmp_path) as rt:
        with pytest.raises(ConnectorError) as info:
            await rt.registry.get("bing").call("submit_urls", {"urls": URLS})
    assert info.value.kind is ErrorKind.DISABLED and "STORELINK_ALLOW_WRITES" in info.value.message
    assert fake.submissions == []
    assert fake.stats["GET /webmaster/api.svc/json/GetUrlSubmissionQuota"] == 0


async def test_submit_lowers_the_quota_by_one_per_url(fake: BingFake, tmp_path: Path) -> None:
    async with live_against(fake, tmp_path, allow_writes="bing.submit_urls") as rt:
        bing = rt.registry.get("bing")
        result = (await bing.call("submit_urls", {"urls": [*URLS, URLS[0]]})).data
        quota = (await bing.call("url_submission_quota", {})).data
        calls = await embedded_trail(rt.store).recent()
    assert result.submitted == URLS  # duplicates dropped
    assert (result.daily_remaining, result.monthly_remaining) == (98, 3098)
    assert (quota.daily_remaining, quota.monthly_remaining) == (98, 3098)
    assert fake.submissions == [URLS]
    [call] = calls
    assert call.outcome == "ok" and [a.outcome for a in call.attempts] == ["ok"]
    assert "2 URL(s)" in call.summary


async def test_batch_over_the_quota_is_refused_locally(tmp_path: Path) -> None:
    fake = BingFake(api_keys=frozenset({KEY}), daily_quota=1)
    async with live_against(fake, tmp_path, allow_writes="*") as rt:
        with pytest.raises(ConnectorError) as info:
            await rt.registry.get("bing").call("submit_urls", {"urls": URLS})
        calls = await embedded_trail(rt.store).recent()
    err = info.value
    assert err.kind is ErrorKind.RATE_LIMITED and err.retryable is False
    assert "only 1 more today" in err.message and "nothing was sent" in err.message
    assert err.retry_after_s is not None and 0 < err.retry_after_s <= 86_400
    assert fake.submissions == [] and fake.stats["POST /webmaster/api.svc/json/SubmitUrlBatch"] == 0
    assert calls[0].outcome == "failed" and calls[0].attempts == []


async def test_urls_off_the_site_are_refused(fake: BingFake, tmp_path: Path) -> None:
    async with live_against(fake, tmp_path, allow_writes="*") as rt:
        with pytest.raises(ConnectorError) as info:
            await rt.registry.get("bing").call(
                "submit_urls", {"urls": [URLS[0], "https://www.apexperformanceparts.example.evil.test/x"]}
            )
    assert info.value.kind is ErrorKind.INVALID_REQUEST
    assert fake.submissions == []


async def test_submission_timeout_is_not_retried(fake: BingFake, tmp_path: Path) -> None:
    async with live_against(fake, tmp_path, allow_writes="*", bing={"timeout": 2.0}) as rt:
        fake.faults = FaultPlan.scripted("ok", "stall")  # the quota read passes, the submission stalls
        with pytest.raises(ConnectorError) as info:
            await rt.registry.get("bing").call("submit_urls", {"urls": URLS, "idempotency_key": "bing-batch-0001"})
        call = await embedded_trail(rt.store).call("bing-batch-0001", with_attempts=True)
    assert info.value.kind is ErrorKind.TIMEOUT and "outcome is unknown" in info.value.message
    assert fake.stats["POST /webmaster/api.svc/json/SubmitUrlBatch"] == 1
    assert call is not None and call.outcome == "unknown" and [a.outcome for a in call.attempts] == ["unknown"]
