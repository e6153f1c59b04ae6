"""The Search Console fake's data: believable curves, and the signals planted for analytics are
there when looked for through the API's own aggregations."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from storelink.fakes.gsc import GscFake, _Analytics, expected_ctr

TODAY = dt.date(2026, 11, 24)
END = TODAY - dt.timedelta(days=3)


@pytest.fixture(scope="module")
def fake() -> GscFake:
    return GscFake(today=TODAY)


def rows(fake: GscFake, dims: list[str], days: int = 28, end: dt.date = END, **extra: Any) -> list[dict[str, Any]]:
    start = end - dt.timedelta(days=days - 1)
    body = {"startDate": start.isoformat(), "endDate": end.isoformat(), "dimensions": dims, **extra}
    return _Analytics(fake.traffic).rows(body)[0]


def by(rows_: list[dict[str, Any]]) -> dict[tuple[str, ...], dict[str, Any]]:
    return {tuple(r["keys"]): r for r in rows_}


def test_queries_are_about_the_store_and_pages_are_its_urls(fake: GscFake) -> None:
    titles = {p.title.lower() for p in fake.traffic.store.products}
    queries = {p.query for p in fake.traffic.pairs}
    assert len(fake.traffic.pairs) > 900
    assert len(titles & queries) > 200
    assert all(p.page.startswith("https://www.apexperformanceparts.example/") for p in fake.traffic.pairs)


def test_ctr_falls_with_position(fake: GscFake) -> None:
    curve = [expected_ctr(p) for p in (1, 2, 3, 5, 10, 15, 30)]
    assert curve == sorted(curve, reverse=True)
    found = rows(fake, ["query"])
    top = [r for r in found if r["position"] < 2 and r["impressions"] > 200]
    deep = [r for r in found if r["position"] > 20 and r["impressions"] > 200]
    assert sum(r["ctr"] for r in top) / len(top) > 5 * sum(r["ctr"] for r in deep) / len(deep)


def test_striking_distance_queries(fake: GscFake) -> None:
    found = by(rows(fake, ["query"]))
    for query in fake.signals.striking_distance:
        row = found[(query,)]
        assert 4 <= row["position"] <= 20, query
        assert row["impressions"] >= 1000, query


def test_queries_with_ctr_far_below_the_curve(fake: GscFake) -> None:
    found = by(rows(fake, ["query"]))
    for query in fake.signals.low_ctr:
        row = found[(query,)]
        assert row["position"] <= 3.5
        assert row["ctr"] < 0.35 * expected_ctr(row["position"]), query


def test_pages_losing_clicks_period_over_period(fake: GscFake) -> None:
    recent = by(rows(fake, ["page"], days=28))
    before = by(rows(fake, ["page"], days=28, end=END - dt.timedelta(days=28)))
    for page in fake.signals.declining_pages:
        assert recent[(page,)]["clicks"] < 0.7 * before[(page,)]["clicks"], page
    steady = [
        k for k in recent if k[0] not in fake.signals.declining_pages and before.get(k, {}).get("clicks", 0) > 200
    ]
    lost = sum(recent[k]["clicks"] < 0.7 * before[k]["clicks"] for k in steady)
    assert lost <= len(steady) // 10  # the planted pages stand out


def test_a_query_where_two_pages_compete(fake: GscFake) -> None:
    for query, (a, b) in fake.signals.cannibalised:
        daily = rows(
            fake,
            ["date", "page"],
            filters=None,
            dimensionFilterGroups=[{"filters": [{"dimension": "query", "operator": "equals", "expression": query}]}],
        )
        per_day: dict[str, dict[str, float]] = {}
        for r in daily:
            per_day.setdefault(r["keys"][0], {})[r["keys"][1]] = r["position"]
        days_a_ahead = sum(1 for d in per_day.values() if a in d and b in d and d[a] < d[b])
        days_b_ahead = sum(1 for d in per_day.values() if a in d and b in d and d[b] < d[a])
        assert days_a_ahead >= 5 and days_b_ahead >= 5  # they swap places
        totals = by(
            rows(
                fake,
                ["page"],
                dimensionFilterGroups=[
                    {"filters": [{"dimension": "query", "operator": "equals", "expression": query}]}
                ],
            )
        )
        assert 0.5 < totals[(a,)]["impressions"] / totals[(b,)]["impressions"] < 2


def test_splits_add_up(fake: GscFake) -> None:
    whole = rows(
        fake,
        ["query"],
        dimensionFilterGroups=[
            {"filters": [{"dimension": "query", "operator": "equals", "expression": "apex performance parts"}]}
        ],
    )[0]
    by_device = rows(
        fake,
        ["device"],
        dimensionFilterGroups=[
            {"filters": [{"dimension": "query", "operator": "equals", "expression": "apex performance parts"}]}
        ],
    )
    assert sum(r["impressions"] for r in by_device) == whole["impressions"]
    assert {r["keys"][0] for r in by_device} == {"MOBILE", "DESKTOP", "TABLET"}


def test_search_appearance_alone_then_as_a_filter(fake: GscFake) -> None:
    kinds = {r["keys"][0] for r in rows(fake, ["searchAppearance"])}
    assert kinds == {"PRODUCT_SNIPPETS", "MERCHANT_LISTINGS"}
    snippets = rows(
        fake,
        ["page"],
        dimensionFilterGroups=[
            {"filters": [{"dimension": "searchAppearance", "operator": "equals", "expression": "PRODUCT_SNIPPETS"}]}
        ],
    )
    assert snippets and all("/products/" in r["keys"][0] for r in snippets)


def test_deterministic(fake: GscFake) -> None:
    again = GscFake(today=TODAY)
    assert rows(fake, ["query"], days=7)[:50] == rows(again, ["query"], days=7)[:50]
