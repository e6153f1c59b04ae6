"""The GA4 connector through the whole pipeline against the GA4 fake (token endpoint included):
views, paging, quotas, pacing, auth. Loop time is faked (looptime), so waits are exact and instant."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from storelink.connectors.ga4.client import Ga4Connector
from storelink.connectors.progress import progress_listener
from storelink.errors import ConnectorError, ErrorKind
from storelink.fakes.data import demo_store
from storelink.fakes.faults import Fault, FaultPlan
from storelink.fakes.ga4 import Ga4Fake, QuotaLimits
from storelink.fakes.google_auth import DEMO_CLIENT_ID, GoogleTokenFake
from storelink.settings import Ga4Knobs
from storelink.store_calendar import WallClock
from tests.connectors.ga4.support import PROPERTY, google_runtime, live_settings

pytestmark = pytest.mark.looptime

CANARY_REFRESH = "1//CANARY-ga4-refresh-0d9c8b7a"
CANARY_SECRET = "GOCSPX-CANARY-ga4-secret-1e2f"


@pytest.fixture
def fake() -> Ga4Fake:
    return Ga4Fake(properties=[PROPERTY])


async def call(rt: Any, operation: str, params: dict[str, Any]) -> Any:
    return await rt.registry.get("ga4").call(operation, params)


async def test_traffic_overview_matches_the_store_orders(tmp_path: Path, fake: Ga4Fake) -> None:
    async with google_runtime(live_settings(tmp_path), [Ga4Connector], {"ga4": fake}) as rt:
        envelope = await call(rt, "traffic_overview", {"days": 28})
    data = envelope.data
    assert envelope.meta.mode == "live"
    assert len(data.days) == 28
    assert data.end == demo_store().today - dt.timedelta(days=1)  # "yesterday" in the property's time zone
    expected = fake.traffic.days
    for day in data.days:
        assert day.conversions >= expected[day.date]["transactions"]
        assert float(day.revenue) == pytest.approx(expected[day.date]["totalRevenue"], abs=0.01)
        assert day.sessions == expected[day.date]["sessions"]
    assert data.totals is not None
    assert data.totals.sessions == sum(d.sessions for d in data.days)
    # Users are distinct over the range: fewer than the days' sum (returning users count once).
    assert 0 < data.totals.users < sum(d.users for d in data.days)
    assert "date" not in data.totals.model_dump()
    assert envelope.meta.headroom is not None and envelope.meta.headroom.unit.startswith("tokens")


async def test_maximums_and_minimums_come_back_when_asked_for(tmp_path: Path, fake: Ga4Fake) -> None:
    async with google_runtime(live_settings(tmp_path), [Ga4Connector], {"ga4": fake}) as rt:
        report = (
            await call(
                rt,
                "run_report",
                {"dimensions": "date", "metrics": "sessions", "days": 7, "metric_aggregations": ["MAXIMUM", "MINIMUM"]},
            )
        ).data
    sessions = [r.metrics["sessions"] for r in report.rows]
    assert [r.metrics["sessions"] for r in report.maximums] == [max(sessions)]
    assert [r.metrics["sessions"] for r in report.minimums] == [min(sessions)]
    assert report.totals == []  # not asked for


async def test_channel_breakdown_adds_up_to_the_totals(tmp_path: Path, fake: Ga4Fake) -> None:
    async with google_runtime(live_settings(tmp_path), [Ga4Connector], {"ga4": fake}) as rt:
        channels = (await call(rt, "channel_breakdown", {"days": 28})).data
        overview = (await call(rt, "traffic_overview", {"days": 28})).data
    assert {c.channel for c in channels.channels} >= {"Organic Search", "Direct", "Paid Search", "Email"}
    assert sum(c.sessions for c in channels.channels) == overview.totals.sessions
    assert sum(c.session_share for c in channels.channels) == pytest.approx(1.0, abs=0.01)
    email = next(c for c in channels.channels if c.channel == "Email")
    social = next(c for c in channels.channels if c.channel == "Organic Social")
    assert email.conversion_rate > social.conversion_rate  # channels convert differently


async def test_top_pages_most_viewed_first(tmp_path: Path, fake: Ga4Fake) -> None:
    async with google_runtime(live_settings(tmp_path), [Ga4Connector], {"ga4": fake}) as rt:
        pages = (await call(rt, "top_pages", {"days": 7, "limit": 10})).data
    views = [p.views for p in pages.pages]
    assert len(views) == 10 and views == sorted(views, reverse=True)
    assert pages.pages[0].path == "/"
    assert pages.total_views > sum(views)


async def test_run_report_pages_with_offset_and_reports_progress(tmp_path: Path, fake: Ga4Fake) -> None:
    seen: list[tuple[float, float | None]] = []

    async def listener(done: float, total: float | None, message: str) -> None:
        seen.append((done, total))

    token = progress_listener.set(listener)
    try:
        async with google_runtime(live_settings(tmp_path), [Ga4Connector], {"ga4": fake}) as rt:
            params = {"dimensions": "date,pagePath", "metrics": "screenPageViews", "days": 14, "limit": 2500}
            paged = (await call(rt, "run_report", {**params, "page_size": 1000})).data
            whole = (await call(rt, "run_report", params)).data
    finally:
        progress_listener.reset(token)
    assert paged.requests == 3 and whole.requests == 1
    assert [r.model_dump() for r in paged.rows] == [r.model_dump() for r in whole.rows]
    assert paged.row_count > 2500 and paged.truncated
    assert seen == [(1000, 2500), (2000, 2500), (2500, 2500), (2500, 2500)]  # three pages, then one


async def test_run_report_filters_and_orders(tmp_path: Path, fake: Ga4Fake) -> None:
    flt = {"filter": {"fieldName": "pagePath", "stringFilter": {"matchType": "BEGINS_WITH", "value": "/products/"}}}
    async with google_runtime(live_settings(tmp_path), [Ga4Connector], {"ga4": fake}) as rt:
        report = (
            await call(
                rt,
                "run_report",
                {
                    "dimensions": ["pagePath"],
                    "metrics": ["screenPageViews"],
                    "dimension_filter": flt,
                    "order_bys": ["-screenPageViews"],
                    "limit": 5,
                    "metric_aggregations": ["TOTAL"],
                },
            )
        ).data
    assert all(r.dimensions["pagePath"].startswith("/products/") for r in report.rows)
    views = [r.metrics["screenPageViews"] for r in report.rows]
    assert views == sorted(views, reverse=True) and all(isinstance(v, int) for v in views)
    assert report.totals and report.totals[0].metrics["screenPageViews"] >= sum(views)
    assert report.property_quota is not None and report.property_quota.tokens_per_day.remaining < 200_000


async def test_unknown_field_is_invalid_request_with_the_apis_words(tmp_path: Path, fake: Ga4Fake) -> None:
    async with google_runtime(live_settings(tmp_path), [Ga4Connector], {"ga4": fake}) as rt:
        with pytest.raises(ConnectorError) as info:
            await call(rt, "run_report", {"dimensions": "customEvent:x", "metrics": "sessions"})
    assert info.value.kind is ErrorKind.INVALID_REQUEST
    assert "customEvent:x is not a valid dimension" in info.value.message
    assert info.value.upstream_code == "INVALID_ARGUMENT"


async def test_property_without_access_is_forbidden_with_remedy(tmp_path: Path) -> None:
    fake = Ga4Fake(properties=["999"])
    async with google_runtime(live_settings(tmp_path), [Ga4Connector], {"ga4": fake}) as rt:
        with pytest.raises(ConnectorError) as info:
            await call(rt, "traffic_overview", {"days": 7})
    assert info.value.kind is ErrorKind.FORBIDDEN
    assert "Property access management" in info.value.message


async def test_realtime_and_metadata(tmp_path: Path, fake: Ga4Fake) -> None:
    async with google_runtime(live_settings(tmp_path), [Ga4Connector], {"ga4": fake}) as rt:
        realtime = (await call(rt, "run_realtime_report", {"dimensions": "country", "metrics": "activeUsers"})).data
        metadata = (await call(rt, "get_metadata", {})).data
        again = await call(rt, "get_metadata", {})
    assert realtime.rows and realtime.rows[0].dimensions["country"] == "United States"
    assert {"sessions", "totalRevenue", "itemsPurchased"} <= {x.api_name for x in metadata.metrics}
    assert again.meta.source == "cache-fresh"


async def test_realtime_quota_is_separate_from_core(tmp_path: Path) -> None:
    fake = Ga4Fake(properties=[PROPERTY], limits=QuotaLimits(tokens_per_project_per_hour=30))
    async with google_runtime(live_settings(tmp_path), [Ga4Connector], {"ga4": fake}) as rt:
        fake.state[PROPERTY].usage["core"].hour_tokens = 30  # core's hour is spent
        fake._windows(fake.state[PROPERTY].usage["core"])
        realtime = await call(rt, "run_realtime_report", {"metrics": "activeUsers"})
        assert realtime.data.rows


async def test_resource_exhausted_is_rate_limited_until_the_window_resets(tmp_path: Path) -> None:
    fake = Ga4Fake(properties=[PROPERTY])
    async with google_runtime(live_settings(tmp_path), [Ga4Connector], {"ga4": fake}) as rt:
        # Pin both sides' wall clocks to mid-hour, so the hourly window cannot roll over mid-test.
        mid_hour = 1_795_003_000.0 - 1_795_003_000.0 % 3600 + 1800
        fake._wall_anchor = mid_hour - fake.clock()
        wall = rt.registry.get("ga4").wall
        assert isinstance(wall, WallClock)
        wall._anchor_wall, wall._anchor_mono = mid_hour, rt.clock.now()
        usage = fake.state[PROPERTY].usage["core"]
        fake._windows(usage)
        usage.day_tokens = fake.limits.tokens_per_day
        with pytest.raises(ConnectorError) as info:
            await call(rt, "traffic_overview", {"days": 7})
        err = info.value
        assert err.kind is ErrorKind.RATE_LIMITED
        assert err.upstream_code == "RESOURCE_EXHAUSTED"
        assert "midnight Pacific" in err.message
        assert err.retry_after_s is not None and 0 < err.retry_after_s <= 24 * 3600
        sent = fake.stats["POST /v1beta/properties/412345678:runReport"]
        # Held back from now on: no request reaches the property until the window resets.
        with pytest.raises(ConnectorError) as again:
            await call(rt, "top_pages", {"days": 7})
        assert again.value.kind is ErrorKind.RATE_LIMITED and "nothing was sent" in again.value.message.lower()
        assert fake.stats["POST /v1beta/properties/412345678:runReport"] == sent


async def test_calls_are_held_back_before_the_hourly_tokens_run_out(tmp_path: Path) -> None:
    fake = Ga4Fake(properties=[PROPERTY])
    async with google_runtime(live_settings(tmp_path), [Ga4Connector], {"ga4": fake}) as rt:
        # Pin both sides' wall clocks to mid-hour, so the hourly window cannot roll over mid-test.
        mid_hour = 1_795_003_000.0 - 1_795_003_000.0 % 3600 + 1800
        fake._wall_anchor = mid_hour - fake.clock()
        wall = rt.registry.get("ga4").wall
        assert isinstance(wall, WallClock)
        wall._anchor_wall, wall._anchor_mono = mid_hour, rt.clock.now()
        usage = fake.state[PROPERTY].usage["core"]
        fake._windows(usage)
        usage.hour_tokens = usage.day_tokens = fake.limits.tokens_per_project_per_hour - 300  # 300 tokens left
        outcomes = []
        for i in range(400):
            try:  # a different report each time, so none is answered from the cache
                await rt.registry.get("ga4").call("run_report", {"metrics": "sessions", "days": 1 + i})
                outcomes.append("ok")
            except ConnectorError as err:
                outcomes.append(err.kind.value)
                if "nothing was sent" in err.message.lower():
                    break
    # Each report said what was left; the limiter stopped short of the end, keeping a floor, so the
    # property never answered RESOURCE_EXHAUSTED (which would have failed every caller of it).
    assert outcomes[-1] == "rate_limited"
    assert outcomes.count("ok") >= 50
    assert not fake.refused
    assert fake.limits.tokens_per_project_per_hour - usage.hour_tokens >= 100


async def test_hundred_concurrent_calls_with_an_expiring_token_refresh_once(tmp_path: Path) -> None:
    tokens = GoogleTokenFake(expires_in=3599)
    fake = Ga4Fake(properties=[PROPERTY], tokens=tokens, latency_s=0.05)
    async with google_runtime(live_settings(tmp_path), [Ga4Connector], {"ga4": fake}) as rt:
        await call(rt, "run_report", {"metrics": "sessions", "days": 1})
        assert tokens.grants["refresh_token"] == 1
        await asyncio.sleep(3599 - 120)  # the token now has two minutes left
        results = await asyncio.gather(
            *(call(rt, "run_report", {"metrics": "sessions", "days": 1 + i % 20}) for i in range(100)),
            return_exceptions=True,
        )
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert tokens.grants["refresh_token"] == 2  # exactly one refresh for the hundred
    assert tokens.rejected_bearer == 0  # renewed ahead of expiry, not after a 401


async def test_invalid_grant_is_unauthorized_with_remedy_and_no_secret(tmp_path: Path) -> None:
    tokens = GoogleTokenFake()
    tokens.add_client(DEMO_CLIENT_ID, CANARY_SECRET)
    fake = Ga4Fake(properties=[PROPERTY], tokens=tokens)
    settings = live_settings(tmp_path, refresh_token=CANARY_REFRESH, client_secret=CANARY_SECRET)
    async with google_runtime(settings, [Ga4Connector], {"ga4": fake}) as rt:
        with pytest.raises(ConnectorError) as info:
            await call(rt, "traffic_overview", {"days": 7})
        health = await rt.registry.get("ga4").health()
        counted = rt.metrics.counter_value("storelink_requests", connector="ga4", outcome="unauthorized")
    err = info.value
    assert err.kind is ErrorKind.UNAUTHORIZED
    assert err.connector == "ga4" and err.operation == "traffic_overview"
    assert "storelink auth google" in err.message
    shown = " ".join(
        [str(err), repr(err), json.dumps(err.envelope().model_dump(mode="json")), health.model_dump_json()]
    )
    assert CANARY_REFRESH not in shown and CANARY_SECRET not in shown
    assert health.status == "down" and health.error_kind is ErrorKind.UNAUTHORIZED
    assert tokens.refused["invalid_grant"] == 1  # marked: the probe did not ask again
    assert fake.stats.get("POST /v1beta/properties/412345678:runReport", 0) == 0
    assert counted is None or counted >= 1


async def test_expired_token_rejected_by_the_api_is_refreshed_once(tmp_path: Path) -> None:
    tokens = GoogleTokenFake()
    fake = Ga4Fake(properties=[PROPERTY], tokens=tokens, faults=FaultPlan.scripted("401"))
    async with google_runtime(live_settings(tmp_path), [Ga4Connector], {"ga4": fake}) as rt:
        envelope = await call(rt, "traffic_overview", {"days": 7})
    assert envelope.meta.attempts == 2
    assert tokens.grants["refresh_token"] == 2


async def test_under_20pct_5xx_in_flight_stays_at_10_and_errors_never_exhaust(tmp_path: Path) -> None:
    fake = Ga4Fake(
        properties=[PROPERTY],
        latency_s=0.2,
        faults=FaultPlan(rates={Fault.SERVER_ERROR: 0.2}, seed=11),
    )
    settings = live_settings(tmp_path, ga4=Ga4Knobs(rate_limit=50.0, rate_burst=50.0, deadline=60.0))
    async with google_runtime(settings, [Ga4Connector], {"ga4": fake}) as rt:
        results = await asyncio.gather(
            *(call(rt, "run_report", {"metrics": "sessions", "days": 1 + i % 30}) for i in range(150)),
            return_exceptions=True,
        )
        connector = rt.registry.get("ga4")
        assert isinstance(connector, Ga4Connector)
        left = connector.quota.server_errors_left()
    ok = [r for r in results if not isinstance(r, BaseException)]
    failed = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(f, ConnectorError) for f in failed)
    assert {f.kind for f in failed if isinstance(f, ConnectorError)} <= {ErrorKind.RATE_LIMITED, ErrorKind.UNAVAILABLE}
    assert fake.peak_in_flight <= 10
    assert fake.peak_in_flight >= 5  # the calls did run side by side
    assert fake.max_server_errors_in_an_hour(PROPERTY) < fake.limits.server_errors_per_hour
    assert "Exhausted server errors quota." not in fake.refused
    assert left >= 1
    assert len(ok) >= 10
