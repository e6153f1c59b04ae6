"""Recommendations over hand-built orders; expected figures worked out in the comments."""

from __future__ import annotations

import datetime as dt

import pytest

from storelink.insights.models import OrderLine, ProductViews, RecommendationParams
from storelink.insights.recommendations import recommend

AS_OF = dt.date(2026, 11, 25)
P = RecommendationParams(days=10, min_units=3, min_pair_orders=2, min_views=100, limit=10)


def day(n: int) -> dt.date:
    return AS_OF - dt.timedelta(days=n)


def line(order: str, product: str, qty: int = 1, price: float = 10.0, ago: int = 1) -> OrderLine:
    return OrderLine(order, day(ago), product, product.upper(), qty, qty * price)


def test_no_data() -> None:
    r = recommend([], [], as_of=AS_OF, params=P)
    assert (r.orders, r.top_sellers, r.rising, r.bought_together, r.viewed_not_bought) == (0, [], [], [], [])
    assert r.current_period == (day(9), AS_OF)


def test_top_sellers_by_revenue_and_rising_with_minimum_volume() -> None:
    lines = [
        line("o1", "a", 2, 50.0),  # a: 2 units, 100 revenue now; 0 before
        line("o2", "b", 5, 4.0),  # b: 5 units, 20 revenue now; 1 before (day 12, previous period)
        line("p1", "b", 1, 4.0, ago=12),
        line("o3", "c", 3, 10.0),  # c: 3 units now, 6 before → falling
        line("p2", "c", 6, 10.0, ago=15),
        line("old", "a", 9, 50.0, ago=25),  # older than both periods: ignored
    ]
    r = recommend(lines, [], as_of=AS_OF, params=P)
    assert [(p.product_id, p.revenue) for p in r.top_sellers] == [("a", 100.0), ("c", 30.0), ("b", 20.0)]
    # Rising needs ≥ 3 units now and more than before: a has 2 (too few), c fell, b: (5+1)/(1+1) − 1 = 2.0.
    assert [(p.product_id, p.units, p.previous_units, p.growth) for p in r.rising] == [("b", 5, 1, 2.0)]


def test_a_product_present_only_in_the_current_period_rises_with_smoothing() -> None:
    # 4 units now, none before: (4+1)/(0+1) − 1 = 4.0.
    r = recommend([line("o1", "n", 4)], [], as_of=AS_OF, params=P)
    assert r.rising[0].growth == pytest.approx(4.0)


def test_bought_together_support_confidence_lift() -> None:
    # 5 orders: {a,b} {a,b} {a,c} {b} {d}. n=5, n(a)=3, n(b)=3, n(ab)=2.
    # support 2/5 = 0.4; confidence a→b = 2/3 (equal both ways; A is the first by id); lift 2·5/(3·3) = 1.111.
    # {a,c} shares only one order < min 2: left out.
    lines = [
        line("1", "a"),
        line("1", "b"),
        line("2", "a"),
        line("2", "b"),
        line("3", "a"),
        line("3", "c"),
        line("4", "b"),
        line("5", "d"),
    ]
    r = recommend(lines, [], as_of=AS_OF, params=P)
    assert r.orders == 5
    (pair,) = r.bought_together
    assert (pair.product_a, pair.product_b, pair.orders_together) == ("A", "B", 2)
    assert pair.support == pytest.approx(0.4)
    assert pair.confidence == pytest.approx(0.6667)
    assert pair.lift == pytest.approx(1.111)


def test_confidence_direction_takes_the_stronger_rule() -> None:
    # 4 orders: {a,b} {a,b} {b} {b}: n(a)=2, n(b)=4. a→b = 2/2 = 1.0 beats b→a = 0.5; lift 2·4/(2·4) = 1.
    lines = [line("1", "a"), line("1", "b"), line("2", "a"), line("2", "b"), line("3", "b"), line("4", "b")]
    (pair,) = recommend(lines, [], as_of=AS_OF, params=P).bought_together
    assert (pair.product_a, pair.confidence, pair.lift) == ("A", 1.0, 1.0)


def test_viewed_not_bought_against_the_store_average() -> None:
    # Views: a 1000 (10 orders), b 1000 (1 order), c 50 (0 orders, below min_views).
    # Average conversion = (10 + 1 + 0) / 2050 = 0.005366; half = 0.002683. b: 1/1000 = 0.001 < half → listed,
    # expected 1000 × 0.005366 = 5.4 orders. a: 0.01 ≥ half → not listed.
    lines = [line(f"a{i}", "a") for i in range(10)] + [line("b0", "b")]
    views = [ProductViews("a", "A", 1000), ProductViews("b", "B", 1000), ProductViews("c", "C", 50)]
    r = recommend(lines, views, as_of=AS_OF, params=P)
    assert [(v.product_id, v.orders, v.conversion, v.expected_orders) for v in r.viewed_not_bought] == [
        ("b", 1, 0.001, 5.4)
    ]


def test_one_day_of_data_and_limit() -> None:
    lines = [line(f"o{i}", f"p{i}", 1, float(i), ago=0) for i in range(1, 16)]
    r = recommend(lines, [], as_of=AS_OF, params=P)
    assert r.orders == 15
    assert [p.product_id for p in r.top_sellers] == [f"p{i}" for i in range(15, 5, -1)]  # 10 most revenue
