"""The Bing fake pins the contract facts of api-facts.md §4 on the raw wire, and agrees with the
demo store."""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import AsyncIterator

import httpx2
import pytest

from storelink.fakes.base import InProcessTransport
from storelink.fakes.bing import DEMO_API_KEY, DEMO_SITE_URL, BingFake, bing_traffic, wcf_date
from storelink.fakes.data import ProductStatus, demo_store
from storelink.fakes.faults import FaultPlan

BASE = "https://ssl.bing.com/webmaster/api.svc/json"
WCF = re.compile(r"^/Date\(\d+[+-]\d{4}\)/$")


@pytest.fixture
def fake() -> BingFake:
    return BingFake()


@pytest.fixture
async def client(fake: BingFake) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(transport=InProcessTransport(fake.app)) as c:
        yield c


def q(**extra: str) -> dict[str, str]:
    return {"apikey": DEMO_API_KEY, "siteUrl": DEMO_SITE_URL, **extra}


async def test_success_is_the_d_envelope_with_types_and_wcf_dates(client: httpx2.AsyncClient) -> None:
    r = await client.get(f"{BASE}/GetQueryStats", params=q())
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert list(body) == ["d"] and isinstance(body["d"], list) and body["d"]
    row = body["d"][0]
    assert row["__type"] == "QueryStats:#Microsoft.Bing.Webmaster.Api"
    assert set(row) == {
        "__type", "AvgClickPosition", "AvgImpressionPosition", "Clicks", "Date", "Impressions", "Query"
    }  # fmt: skip
    assert all(WCF.match(r["Date"]) for r in body["d"])
    assert any(r["AvgClickPosition"] == -1 for r in body["d"] if r["Clicks"] == 0)


async def test_sites_quota_and_crawl_shapes(client: httpx2.AsyncClient) -> None:
    sites = (await client.get(f"{BASE}/GetUserSites", params={"apikey": DEMO_API_KEY})).json()["d"]
    assert {"AuthenticationCode", "DnsVerificationCode", "IsVerified", "Url", "__type"} == set(sites[0])
    quota = (await client.get(f"{BASE}/GetUrlSubmissionQuota", params=q())).json()["d"]
    assert quota == {
        "__type": "UrlSubmissionQuota:#Microsoft.Bing.Webmaster.Api",
        "DailyQuota": 100,
        "MonthlyQuota": 3100,
    }
    crawl = (await client.get(f"{BASE}/GetCrawlStats", params=q())).json()["d"]
    assert len(crawl) == 182  # about six months, daily
    assert set(crawl[0]) == {
        "__type", "AllOtherCodes", "BlockedByRobotsTxt", "Code2xx", "Code301", "Code302", "Code4xx", "Code5xx",
        "ConnectionTimeout", "CrawledPages", "CrawlErrors", "Date", "DnsFailures", "InIndex", "InLinks",
    }  # fmt: skip


async def test_stats_take_no_date_range(client: httpx2.AsyncClient) -> None:
    everything = (await client.get(f"{BASE}/GetRankAndTrafficStats", params=q())).json()["d"]
    ranged = (await client.get(f"{BASE}/GetRankAndTrafficStats", params=q(startDate="2026-11-01"))).json()["d"]
    assert everything == ranged and len(everything) == 182


async def test_batch_lowers_the_quota_by_its_size(client: httpx2.AsyncClient, fake: BingFake) -> None:
    urls = [f"{DEMO_SITE_URL}", f"{DEMO_SITE_URL}a"]
    r = await client.post(
        f"{BASE}/SubmitUrlBatch", params={"apikey": DEMO_API_KEY}, json={"siteUrl": DEMO_SITE_URL, "urlList": urls}
    )
    assert (r.status_code, r.json()) == (200, {"d": None})
    quota = (await client.get(f"{BASE}/GetUrlSubmissionQuota", params=q())).json()["d"]
    assert (quota["DailyQuota"], quota["MonthlyQuota"]) == (98, 3098)
    single = await client.post(
        f"{BASE}/SubmitUrl", params={"apikey": DEMO_API_KEY}, json={"siteUrl": DEMO_SITE_URL, "url": urls[1]}
    )
    assert single.json() == {"d": None} and fake.submissions == [urls, [urls[1]]]


@pytest.mark.parametrize(
    ("method", "verb", "params", "body", "code"),
    [
        ("GetQueryStats", "GET", {"apikey": "wrong", "siteUrl": DEMO_SITE_URL}, None, 3),
        ("GetQueryStats", "GET", {"siteUrl": DEMO_SITE_URL}, None, 3),
        ("GetQueryStats", "GET", {"apikey": DEMO_API_KEY}, None, 8),
        ("GetQueryStats", "GET", {"apikey": DEMO_API_KEY, "siteUrl": "https://other.example/"}, None, 14),
        ("SubmitUrlBatch", "POST", {"apikey": DEMO_API_KEY}, {"siteUrl": DEMO_SITE_URL, "urlList": []}, 8),
        (
            "SubmitUrlBatch", "POST", {"apikey": DEMO_API_KEY},
            {"siteUrl": DEMO_SITE_URL, "urlList": [f"{DEMO_SITE_URL}{i}" for i in range(501)]}, 8,
        ),
        (
            "SubmitUrlBatch", "POST", {"apikey": DEMO_API_KEY},
            {"siteUrl": DEMO_SITE_URL, "urlList": ["https://elsewhere.example/x"]}, 7,
        ),
        (
            "SubmitUrlBatch", "POST", {"apikey": DEMO_API_KEY},
            {"siteUrl": DEMO_SITE_URL, "urlList": [f"{DEMO_SITE_URL}{i}" for i in range(101)]}, 13,
        ),
    ],
)  # fmt: skip
async def test_errors_are_400_with_an_error_code(
    client: httpx2.AsyncClient, method: str, verb: str, params: dict[str, str], body: object, code: int
) -> None:
    r = await client.request(verb, f"{BASE}/{method}", params=params, json=body)
    assert r.status_code == 400
    error = r.json()
    assert error["ErrorCode"] == code and error["Message"].startswith("ERROR!!! ")


async def test_unknown_method_and_wrong_verb(client: httpx2.AsyncClient) -> None:
    assert (await client.get(f"{BASE}/GetSomethingElse", params=q())).status_code == 404
    assert (await client.get(f"{BASE}/SubmitUrlBatch", params=q())).status_code == 405


async def test_faults_speak_bing(client: httpx2.AsyncClient, fake: BingFake) -> None:
    fake.faults = FaultPlan.scripted("429", "401", "502")
    throttled = await client.get(f"{BASE}/GetUserSites", params={"apikey": DEMO_API_KEY})
    expired = await client.get(f"{BASE}/GetUserSites", params={"apikey": DEMO_API_KEY})
    gateway = await client.get(f"{BASE}/GetUserSites", params={"apikey": DEMO_API_KEY})
    assert (throttled.status_code, throttled.json()["ErrorCode"]) == (400, 4)
    assert (expired.status_code, expired.json()["ErrorCode"]) == (400, 3)
    assert gateway.status_code == 502 and gateway.headers["content-type"].startswith("text/html")


async def test_no_conditional_requests(client: httpx2.AsyncClient) -> None:
    r = await client.get(f"{BASE}/GetUserSites", params={"apikey": DEMO_API_KEY}, headers={"If-None-Match": "*"})
    assert r.status_code == 200 and "etag" not in r.headers and "last-modified" not in r.headers


# -- agreement with the store ---------------------------------------------------------------------------
def test_weekly_page_clicks_add_up_to_the_daily_clicks() -> None:
    traffic = bing_traffic()
    daily = {d.day: d.clicks for d in traffic.days}
    pages: dict[dt.date, int] = defaultdict(int)
    queries: dict[dt.date, int] = defaultdict(int)
    for row in traffic.pages:
        pages[row.week] += row.clicks
    for row in traffic.queries:
        queries[row.week] += row.clicks
    for week in traffic.weeks:
        in_week = sum(c for day, c in daily.items() if week <= day < week + dt.timedelta(days=7))
        assert pages[week] == in_week
        assert queries[week] <= in_week  # the rest is Bing's anonymous share
    assert all(week.weekday() == 4 for week in traffic.weeks)


def test_pages_and_queries_come_from_the_store() -> None:
    store = demo_store()
    traffic = bing_traffic()
    active = {
        f"{store.shop.primary_url}/products/{p.handle}" for p in store.products if p.status is ProductStatus.ACTIVE
    }
    archived = {
        f"{store.shop.primary_url}/products/{p.handle}" for p in store.products if p.status is not ProductStatus.ACTIVE
    }
    urls = {row.key for row in traffic.pages}
    assert urls & active and not urls & archived
    assert all(u in active or "/collections/" in u or u == DEMO_SITE_URL for u in urls)
    queries = {row.key for row in traffic.queries}
    assert "apex performance parts" in queries
    assert any(p.product_type.lower() in q for q in queries for p in store.products[:20])
    assert all(row.clicks <= row.impressions for row in traffic.pages + traffic.queries)


def test_traffic_follows_the_orders() -> None:
    store = demo_store()
    traffic = bing_traffic()
    busiest = max(traffic.days, key=lambda d: d.clicks)
    quietest = min(traffic.days, key=lambda d: d.clicks)

    def orders_on(day: dt.date) -> int:
        start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
        return len(store.orders_between(start, start + dt.timedelta(days=1)))

    assert orders_on(busiest.day) > orders_on(quietest.day)


@pytest.mark.parametrize(
    ("day", "text"),
    [
        (dt.date(2011, 9, 16), "/Date(1316156400000-0700)/"),  # Microsoft's own sample
        (dt.date(2026, 1, 9), "/Date(1767945600000-0800)/"),
    ],
)
def test_wcf_date_is_midnight_pacific(day: dt.date, text: str) -> None:
    assert wcf_date(day) == text
