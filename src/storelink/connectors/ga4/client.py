"""Google Analytics 4 (Data API v1beta) connector: reports, realtime, metadata and three ready views.

One connector serves one property (``GA4_PROPERTY_ID``). Every report asks for
``returnPropertyQuota`` so that the limiter (:mod:`storelink.connectors.ga4.pacing`) always knows
the property's buckets. Retries are scarce on purpose: each 5xx spends one of the property's ten
server errors per hour, so the retry budget holds ``STORELINK_GA4_RETRY_BUDGET_BURST`` retries
(5 by default) and refills that many per hour, and earns nothing from traffic.

Dates are resolved by GA4 in the property's time zone: the views send ``NdaysAgo``/``yesterday``
rather than computing dates here.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from storelink.auth.google import (
    ANALYTICS_READONLY,
)
from storelink.connectors.base import ConnectorContext, NoParams, operation
from storelink.connectors.ga4 import models as m
from storelink.connectors.ga4.errors import Ga4Classifier
from storelink.connectors.ga4.pacing import Ga4QuotaLimiter, category_of
from storelink.connectors.ga4.shared_quota import SharedGa4Limiter
from storelink.connectors.google import GoogleConnector
from storelink.connectors.progress import report_progress
from storelink.errors import ConnectorError, ErrorKind
from storelink.resilience.classify import Classifier
from storelink.resilience.limiter import RateLimiter
from storelink.settings import Ga4Knobs
from storelink.stores import ConnectorSettings, Ga4Settings, settings_as

__all__ = ["API_HOST", "DEMO_PROPERTY_ID", "Ga4Connector", "normalise_property"]

API_HOST = "analyticsdata.googleapis.com"
DEMO_PROPERTY_ID = "412345678"
ACCEPTED_SCOPES = (ANALYTICS_READONLY, "https://www.googleapis.com/auth/analytics")
SERVER_ERRORS_PER_HOUR = 10
CLOSED_RANGE_TTL_S = 6 * 3600.0  # a report over days that are over changes little; cache it longer


def normalise_property(value: str) -> str:
    """``123``, ``properties/123`` → ``properties/123``."""
    value = value.strip().strip("/")
    return value if value.startswith("properties/") else f"properties/{value}"


def _number(value: str, kind: str) -> int | float:
    if kind == "TYPE_INTEGER":
        try:
            return int(value)
        except ValueError:
            return int(float(value))
    return float(value)


def _money(value: int | float | None) -> Decimal:
    return Decimal(str(round(float(value or 0), 2)))


class Ga4Connector(GoogleConnector):
    name = "ga4"
    title = "Google Analytics 4"
    scope = ANALYTICS_READONLY
    accepted_scopes = ACCEPTED_SCOPES
    probe = ("run_report", {"metrics": ["sessions"], "days": 1, "limit": 1})
    # Retries are drawn from an hourly allowance sized to the server-error quota, not earned by traffic.
    retry_refill = "per_hour"

    # -- the upstream --------------------------------------------------------------------------
    settings_type = Ga4Settings
    config: Ga4Settings
    knobs: Ga4Knobs

    @classmethod
    def missing_settings(cls, config: ConnectorSettings) -> list[str]:
        ga4 = settings_as(config, Ga4Settings)
        return ([] if ga4.property_id else ["GA4_PROPERTY_ID"]) + ga4.google.missing()

    @classmethod
    def live_base_url(cls, config: ConnectorSettings) -> str:
        return f"https://{API_HOST}"

    def __init__(self, ctx: ConnectorContext) -> None:
        # The mock fake serves the configured property as well as the demo one.
        self.property = normalise_property(settings_as(ctx.config, Ga4Settings).property_id or DEMO_PROPERTY_ID)
        super().__init__(ctx)

    def make_classifier(self) -> Classifier:
        return Ga4Classifier(
            property_name=self.property,
            wall=self.wall,
            title=self.title,
            connector=self.name,
            credential_hint=self.credential_hint,
        )

    def make_limiter(self) -> RateLimiter:
        self.quota = Ga4QuotaLimiter(
            clock=self.clock,
            wall=self.wall,
            rate=self.knobs.rate_limit,
            burst=self.knobs.rate_burst,
            default_deadline_s=self.knobs.deadline,
            shared_form=SharedGa4Limiter.over,
        )
        return self.quota

    def credential_partition(self) -> str:
        return f"{self.property}|{self._partition}"

    # -- the one request ------------------------------------------------------------------------
    async def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        *,
        operation: str,
        cache_ttl_s: float | None = None,
    ) -> dict[str, Any]:
        response = await self.http.request(
            method,
            path,
            operation=operation,
            json=body,
            cost=self.quota.estimate(category_of(operation)),
            cache_ttl_s=cache_ttl_s,
        )
        data = response.json()
        if not isinstance(data, dict):
            raise ConnectorError(
                ErrorKind.UPSTREAM_ERROR,
                "GA4 answered with a body that is not a JSON object; retry later.",
                request_id=response.report.request_id,
            )
        return data

    async def report(self, params: m.RunReportParams, *, operation: str) -> m.Report:
        """Run a report and page through it (``offset``/``limit``) until ``params.limit`` rows."""
        ranges = params.ranges()
        closed = all(r.end_date not in ("today", "yesterday") and "daysAgo" not in r.end_date for r in ranges)
        base: dict[str, Any] = {
            "dateRanges": [r.wire() for r in ranges],
            "dimensions": [{"name": d} for d in params.dimensions],
            "metrics": [{"name": x} for x in params.metrics],
            "returnPropertyQuota": True,
        }
        if params.dimension_filter:
            base["dimensionFilter"] = params.dimension_filter
        if params.metric_filter:
            base["metricFilter"] = params.metric_filter
        if params.order_bys:
            base["orderBys"] = params.wire_order_bys()
        if params.metric_aggregations:
            base["metricAggregations"] = params.metric_aggregations
        if params.keep_empty_rows:
            base["keepEmptyRows"] = True
        if params.currency_code:
            base["currencyCode"] = params.currency_code

        rows: list[m.ReportRow] = []
        offset = params.offset
        requests = 0
        row_count = 0
        first: dict[str, Any] = {}
        last: dict[str, Any] = {}
        dims: list[str] = []
        types: list[m.MetricHeader] = []
        while len(rows) < params.limit:
            page = min(params.page_size, params.limit - len(rows))
            body = {**base, "limit": str(page), "offset": str(offset)}
            last = await self._call(
                "POST",
                f"/v1beta/{self.property}:runReport",
                body,
                operation=operation,
                cache_ttl_s=CLOSED_RANGE_TTL_S if closed else None,
            )
            requests += 1
            if requests == 1:
                first = last
                dims = [h.get("name", "") for h in last.get("dimensionHeaders") or []]
                types = [
                    m.MetricHeader(name=h.get("name", ""), type=h.get("type", "TYPE_FLOAT"))
                    for h in last.get("metricHeaders") or []
                ]
            page_rows = last.get("rows") or []
            row_count = int(last.get("rowCount") or 0)
            rows.extend(self._row(r, dims, types) for r in page_rows)
            offset += len(page_rows)
            await report_progress(
                len(rows), min(params.limit, max(0, row_count - params.offset)), f"{len(rows)} rows read"
            )
            if not page_rows or offset >= row_count:
                break
        meta = first.get("metadata") or {}
        quota = last.get("propertyQuota") if params.return_property_quota else None
        return m.Report(
            dimension_headers=dims,
            metric_headers=types,
            rows=rows,
            row_count=row_count,
            offset=params.offset,
            truncated=offset < row_count,
            requests=requests,
            totals=[self._row(r, dims, types) for r in first.get("totals") or []],
            maximums=[self._row(r, dims, types) for r in first.get("maximums") or []],
            minimums=[self._row(r, dims, types) for r in first.get("minimums") or []],
            currency_code=meta.get("currencyCode"),
            time_zone=meta.get("timeZone"),
            subject_to_thresholding=bool(meta.get("subjectToThresholding")),
            property_quota=m.PropertyQuota.model_validate(quota) if isinstance(quota, dict) else None,
        )

    @staticmethod
    def _row(row: dict[str, Any], dims: list[str], types: list[m.MetricHeader]) -> m.ReportRow:
        dvalues = [v.get("value", "") for v in row.get("dimensionValues") or []]
        mvalues = [v.get("value", "0") for v in row.get("metricValues") or []]
        return m.ReportRow(
            dimensions=dict(zip(dims, dvalues, strict=False)),
            metrics={h.name: _number(v, h.type) for h, v in zip(types, mvalues, strict=False)},
        )

    # -- operations -------------------------------------------------------------------------------------
    @operation(
        example={
            "dimensions": "sessionDefaultChannelGroup",
            "metrics": "sessions,totalRevenue",
            "order_bys": "-sessions",
        }
    )
    async def run_report(self, params: m.RunReportParams) -> m.Report:
        """Any GA4 report: dimensions, metrics, date ranges, filters, order, paging.

        `dimensions`/`metrics` take names from `get_metadata` (comma-separated or a list); `days`
        (default 28, ending yesterday) unless `date_ranges` is given; `order_bys` like `-sessions`;
        `limit` rows in all (pages of up to 250,000). Scope: analytics.readonly."""
        return await self.report(params, operation="run_report")

    @operation(example={"dimensions": "country", "metrics": "activeUsers"})
    async def run_realtime_report(self, params: m.RealtimeParams) -> m.Report:
        """Activity in the last `minutes` minutes (default 30): e.g. activeUsers by
        unifiedScreenName or country. Uses the property's separate realtime quota."""
        body: dict[str, Any] = {
            "dimensions": [{"name": d} for d in params.dimensions],
            "metrics": [{"name": x} for x in params.metrics],
            "minuteRanges": [{"startMinutesAgo": params.minutes - 1, "endMinutesAgo": 0}],
            "limit": str(params.limit),
            "returnPropertyQuota": True,
        }
        if params.dimension_filter:
            body["dimensionFilter"] = params.dimension_filter
        if params.metric_filter:
            body["metricFilter"] = params.metric_filter
        data = await self._call(
            "POST",
            f"/v1beta/{self.property}:runRealtimeReport",
            body,
            operation="run_realtime_report",
            cache_ttl_s=0.0,
        )
        dims = [h.get("name", "") for h in data.get("dimensionHeaders") or []]
        types = [
            m.MetricHeader(name=h.get("name", ""), type=h.get("type", "TYPE_INTEGER"))
            for h in data.get("metricHeaders") or []
        ]
        rows = [self._row(r, dims, types) for r in data.get("rows") or []]
        quota = data.get("propertyQuota") if params.return_property_quota else None
        return m.Report(
            dimension_headers=dims,
            metric_headers=types,
            rows=rows,
            row_count=int(data.get("rowCount") or len(rows)),
            offset=0,
            truncated=False,
            requests=1,
            property_quota=m.PropertyQuota.model_validate(quota) if isinstance(quota, dict) else None,
        )

    @operation(example={})
    async def get_metadata(self, params: NoParams) -> m.Metadata:
        """The dimensions and metrics this property can report (names, types, categories)."""
        data = await self._call(
            "GET", f"/v1beta/{self.property}/metadata", None, operation="get_metadata", cache_ttl_s=86_400.0
        )
        return m.Metadata(
            dimensions=[
                m.DimensionInfo(
                    api_name=d.get("apiName", ""),
                    ui_name=d.get("uiName", ""),
                    category=d.get("category"),
                    description=d.get("description"),
                )
                for d in data.get("dimensions") or []
            ],
            metrics=[
                m.MetricInfo(
                    api_name=x.get("apiName", ""),
                    ui_name=x.get("uiName", ""),
                    type=x.get("type"),
                    category=x.get("category"),
                    description=x.get("description"),
                )
                for x in data.get("metrics") or []
            ],
        )

    @operation(example={"days": 28})
    async def traffic_overview(self, params: m.ViewParams) -> m.TrafficOverview:
        """Sessions, users, conversions (key events) and revenue per day over the last `days` days."""
        report = await self.report(
            m.RunReportParams(
                dimensions=["date"],
                metrics=["sessions", "totalUsers", "keyEvents", "totalRevenue"],
                days=params.days,
                order_bys=["date"],
                keep_empty_rows=True,
                limit=params.days + 7,
                metric_aggregations=["TOTAL"],  # the range's own total: a user back on several days counts once
            ),
            operation="traffic_overview",
        )
        days = sorted(
            (
                m.DayTraffic(
                    date=dt.datetime.strptime(row.dimensions["date"], "%Y%m%d").date(),
                    sessions=int(row.metrics.get("sessions", 0)),
                    users=int(row.metrics.get("totalUsers", 0)),
                    conversions=int(row.metrics.get("keyEvents", 0)),
                    revenue=_money(row.metrics.get("totalRevenue")),
                )
                for row in report.rows
            ),
            key=lambda d: d.date,
        )
        totals = None
        if days and report.totals:
            total = report.totals[0].metrics
            totals = m.TrafficTotals(
                sessions=int(total.get("sessions", 0)),
                users=int(total.get("totalUsers", 0)),
                conversions=int(total.get("keyEvents", 0)),
                revenue=_money(total.get("totalRevenue")),
            )
        return m.TrafficOverview(
            start=days[0].date if days else None,
            end=days[-1].date if days else None,
            currency=report.currency_code or "USD",
            days=days,
            totals=totals,
        )

    @operation(example={"days": 28, "limit": 10})
    async def top_pages(self, params: m.TopPagesParams) -> m.TopPages:
        """The most viewed pages over the last `days` days: views, users, average engagement time."""
        report = await self.report(
            m.RunReportParams(
                dimensions=["pagePath", "pageTitle"],
                metrics=["screenPageViews", "activeUsers", "userEngagementDuration"],
                days=params.days,
                order_bys=["-screenPageViews"],
                limit=params.limit,
                metric_aggregations=["TOTAL"],
            ),
            operation="top_pages",
        )
        pages = []
        for row in report.rows:
            users = int(row.metrics.get("activeUsers", 0))
            pages.append(
                m.PageRow(
                    path=row.dimensions.get("pagePath", ""),
                    title=row.dimensions.get("pageTitle", ""),
                    views=int(row.metrics.get("screenPageViews", 0)),
                    users=users,
                    avg_engagement_s=round(float(row.metrics.get("userEngagementDuration", 0)) / users, 1)
                    if users
                    else 0.0,
                )
            )
        total = report.totals[0].metrics.get("screenPageViews", 0) if report.totals else sum(p.views for p in pages)
        return m.TopPages(days=params.days, pages=pages, total_views=int(total))

    @operation(example={"days": 28})
    async def channel_breakdown(self, params: m.ViewParams) -> m.ChannelBreakdown:
        """Sessions, users, conversions and revenue by default channel group over the last `days` days,
        with each channel's share and conversion rate."""
        report = await self.report(
            m.RunReportParams(
                dimensions=["sessionDefaultChannelGroup"],
                metrics=["sessions", "totalUsers", "keyEvents", "totalRevenue"],
                days=params.days,
                order_bys=["-sessions"],
                limit=100,
            ),
            operation="channel_breakdown",
        )
        sessions = sum(int(r.metrics.get("sessions", 0)) for r in report.rows) or 1
        revenue = sum(float(r.metrics.get("totalRevenue", 0)) for r in report.rows) or 1.0
        channels = [
            m.ChannelRow(
                channel=r.dimensions.get("sessionDefaultChannelGroup", "(not set)"),
                sessions=int(r.metrics.get("sessions", 0)),
                users=int(r.metrics.get("totalUsers", 0)),
                conversions=int(r.metrics.get("keyEvents", 0)),
                revenue=_money(r.metrics.get("totalRevenue")),
                session_share=round(int(r.metrics.get("sessions", 0)) / sessions, 4),
                revenue_share=round(float(r.metrics.get("totalRevenue", 0)) / revenue, 4),
                conversion_rate=round(
                    int(r.metrics.get("keyEvents", 0)) / max(1, int(r.metrics.get("sessions", 0))), 4
                ),
            )
            for r in report.rows
        ]
        return m.ChannelBreakdown(days=params.days, currency=report.currency_code or "USD", channels=channels)
