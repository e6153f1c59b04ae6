"""SEO opportunities over hand-built rows; every expected figure is worked out in the comments."""

from __future__ import annotations

import pytest

from storelink.insights.ctr_curve import expected_ctr
from storelink.insights.models import PageViews, SearchRow, SeoParams
from storelink.insights.seo import find_opportunities

P = SeoParams()  # min_impressions 100, striking 4–20, ctr_ratio 0.5, page drop 20 % from ≥ 10 clicks, share 10 %


def g(query: str | None, page: str | None, clicks: int, impressions: int, position: float) -> SearchRow:
    return SearchRow("gsc", query, page, clicks, impressions, position)


def test_curve_is_the_published_table_interpolated_and_decayed() -> None:
    assert expected_ctr(1) == pytest.approx(0.276)
    assert expected_ctr(3) == pytest.approx(0.110)
    assert expected_ctr(0.4) == pytest.approx(0.276)  # clamped to 1
    assert expected_ctr(4.5) == pytest.approx((0.084 + 0.063) / 2)  # 0.0735
    assert expected_ctr(10) == pytest.approx(0.024)
    assert expected_ctr(12) == pytest.approx(0.024 * 0.8 * 0.8)  # 0.01536


def test_no_data_finds_nothing() -> None:
    assert find_opportunities([], [], P) == []


def test_striking_distance_upside_is_clicks_at_position_three_minus_clicks() -> None:
    # 1000 impressions at position 8, 30 clicks: at position 3 → 1000 × 0.110 = 110 clicks; upside 80.
    found = find_opportunities([g("brake pads", "/c/brakes", 30, 1000, 8.0)], [], P)
    striking = [o for o in found if o.kind == "striking_distance"]
    assert len(striking) == 1
    assert striking[0].upside_clicks == pytest.approx(80.0)
    assert striking[0].current.ctr == pytest.approx(0.03)
    # Present only in the current period: no previous stats.
    assert striking[0].previous is None
    # CTR 3 % vs expected 3.3 % at position 8: not below half, so no low-CTR row.
    assert [o.kind for o in found] == ["striking_distance"]


def test_too_few_impressions_or_out_of_range_positions_are_ignored() -> None:
    rows = [g("rare", "/a", 0, 99, 8.0), g("far", "/b", 0, 500, 25.0), g("top", "/c", 150, 500, 2.0)]
    kinds = {(o.kind, o.query) for o in find_opportunities(rows, [], P)}
    # "rare": 99 < 100 impressions. "far": position 25 > 20 and expected CTR there is tiny (> 0 though):
    # low CTR needs position ≤ 20, so nothing. "top": position 2 and CTR 30 % > 15.8 % expected.
    assert kinds == set()


def test_low_ctr_against_expected_at_position() -> None:
    # Position 2, 1000 impressions, 50 clicks: CTR 5 % < 0.5 × 15.8 % = 7.9 %; upside = 158 − 50 = 108.
    found = find_opportunities([g("coilovers", "/p/coil", 50, 1000, 2.0)], [], P)
    assert [(o.kind, o.upside_clicks) for o in found] == [("low_ctr", 108.0)]
    assert found[0].expected_ctr == pytest.approx(0.158)


def test_query_weighted_position_across_pages_and_cannibalisation() -> None:
    # Two pages for one query: 600 impr. at pos 5 (12 clicks) and 400 at pos 10 (4 clicks).
    # Query: 1000 impressions, 16 clicks, position (600×5 + 400×10)/1000 = 7.0.
    # Cannibalisation: both pages ≥ 10 % of impressions; best position 5 → 1000 × 0.063 − 16 = 47.
    # Striking distance: 1000 × 0.110 − 16 = 94. Low CTR: 1.6 % vs 0.5 × 3.9 % = 1.95 % → yes, 39 − 16 = 23.
    rows = [g("big brake kit", "/p/kit", 12, 600, 5.0), g("big brake kit", "/c/brakes", 4, 400, 10.0)]
    found = find_opportunities(rows, [], P)
    assert [(o.kind, o.upside_clicks) for o in found] == [
        ("striking_distance", 94.0),
        ("cannibalisation", 47.0),
        ("low_ctr", 23.0),
    ]
    assert found[0].current.position == pytest.approx(7.0)
    assert found[1].pages == ["/p/kit", "/c/brakes"]  # largest share first


def test_a_minor_second_page_is_not_cannibalisation() -> None:
    # The second page has 50 of 1050 impressions (4.8 % < 10 %).
    rows = [g("q", "/a", 300, 1000, 1.0), g("q", "/b", 0, 50, 30.0)]
    assert all(o.kind != "cannibalisation" for o in find_opportunities(rows, [], P))


def test_losing_pages_including_a_page_absent_now() -> None:
    before = [g("x", "/fall", 100, 2000, 3.0), g("y", "/gone", 40, 500, 4.0), g("z", "/steady", 50, 600, 3.0)]
    now = [g("x", "/fall", 70, 2000, 3.5), g("z", "/steady", 45, 600, 3.0)]
    losing = [o for o in find_opportunities(now, before, P) if o.kind == "losing_page"]
    # /fall: 100 → 70 (−30 %) upside 30. /gone: 40 → 0 (absent now) upside 40. /steady: −10 % < 20 %.
    assert [(o.pages, o.upside_clicks) for o in losing] == [(["/gone"], 40.0), (["/fall"], 30.0)]
    assert losing[0].current.impressions == 0 and losing[0].current.position is None
    assert losing[1].previous is not None and losing[1].previous.clicks == 100


def test_bing_rows_stay_separate_from_google() -> None:
    # The same query on both engines: each judged alone (Bing rows have no page).
    rows = [g("oil filters", "/c/oil", 10, 500, 9.0), SearchRow("bing", "oil filters", None, 5, 300, 9.0)]
    striking = [(o.source, o.upside_clicks) for o in find_opportunities(rows, [], P) if o.kind == "striking_distance"]
    # gsc: 500 × 0.11 − 10 = 45; bing: 300 × 0.11 − 5 = 28.
    assert striking == [("gsc", 45.0), ("bing", 28.0)]


def test_one_day_of_data_works_like_any_period() -> None:
    found = find_opportunities([g("q", "/a", 1, 100, 15.0)], [g("q", "/a", 0, 0, 0.0)], P)
    # 100 × 0.11 − 1 = 10 upside; the previous row had no impressions, so no position.
    assert found[0].upside_clicks == pytest.approx(10.0)
    assert found[0].previous is not None and found[0].previous.position is None


def test_losing_pages_carry_ga4_views_by_path() -> None:
    # Absolute GSC URL → path "/p/kit"; views are attached as given. The other page has no GA4 row.
    before = [g("x", "https://shop.example/p/kit", 50, 900, 3.0), g("y", "https://shop.example/", 20, 300, 2.0)]
    views = {"/p/kit": PageViews(previous=400, current=390)}
    losing = [o for o in find_opportunities([], before, P, views) if o.kind == "losing_page"]
    assert [(o.pages[0], o.page_views) for o in losing] == [
        ("https://shop.example/p/kit", PageViews(previous=400, current=390)),
        ("https://shop.example/", None),
    ]
