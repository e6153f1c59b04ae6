"""The Search Console fake's data: believable curves, and the signals planted for analytics are
there when looked for through the API's own aggregations."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from storelink.fakes.gsc import GscFake, expected_ctr
from storelink.fakes.gsc.analytics import _Analytics

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


# -- bounded queries: the top rows only, off the event loop -------------------------------------------


@pytest.mark.parametrize(
    "dims",
    [["query"], ["date", "query", "page"], ["query", "page", "country", "device", "date"], ["device", "country"]],
)
@pytest.mark.parametrize("k", [1, 10, 500])
def test_the_top_k_are_the_first_k_of_all_rows(fake: GscFake, dims: list[str], k: int) -> None:
    start = END - dt.timedelta(days=6)
    body = {"startDate": start.isoformat(), "endDate": END.isoformat(), "dimensions": dims}
    everything = _Analytics(fake.traffic).rows(body)[0]
    top = _Analytics(fake.traffic, slack=0).top(body, k)  # trims at every unit: the walk stops early
    assert top.rows() == everything[:k]
    assert top.complete == (len(everything) <= k)


def test_a_long_five_dimension_query_holds_only_its_top_rows(fake: GscFake) -> None:
    """The issue's query (486 days, five dimensions: 1.8 M rows in all) asked for its top 2,000:
    only those are built, and the walk stops long before the last unit."""
    start = END - dt.timedelta(days=485)
    body = {
        "startDate": start.isoformat(),
        "endDate": END.isoformat(),
        "dimensions": ["query", "page", "country", "device", "date"],
    }
    top = _Analytics(fake.traffic).top(body, 2_000)
    assert len(top.found) == 2_000 and not top.complete
    clicks = [r["clicks"] for r in top.rows()]
    assert clicks == sorted(clicks, reverse=True) and clicks[0] > clicks[-1]


def test_a_computation_stops_when_its_request_goes(fake: GscFake) -> None:
    from storelink.fakes.gsc.analytics import _Stopped

    body = {"startDate": "2026-01-01", "endDate": END.isoformat(), "dimensions": ["query", "date"]}
    with pytest.raises(_Stopped):
        _Analytics(fake.traffic).top(body, 10, lambda: True)


async def test_a_heavy_query_is_computed_and_encoded_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """The top-rows computation and the page's JSON encoding (seconds of CPU for a five-dimension
    query) run in worker threads, never on the loop the fake shares with the server in mock mode.
    Checked by where they run, not by timing the loop: that would be a timing assertion."""
    import threading

    import httpx2

    from storelink.fakes.google_auth import GoogleTokenFake
    from storelink.fakes.gsc import app as gsc_app  # where the route looks _encode_page up

    tokens = GoogleTokenFake()
    gsc = GscFake(today=TODAY, tokens=tokens)
    token = tokens.issue(["https://www.googleapis.com/auth/webmasters.readonly"])
    ran_on: dict[str, int] = {}
    top, encode = gsc._analytics.top, gsc_app._encode_page

    def spy_top(*args: Any) -> Any:
        ran_on["top"] = threading.get_ident()
        return top(*args)

    def spy_encode(*args: Any) -> Any:
        ran_on["encode"] = threading.get_ident()
        return encode(*args)

    monkeypatch.setattr(gsc._analytics, "top", spy_top)
    monkeypatch.setattr(gsc_app, "_encode_page", spy_encode)
    body = {
        "startDate": (END - dt.timedelta(days=6)).isoformat(),
        "endDate": END.isoformat(),
        "dimensions": ["query", "page", "country", "device", "date"],
        "rowLimit": 1_000,
    }
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=gsc.app), base_url="https://gsc.test") as client:
        response = await client.post(
            "/webmasters/v3/sites/sc-domain%3Aapexperformanceparts.example/searchAnalytics/query",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        )
    loop_thread = threading.get_ident()
    assert response.status_code == 200, response.text
    assert len(response.json()["rows"]) == 1_000
    assert set(ran_on) == {"top", "encode"}
    assert loop_thread not in ran_on.values(), "heavy work ran on the event loop's thread"
