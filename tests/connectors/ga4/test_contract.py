"""The reference facts the GA4 client relies on (api-facts.md §2), pinned against the fake's wire.
If one of these changes, the client and the fake must change together."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx2
import pytest

from storelink.connectors.ga4.errors import exhausted_bucket, seconds_to_pacific_midnight
from storelink.fakes.base import InProcessTransport
from storelink.fakes.faults import FaultPlan
from storelink.fakes.ga4 import Ga4Fake
from storelink.fakes.google_auth import DEMO_ACCESS_TOKEN, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REFRESH_TOKEN

pytestmark = pytest.mark.looptime

BASE = "https://analyticsdata.googleapis.com"
REPORT = f"{BASE}/v1beta/properties/412345678:runReport"
AUTH = {"Authorization": f"Bearer {DEMO_ACCESS_TOKEN}"}


@pytest.fixture(scope="module")
def fake() -> Ga4Fake:
    return Ga4Fake()


async def post(
    fake: Ga4Fake, body: dict[str, Any], url: str = REPORT, headers: dict[str, str] = AUTH
) -> httpx2.Response:
    async with httpx2.AsyncClient(transport=InProcessTransport(fake.app)) as client:
        return await client.post(url, json=body, headers=headers)


BODY = {
    "dateRanges": [{"startDate": "7daysAgo", "endDate": "yesterday"}],
    "dimensions": [{"name": "date"}, {"name": "sessionDefaultChannelGroup"}],
    "metrics": [{"name": "sessions"}, {"name": "totalRevenue"}],
    "limit": "10000",
    "offset": "0",
    "returnPropertyQuota": True,
    "orderBys": [{"dimension": {"dimensionName": "date"}}],
}


async def test_run_report_shape(fake: Ga4Fake) -> None:
    body = (await post(fake, BODY)).json()
    assert body["kind"] == "analyticsData#runReport"
    assert body["dimensionHeaders"] == [{"name": "date"}, {"name": "sessionDefaultChannelGroup"}]
    assert body["metricHeaders"] == [
        {"name": "sessions", "type": "TYPE_INTEGER"},
        {"name": "totalRevenue", "type": "TYPE_CURRENCY"},
    ]
    row = body["rows"][0]
    assert all(isinstance(v["value"], str) for v in row["dimensionValues"] + row["metricValues"])
    assert len(row["dimensionValues"][0]["value"]) == 8 and row["dimensionValues"][0]["value"].isdigit()  # YYYYMMDD
    assert isinstance(body["rowCount"], int) and body["rowCount"] == len(body["rows"])
    assert body["metadata"] == {"currencyCode": "USD", "timeZone": "America/New_York"}


async def test_property_quota_has_the_standard_buckets(fake: Ga4Fake) -> None:
    quota = (await post(fake, BODY)).json()["propertyQuota"]
    assert set(quota) == {
        "tokensPerDay",
        "tokensPerHour",
        "concurrentRequests",
        "serverErrorsPerProjectPerHour",
        "potentiallyThresholdedRequestsPerHour",
        "tokensPerProjectPerHour",
    }
    for status in quota.values():
        assert set(status) == {"consumed", "remaining"} and all(isinstance(v, int) for v in status.values())
    assert quota["concurrentRequests"]["remaining"] == 10
    assert quota["serverErrorsPerProjectPerHour"]["remaining"] == 10
    assert quota["potentiallyThresholdedRequestsPerHour"]["remaining"] == 120
    assert 0 < quota["tokensPerHour"]["consumed"] < 10  # "most requests cost fewer than 10 tokens"
    assert quota["tokensPerDay"]["remaining"] <= 200_000 - quota["tokensPerDay"]["consumed"]
    assert quota["tokensPerProjectPerHour"]["remaining"] < 14_000
    without = (await post(fake, {**BODY, "returnPropertyQuota": False})).json()
    assert "propertyQuota" not in without


async def test_paging_by_offset_and_limit(fake: Ga4Fake) -> None:
    first = (await post(fake, {**BODY, "limit": "5"})).json()
    second = (await post(fake, {**BODY, "limit": "5", "offset": "5"})).json()
    everything = (await post(fake, BODY)).json()
    assert first["rowCount"] == second["rowCount"] == everything["rowCount"] > 10
    assert first["rows"] + second["rows"] == everything["rows"][:10]
    past = (await post(fake, {**BODY, "offset": str(everything["rowCount"])})).json()
    assert "rows" not in past and past["rowCount"] == everything["rowCount"]
    bad = await post(fake, {**BODY, "limit": "-1"})
    assert bad.status_code == 400 and bad.json()["error"]["status"] == "INVALID_ARGUMENT"


async def test_empty_report_omits_rows_and_row_count(fake: Ga4Fake) -> None:
    body = {**BODY, "dateRanges": [{"startDate": "2019-01-01", "endDate": "2019-01-31"}]}
    answer = (await post(fake, body)).json()
    assert "rows" not in answer and "rowCount" not in answer


async def test_two_date_ranges_add_the_date_range_dimension(fake: Ga4Fake) -> None:
    body = {
        **BODY,
        "dimensions": [{"name": "sessionDefaultChannelGroup"}],
        "dateRanges": [
            {"startDate": "14daysAgo", "endDate": "8daysAgo"},
            {"startDate": "7daysAgo", "endDate": "yesterday"},
        ],
        "orderBys": [],
    }
    answer = (await post(fake, body)).json()
    assert answer["dimensionHeaders"][-1] == {"name": "dateRange"}
    assert {r["dimensionValues"][-1]["value"] for r in answer["rows"]} == {"date_range_0", "date_range_1"}


@pytest.mark.parametrize(
    ("url", "headers", "body", "status", "name", "words"),
    [
        (REPORT, {}, BODY, 401, "UNAUTHENTICATED", "invalid authentication credentials"),
        (REPORT.replace("412345678", "999"), AUTH, BODY, 403, "PERMISSION_DENIED", "sufficient permissions"),
        (
            REPORT,
            AUTH,
            {**BODY, "dimensions": [{"name": "customEvent:x"}]},
            400,
            "INVALID_ARGUMENT",
            "Field customEvent:x is not a valid dimension.",
        ),
        (
            REPORT,
            AUTH,
            {**BODY, "dimensions": [{"name": "pagePath"}, {"name": "sessionSource"}]},
            400,
            "INVALID_ARGUMENT",
            "incompatible",
        ),
    ],
)
async def test_errors_are_google_rpc_status(
    fake: Ga4Fake, url: str, headers: dict[str, str], body: dict[str, Any], status: int, name: str, words: str
) -> None:
    response = await post(fake, body, url=url, headers=headers)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == status and error["status"] == name and words in error["message"]


async def test_more_than_ten_in_flight_is_refused_as_the_api_does() -> None:
    fake = Ga4Fake(latency_s=1.0)
    answers = await asyncio.gather(*(post(fake, BODY) for _ in range(12)))
    refused = [a for a in answers if a.status_code == 429]
    assert len(refused) == 2
    assert refused[0].json()["error"] == {
        "code": 429,
        "message": "Exhausted concurrent requests quota.",
        "status": "RESOURCE_EXHAUSTED",
    }
    assert fake.peak_in_flight == 11  # the eleventh arrived (and was refused at once, as was the twelfth)


async def test_server_errors_lock_the_property_for_the_hour() -> None:
    fake = Ga4Fake()
    fake.faults = FaultPlan.scripted(*["500"] * 10)
    statuses = [(await post(fake, BODY)).status_code for _ in range(11)]
    assert statuses == [500] * 10 + [429]
    locked = (await post(fake, BODY)).json()["error"]
    assert locked["message"] == "Exhausted server errors quota."
    await asyncio.sleep(3600)  # the next hour window
    assert (await post(fake, BODY)).status_code == 200


def test_the_client_names_the_bucket_in_each_quota_message() -> None:
    assert exhausted_bucket("Exhausted concurrent requests quota.") == "concurrentRequests"
    assert exhausted_bucket("Exhausted property tokens for a project per hour.") == "tokensPerProjectPerHour"
    assert exhausted_bucket("Exhausted potentially thresholded requests quota.") == (
        "potentiallyThresholdedRequestsPerHour"
    )
    assert exhausted_bucket("Exhausted server errors quota.") == "serverErrorsPerProjectPerHour"
    assert exhausted_bucket("Exhausted property tokens per day. These quota tokens will return in under 24 hours.") == (
        "tokensPerDay"
    )
    assert exhausted_bucket("Exhausted property tokens per hour.") == "tokensPerHour"


def test_daily_quota_returns_at_midnight_pacific() -> None:
    # 2026-11-25 07:00 UTC is 23:00 the day before in Los Angeles (PST, UTC-8): one hour left.
    at = dt.datetime(2026, 11, 25, 7, 0, tzinfo=dt.UTC).timestamp()
    assert seconds_to_pacific_midnight(at) == pytest.approx(3600.0)


async def test_token_endpoint_answers_like_google(fake: Ga4Fake) -> None:
    form = {
        "grant_type": "refresh_token",
        "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET,
        "refresh_token": DEMO_REFRESH_TOKEN,
    }
    async with httpx2.AsyncClient(transport=InProcessTransport(fake.app)) as client:
        ok = await client.post("https://oauth2.googleapis.com/token", data=form)
        bad = await client.post("https://oauth2.googleapis.com/token", data={**form, "refresh_token": "1//nope"})
    body = ok.json()
    assert set(body) == {"access_token", "expires_in", "scope", "token_type"}  # no new refresh token
    assert body["expires_in"] == 3599 and body["token_type"] == "Bearer" and body["access_token"].startswith("ya29.")
    assert bad.status_code == 400
    assert bad.json() == {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
