"""The GA4 fake's traffic agrees with the demo store (orders, products) and carries the planted
signals; integer splits always add up."""

from __future__ import annotations

from collections import Counter, defaultdict
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storelink.fakes.data import demo_store
from storelink.fakes.ga4 import Ga4Fake, apportion
from storelink.fakes.ga4.reports import _Reporter


@pytest.fixture(scope="module")
def fake() -> Ga4Fake:
    return Ga4Fake()


def report(fake: Ga4Fake, dims: list[str], metrics: list[str], days: int = 28, **extra: Any) -> list[Any]:
    body = {
        "dateRanges": [{"startDate": f"{days}daysAgo", "endDate": "yesterday"}],
        "dimensions": [{"name": d} for d in dims],
        "metrics": [{"name": m} for m in metrics],
        "limit": "250000",
        **extra,
    }
    answer, _ = _Reporter(fake.traffic, fake.wall).run_report(body)
    return [
        (tuple(v["value"] for v in r["dimensionValues"]), tuple(float(v["value"]) for v in r["metricValues"]))
        for r in answer.get("rows", [])
    ]


@given(st.integers(0, 10_000), st.lists(st.floats(0.01, 100), min_size=1, max_size=40))
def test_apportion_adds_up_and_stays_proportional(total: int, weights: list[float]) -> None:
    parts = apportion(total, weights)
    assert sum(parts) == total and all(p >= 0 for p in parts)
    mass = sum(weights)
    assert all(abs(p - total * w / mass) < 1 for p, w in zip(parts, weights, strict=True))


def test_transactions_and_revenue_per_day_are_the_orders(fake: Ga4Fake) -> None:
    store = demo_store()
    zone = ZoneInfo(store.shop.timezone)
    orders: Counter[str] = Counter()
    revenue: dict[str, Decimal] = defaultdict(Decimal)
    for order in store.orders:
        day = order.created_at.astimezone(zone).strftime("%Y%m%d")
        orders[day] += 1
        revenue[day] += order.current_total_price
    for (day,), (tx, money) in report(fake, ["date"], ["transactions", "totalRevenue"], days=60):
        assert tx == orders[day]
        assert money == pytest.approx(float(revenue[day]), abs=0.01)


def test_splits_add_up_to_the_day(fake: Ga4Fake) -> None:
    whole = {k[0]: v for k, v in report(fake, ["date"], ["sessions", "transactions"])}
    split: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for (day, _, _), (sessions, tx) in report(
        fake, ["date", "sessionDefaultChannelGroup", "deviceCategory"], ["sessions", "transactions"]
    ):
        split[day][0] += sessions
        split[day][1] += tx
    assert dict(split) == {d: list(v) for d, v in whole.items()}


def test_country_split_of_transactions_is_the_orders_shipping_country(fake: Ga4Fake) -> None:
    store = demo_store()
    year = dict(report(fake, ["country"], ["transactions"], days=365))
    shipped = Counter(o.ship_to.country_code for o in store.orders)
    assert year[("United States",)][0] == pytest.approx(shipped["US"], abs=shipped["US"] * 0.01)
    assert year[("Canada",)][0] == pytest.approx(shipped["CA"], abs=10)


def test_item_purchases_are_the_units_sold(fake: Ga4Fake) -> None:
    store = demo_store()
    units: Counter[str] = Counter()
    zone = ZoneInfo(store.shop.timezone)
    first = fake.traffic.first_day
    for order in store.orders:
        if first <= order.created_at.astimezone(zone).date() < store.today:
            for line in order.line_items:
                units[str(line.product_id)] += line.quantity
    bought = {k[0]: v[0] for k, v in report(fake, ["itemId"], ["itemsPurchased"], days=365)}
    assert {k: v for k, v in bought.items() if v} == {k: float(v) for k, v in units.items()}


def test_viewed_but_not_bought_products_stand_out(fake: Ga4Fake) -> None:
    rows = {k[0]: v for k, v in report(fake, ["itemId"], ["itemsViewed", "itemsPurchased"], days=90)}
    planted = [str(pid) for pid in fake.signals.viewed_not_bought]
    assert len(planted) >= 3
    views = sorted((v[0] for v in rows.values()), reverse=True)
    for pid in planted:
        viewed, purchased = rows[pid]
        assert viewed >= views[len(views) // 10]  # in the top tenth by views
        assert purchased <= viewed * 0.002


def test_channels_convert_differently_and_revenue_follows_orders(fake: Ga4Fake) -> None:
    rows = {k[0]: v for k, v in report(fake, ["sessionDefaultChannelGroup"], ["sessions", "keyEvents", "totalRevenue"])}
    email, social = rows["Email"], rows["Organic Social"]
    assert email[1] / email[0] > 2 * social[1] / social[0]
    total = sum(v[2] for v in rows.values())
    assert total == pytest.approx(sum(v for _, (v,) in report(fake, ["date"], ["totalRevenue"])), rel=1e-6)


def test_metric_filter_and_ordering(fake: Ga4Fake) -> None:
    flt = {
        "filter": {
            "fieldName": "screenPageViews",
            "numericFilter": {"operation": "GREATER_THAN", "value": {"int64Value": "1000"}},
        }
    }
    rows = report(
        fake,
        ["pagePath"],
        ["screenPageViews"],
        metricFilter=flt,
        orderBys=[{"metric": {"metricName": "screenPageViews"}, "desc": True}],
    )
    views = [v[0] for _, v in rows]
    assert views and min(views) > 1000 and views == sorted(views, reverse=True)
