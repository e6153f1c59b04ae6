"""SEO opportunities from Search Console and Bing rows over two periods.

Four kinds (thresholds in :class:`SeoParams`):

- striking distance: a query's average position is in [min_position, max_position] with at least
  ``min_impressions``; upside = impressions × expected CTR at position 3 − clicks.
- low CTR: position ≤ max_position, enough impressions, CTR < ``ctr_ratio`` × expected CTR at its
  position; upside = impressions × expected CTR − clicks.
- losing page: a page's clicks fell by ≥ ``min_page_drop`` from ≥ ``min_page_clicks``; upside = the
  clicks lost.
- cannibalisation: ≥ 2 pages each with ≥ ``min_share`` of a query's impressions (sources with pages
  only); upside = impressions × expected CTR at the best page's position − clicks.

Rows are keyed per source: Google and Bing are separate markets, so their rows are never summed.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from storelink.connectors.bing import models as bing_m
from storelink.connectors.gsc import models as gsc_m
from storelink.errors import ConnectorError
from storelink.insights.ctr_curve import expected_ctr
from storelink.insights.models import PageViews, PeriodStats, SearchRow, SeoKind, SeoOpportunity, SeoParams, SeoResult
from storelink.insights.ranking import per_kind
from storelink.insights.sources import InsightSources
from storelink.store_calendar import PACIFIC, StoreCalendar, WallClock

TARGET_POSITION = 3.0  # striking distance: what reaching the top three would be worth


@dataclass
class _Acc:
    clicks: int = 0
    impressions: int = 0
    weighted_position: float = 0.0
    pages: dict[str, _Acc] = field(default_factory=dict)

    def add(self, row: SearchRow) -> None:
        self.clicks += row.clicks
        self.impressions += row.impressions
        self.weighted_position += row.position * row.impressions

    def stats(self) -> PeriodStats:
        return PeriodStats(
            clicks=self.clicks,
            impressions=self.impressions,
            ctr=self.clicks / self.impressions if self.impressions else 0.0,
            position=self.weighted_position / self.impressions if self.impressions else None,
        )


def _by_query(rows: Iterable[SearchRow]) -> dict[tuple[str, str], _Acc]:
    out: dict[tuple[str, str], _Acc] = defaultdict(_Acc)
    for row in rows:
        if row.query is None:
            continue
        acc = out[(row.source, row.query)]
        acc.add(row)
        if row.page is not None:
            acc.pages.setdefault(row.page, _Acc()).add(row)
    return out


def _by_page(rows: Iterable[SearchRow]) -> dict[tuple[str, str], _Acc]:
    out: dict[tuple[str, str], _Acc] = defaultdict(_Acc)
    for row in rows:
        if row.page is not None:
            out[(row.source, row.page)].add(row)
    return out


def _pct(x: float) -> str:
    return f"{x * 100:.1f} %"


def find_opportunities(
    current: Iterable[SearchRow],
    previous: Iterable[SearchRow],
    params: SeoParams,
    page_views: Mapping[str, PageViews] | None = None,
) -> list[SeoOpportunity]:
    """Every opportunity in the two periods, largest estimated click upside first (not truncated).

    ``page_views`` (GA4, by URL path) is attached to losing pages: it tells a ranking loss (views
    steady, search clicks down) from a fall in demand (both down)."""
    current, previous = list(current), list(previous)
    out: list[SeoOpportunity] = []
    q_now, q_before = _by_query(current), _by_query(previous)

    def row(kind: SeoKind, key: tuple[str, str], acc: _Acc, before: _Acc | None, **kw: object) -> SeoOpportunity:
        stats = acc.stats()
        return SeoOpportunity(
            kind=kind,
            source=key[0],
            current=stats,
            previous=before.stats() if before is not None else None,
            expected_ctr=expected_ctr(stats.position) if stats.position is not None else None,
            **kw,
        )

    for key, acc in q_now.items():
        stats = acc.stats()
        if stats.position is None or acc.impressions < params.min_impressions:
            continue
        before = q_before.get(key)
        pos = stats.position
        if params.min_position <= pos <= params.max_position:
            upside = acc.impressions * expected_ctr(TARGET_POSITION) - acc.clicks
            if upside > 0:
                why = (
                    f"average position {pos:.1f} with {acc.impressions} impressions; "
                    f"at position {TARGET_POSITION:.0f} the expected CTR is {_pct(expected_ctr(TARGET_POSITION))}"
                )
                out.append(
                    row(
                        "striking_distance",
                        key,
                        acc,
                        before,
                        query=key[1],
                        pages=sorted(acc.pages),
                        upside_clicks=round(upside, 1),
                        why=why,
                    )
                )
        expected = expected_ctr(pos)
        if pos <= params.max_position and stats.ctr < params.ctr_ratio * expected:
            why = f"CTR {_pct(stats.ctr)} against {_pct(expected)} expected at position {pos:.1f}"
            out.append(
                row(
                    "low_ctr",
                    key,
                    acc,
                    before,
                    query=key[1],
                    pages=sorted(acc.pages),
                    upside_clicks=round(acc.impressions * expected - acc.clicks, 1),
                    why=why,
                )
            )
        floor = params.min_share * acc.impressions
        competing = {p: a for p, a in acc.pages.items() if a.impressions >= floor}
        if len(competing) >= 2:
            best = min(a.weighted_position / a.impressions for a in competing.values())
            upside = acc.impressions * expected_ctr(best) - acc.clicks
            why = f"{len(competing)} pages share the query's impressions; the best sits at position {best:.1f}"
            out.append(
                row(
                    "cannibalisation",
                    key,
                    acc,
                    before,
                    query=key[1],
                    pages=sorted(competing, key=lambda p: -competing[p].impressions),
                    upside_clicks=round(max(upside, 0.0), 1),
                    why=why,
                )
            )

    p_now, p_before = _by_page(current), _by_page(previous)
    for key, before_acc in p_before.items():
        if before_acc.clicks < params.min_page_clicks:
            continue
        acc = p_now.get(key, _Acc())
        lost = before_acc.clicks - acc.clicks
        if lost >= params.min_page_drop * before_acc.clicks:
            why = f"clicks fell from {before_acc.clicks} to {acc.clicks} ({_pct(lost / before_acc.clicks)})"
            views = (page_views or {}).get(urlsplit(key[1]).path or "/")
            out.append(
                row(
                    "losing_page",
                    key,
                    acc,
                    before_acc,
                    query=None,
                    pages=[key[1]],
                    upside_clicks=float(lost),
                    why=why,
                    page_views=views,
                )
            )
    out.sort(key=lambda o: (-o.upside_clicks, o.kind, o.query or "", o.pages))
    return out


# -- gathering ---------------------------------------------------------------------------------------------

GSC_ROW_LIMIT = 25_000  # one request's worth of query × page rows per period
BING_ROW_LIMIT = 5_000
GA4_ROW_LIMIT = 20_000


def _gsc_rows(rows: Iterable[gsc_m.SearchRow]) -> list[SearchRow]:
    return [
        SearchRow("gsc", r.keys.get("query"), r.keys.get("page"), r.clicks, r.impressions, r.position) for r in rows
    ]


def _search_console_today(sources: InsightSources) -> dt.date:
    """Today as Search Console counts days (Pacific), on its connector's wall clock."""
    try:
        wall = sources.registry.get("gsc").wall
    except ConnectorError:
        wall = WallClock(sources.clock)
    return StoreCalendar(wall, PACIFIC).today()


async def _gsc(
    sources: InsightSources, days: int
) -> tuple[list[SearchRow], list[SearchRow], tuple[dt.date, dt.date], tuple[dt.date, dt.date]]:
    gsc = sources.registry.get("gsc")
    base = {"dimensions": "query,page", "row_limit": GSC_ROW_LIMIT}
    now = (await gsc.call("search_analytics", {**base, "days": days})).data
    prev_end = now.start_date - dt.timedelta(days=1)
    prev_start = prev_end - dt.timedelta(days=days - 1)
    before = (await gsc.call("search_analytics", {**base, "start_date": prev_start, "end_date": prev_end})).data
    return _gsc_rows(now.rows), _gsc_rows(before.rows), (now.start_date, now.end_date), (prev_start, prev_end)


def _bing_rows(page: bing_m.KeyStatsPage) -> list[SearchRow]:
    out = []
    for item in page.items:
        if item.avg_impression_position is None and item.impressions:
            continue  # impressions without a position cannot be judged
        position = item.avg_impression_position or 0.0
        if page.kind == "query":
            out.append(SearchRow("bing", item.key, None, item.clicks, item.impressions, position))
        else:
            out.append(SearchRow("bing", None, item.key, item.clicks, item.impressions, position))
    return out


async def _bing(
    sources: InsightSources, current: tuple[dt.date, dt.date], previous: tuple[dt.date, dt.date]
) -> tuple[list[SearchRow], list[SearchRow]]:
    """Bing keeps weekly buckets; a week belongs to the period that holds its date."""
    bing = sources.registry.get("bing")
    out: list[list[SearchRow]] = []
    for start, end in (current, previous):
        rows: list[SearchRow] = []
        for op in ("query_stats", "page_stats"):
            params = {"start": start, "end": end, "aggregate": True, "order_by": "impressions", "limit": BING_ROW_LIMIT}
            rows += _bing_rows((await bing.call(op, params)).data)
        out.append(rows)
    return out[0], out[1]


async def _ga4_views(
    sources: InsightSources, current: tuple[dt.date, dt.date], previous: tuple[dt.date, dt.date], notes: list[str]
) -> dict[str, PageViews] | None:
    """GA4 page views per path for both periods (all channels: GA4 cannot split page views by the
    session's channel), or None with a note when GA4 is off or fails."""
    ranges = [
        {"start_date": start.isoformat(), "end_date": end.isoformat(), "name": name}
        for name, (start, end) in (("current", current), ("previous", previous))
    ]
    params = {"dimensions": "pagePath", "metrics": "screenPageViews", "date_ranges": ranges, "limit": GA4_ROW_LIMIT}
    try:
        report = (await sources.registry.get("ga4").call("run_report", params)).data
    except ConnectorError as err:
        notes.append(f"GA4 skipped ({err.kind}): {err.message} Losing pages carry no page views.")
        return None
    found: dict[str, dict[str, int]] = defaultdict(dict)
    for r in report.rows:
        found[r.dimensions.get("pagePath", "")][r.dimensions.get("dateRange", "")] = int(
            r.metrics.get("screenPageViews", 0)
        )
    return {path: PageViews(previous=v.get("previous", 0), current=v.get("current", 0)) for path, v in found.items()}


async def gather_seo(sources: InsightSources, params: SeoParams) -> SeoResult:
    """Read Search Console and Bing for two periods and find the opportunities.

    Either source may fail or be off: the other still counts, and ``notes`` says what was missing.
    With neither, the first error is raised."""
    notes: list[str] = []
    errors: list[ConnectorError] = []
    current: list[SearchRow] = []
    previous: list[SearchRow] = []
    end = _search_console_today(sources) - dt.timedelta(days=3)
    cur_period = (end - dt.timedelta(days=params.days - 1), end)
    prev_period = (cur_period[0] - dt.timedelta(days=params.days), cur_period[0] - dt.timedelta(days=1))
    try:
        now, before, cur_period, prev_period = await _gsc(sources, params.days)
        current += now
        previous += before
    except ConnectorError as err:
        errors.append(err)
        notes.append(f"Google Search Console skipped ({err.kind}): {err.message}")
    try:
        now, before = await _bing(sources, cur_period, prev_period)
        current += now
        previous += before
    except ConnectorError as err:
        errors.append(err)
        notes.append(f"Bing Webmaster Tools skipped ({err.kind}): {err.message}")
    if len(errors) == 2:
        raise ConnectorError(errors[0].kind, "No search source answered. " + " ".join(notes))
    views = await _ga4_views(sources, cur_period, prev_period, notes)
    notes.append(
        "Expected CTR: Backlinko 2023 organic CTR study (industry average, positions 1–10), "
        "extrapolated −20 % per position beyond 10."
    )
    found = find_opportunities(current, previous, params, views)
    rows, counts, truncated = per_kind(found, params.limit)
    return SeoResult(
        current_period=cur_period,
        previous_period=prev_period,
        rows=rows,
        counts=counts,
        truncated=truncated,
        notes=notes,
    )
