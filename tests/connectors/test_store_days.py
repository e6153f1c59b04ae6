"""Mock mode on the days that break a UTC or host-clock reading of "today": a year boundary just after
midnight UTC, the shop's own midnight, a leap day and a daylight-saving change. Each runtime gets a
pinned wall clock and no STORELINK_DEMO_TODAY, so the demo store, the fakes and the connectors all
take their day from that one clock, as a real deployment does from the real one."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from storelink.clock import LoopClock
from storelink.connectors.ga4.client import Ga4Connector
from storelink.connectors.gsc.client import GscConnector
from storelink.connectors.shopify.client import ShopifyConnector
from storelink.fakes.data import demo_store
from storelink.observability.metrics import Metrics
from storelink.runtime import open_runtime
from storelink.store import EmbeddedStore
from storelink.store_calendar import WallClock
from tests.conftest import make_settings

NEW_YORK = ZoneInfo("America/New_York")  # the demo shop's ianaTimezone
PACIFIC = ZoneInfo("America/Los_Angeles")

# (the instant, the shop's today, Search Console's today)
INSTANTS = {
    "new-year-00:30-utc": ("2027-01-01T00:30:00+00:00", dt.date(2026, 12, 31), dt.date(2026, 12, 31)),
    "shop-midnight": ("2027-01-01T05:30:00+00:00", dt.date(2027, 1, 1), dt.date(2026, 12, 31)),
    "leap-day": ("2028-02-29T23:30:00+00:00", dt.date(2028, 2, 29), dt.date(2028, 2, 29)),
    "after-dst-ends": ("2026-11-02T04:30:00+00:00", dt.date(2026, 11, 1), dt.date(2026, 11, 1)),
}


def orders_by_shop_day(today: dt.date) -> Counter[dt.date]:
    return Counter(o.created_at.astimezone(NEW_YORK).date() for o in demo_store(today).orders)


@pytest.mark.parametrize("name", list(INSTANTS))
async def test_yesterday_and_last_days_follow_the_shops_zone(tmp_path: Path, name: str) -> None:
    instant, shop_today, google_today = INSTANTS[name]
    wall = WallClock(LoopClock(), anchor=dt.datetime.fromisoformat(instant).timestamp())
    settings = make_settings(tmp_path, demo_today=None)
    async with open_runtime(
        settings,
        connectors=[ShopifyConnector, GscConnector, Ga4Connector],
        metrics=Metrics(),
        store=EmbeddedStore(None),
        wall=wall,
    ) as rt:
        shopify = rt.registry.get("shopify")
        assert isinstance(shopify, ShopifyConnector)
        assert (await shopify.calendar()).today() == shop_today
        yesterday = (await shopify.call("sales_summary", {"days": 1})).data
        day_before = shop_today - dt.timedelta(days=1)
        day = day_before.isoformat()
        listed = (await shopify.call("list_orders", {"created_from": day, "created_to": day, "limit": 250})).data
        week = (await shopify.call("sales_summary", {"days": 7})).data
        gsc = rt.registry.get("gsc")
        assert isinstance(gsc, GscConnector) and gsc.today() == google_today
        search = (await gsc.call("search_analytics", {"days": 28, "dimensions": "query", "row_limit": 50})).data
        traffic = (await rt.registry.get("ga4").call("traffic_overview", {"days": 7})).data

    expected = orders_by_shop_day(shop_today)
    assert (yesterday.start, yesterday.end) == (day_before, day_before)
    assert yesterday.totals.orders == expected[day_before] > 0
    # A day range in list_orders is the shop's day too.
    assert len(listed.items) == min(expected[day_before], 250) and not listed.next_cursor
    assert {o.created_at.astimezone(NEW_YORK).date() for o in listed.items} == {day_before}
    assert [d.date for d in week.days][-1] == day_before and len(week.days) == 7
    assert [d.orders for d in week.days] == [expected[d.date] for d in week.days]
    # Search Console: final data ends three Pacific days back, and the fake has rows for it.
    assert search.end_date == google_today - dt.timedelta(days=3)
    assert search.rows and search.rows[0].clicks > 0
    # GA4 resolves "yesterday" in the property's zone (the shop's): the last day is the shop's yesterday.
    assert traffic.end == day_before and traffic.totals is not None and traffic.totals.sessions > 0


async def test_a_pinned_demo_day_holds_whatever_the_real_date(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, demo_today=dt.date(2026, 11, 24))
    async with open_runtime(
        settings, connectors=[ShopifyConnector], metrics=Metrics(), store=EmbeddedStore(None)
    ) as rt:
        shopify = rt.registry.get("shopify")
        assert isinstance(shopify, ShopifyConnector)
        summary = (await shopify.call("sales_summary", {"days": 1})).data
    assert summary.end == dt.date(2026, 11, 23)
    assert summary.totals.orders == orders_by_shop_day(dt.date(2026, 11, 24))[dt.date(2026, 11, 23)] > 0
