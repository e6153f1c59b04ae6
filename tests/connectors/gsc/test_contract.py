"""The reference facts the Search Console client relies on (api-facts.md §3), pinned against the
fake's wire."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

import httpx2
import pytest

from storelink.fakes.base import InProcessTransport
from storelink.fakes.google_auth import DEMO_ACCESS_TOKEN
from storelink.fakes.gsc import DEMO_SITE, GscFake

pytestmark = pytest.mark.looptime

BASE = "https://searchconsole.googleapis.com"
AUTH = {"Authorization": f"Bearer {DEMO_ACCESS_TOKEN}"}
QUERY = f"{BASE}/webmasters/v3/sites/{quote(DEMO_SITE, safe='')}/searchAnalytics/query"


@pytest.fixture(scope="module")
def fake() -> GscFake:
    return GscFake(today=dt.date(2026, 11, 24))


def body(**extra: Any) -> dict[str, Any]:
    return {"startDate": "2026-10-25", "endDate": "2026-11-21", "dimensions": ["query"], **extra}


async def request(fake: GscFake, method: str, url: str, **kwargs: Any) -> httpx2.Response:
    async with httpx2.AsyncClient(transport=InProcessTransport(fake.app)) as client:
        return await client.request(method, url, headers=kwargs.pop("headers", AUTH), **kwargs)


async def test_rows_shape_and_order(fake: GscFake) -> None:
    answer = (await request(fake, "POST", QUERY, json=body(dimensions=["date", "query", "page"], rowLimit=50))).json()
    assert answer["responseAggregationType"] == "byPage"
    row = answer["rows"][0]
    assert set(row) == {"keys", "clicks", "impressions", "ctr", "position"}
    date, _query, page = row["keys"]
    assert dt.date.fromisoformat(date) and page.startswith("https://www.apexperformanceparts.example/")
    assert all(isinstance(row[k], float) for k in ("clicks", "impressions", "ctr", "position"))
    clicks = [r["clicks"] for r in answer["rows"]]
    assert clicks == sorted(clicks, reverse=True)
    assert row["ctr"] == pytest.approx(row["clicks"] / row["impressions"])


async def test_default_row_limit_is_1000_and_paging_is_by_start_row(fake: GscFake) -> None:
    everything = (await request(fake, "POST", QUERY, json=body(dimensions=["query", "page"], rowLimit=25_000))).json()
    default = (await request(fake, "POST", QUERY, json=body(dimensions=["query", "page"]))).json()
    second = (await request(fake, "POST", QUERY, json=body(dimensions=["query", "page"], startRow=1000))).json()
    assert len(default["rows"]) == 1000
    assert default["rows"] + second["rows"] == everything["rows"][:2000]
    past = (await request(fake, "POST", QUERY, json=body(startRow=100_000))).json()
    assert "rows" not in past


@pytest.mark.parametrize("limit", [0, 25_001])
async def test_row_limit_range(fake: GscFake, limit: int) -> None:
    response = await request(fake, "POST", QUERY, json=body(rowLimit=limit))
    assert response.status_code == 400


async def test_enums_accept_either_case_and_answer_lower_camel(fake: GscFake) -> None:
    upper = (
        await request(fake, "POST", QUERY, json=body(type="WEB", dataState="FINAL", aggregationType="AUTO"))
    ).json()
    assert upper["responseAggregationType"] == "byProperty" and upper["rows"]
    bad = await request(fake, "POST", QUERY, json=body(dimensions=["page"], aggregationType="byProperty"))
    assert bad.status_code == 400


async def test_final_data_lags_and_all_adds_metadata(fake: GscFake) -> None:
    end = "2026-11-24"
    final = (await request(fake, "POST", QUERY, json=body(dimensions=["date"], endDate=end))).json()
    fresh = (await request(fake, "POST", QUERY, json=body(dimensions=["date"], endDate=end, dataState="all"))).json()
    assert max(r["keys"][0] for r in final["rows"]) == "2026-11-21"
    assert max(r["keys"][0] for r in fresh["rows"]) == "2026-11-23"
    assert fresh["metadata"] == {"firstIncompleteDate": "2026-11-22"} and "metadata" not in final


async def test_no_rows_answers_without_rows(fake: GscFake) -> None:
    answer = (await request(fake, "POST", QUERY, json=body(type="news"))).json()
    assert answer == {"responseAggregationType": "byProperty"}


async def test_filters_use_the_api_operators(fake: GscFake) -> None:
    groups = [{"groupType": "and", "filters": [{"dimension": "country", "operator": "equals", "expression": "usa"}]}]
    answer = (
        await request(fake, "POST", QUERY, json=body(dimensions=["country"], dimensionFilterGroups=groups))
    ).json()
    assert [r["keys"] for r in answer["rows"]] == [["usa"]]


async def test_sites_and_sitemaps_wire(fake: GscFake) -> None:
    sites = (await request(fake, "GET", f"{BASE}/webmasters/v3/sites")).json()["siteEntry"]
    assert {"siteUrl": DEMO_SITE, "permissionLevel": "siteOwner"} in sites
    maps = (await request(fake, "GET", f"{BASE}/webmasters/v3/sites/{quote(DEMO_SITE, safe='')}/sitemaps")).json()
    sitemap = maps["sitemap"][0]
    assert isinstance(sitemap["warnings"], str) and isinstance(sitemap["contents"][0]["submitted"], str)
    assert sitemap["lastSubmitted"].endswith(".000Z")


async def test_inspection_wire(fake: GscFake) -> None:
    product = fake.traffic.store.products[0]
    answer = await request(
        fake,
        "POST",
        f"{BASE}/v1/urlInspection/index:inspect",
        json={
            "inspectionUrl": f"https://www.apexperformanceparts.example/products/{product.handle}",
            "siteUrl": DEMO_SITE,
        },
    )
    result = answer.json()["inspectionResult"]
    assert result["indexStatusResult"]["verdict"] in {"PASS", "NEUTRAL", "FAIL"}
    assert result["inspectionResultLink"].startswith("https://search.google.com/search-console/inspect")
    outside = await request(
        fake,
        "POST",
        f"{BASE}/v1/urlInspection/index:inspect",
        json={"inspectionUrl": "https://elsewhere.example/", "siteUrl": DEMO_SITE},
    )
    assert outside.status_code == 403


async def test_errors_use_the_v1_envelope_with_errors_list(fake: GscFake) -> None:
    denied = await request(fake, "POST", QUERY.replace("apexperformanceparts", "other"), json=body())
    assert denied.status_code == 403
    error = denied.json()["error"]
    assert error["code"] == 403 and "sufficient permission" in error["message"]
    assert error["errors"][0]["reason"] == "forbidden"
    missing = await request(fake, "POST", QUERY, json=body(), headers={})
    assert missing.status_code == 401 and missing.json()["error"]["status"] == "UNAUTHENTICATED"


async def test_per_minute_limit_answers_rate_limit_exceeded() -> None:
    fake = GscFake(today=dt.date(2026, 11, 24))
    fake.limits["other"] = (type(fake.limits["other"][0])(3, 60.0),)
    statuses = [(await request(fake, "GET", f"{BASE}/webmasters/v3/sites")).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    error = (await request(fake, "GET", f"{BASE}/webmasters/v3/sites")).json()["error"]
    assert error["errors"][0] == {
        "message": "Rate Limit Exceeded",
        "domain": "usageLimits",
        "reason": "rateLimitExceeded",
    }
