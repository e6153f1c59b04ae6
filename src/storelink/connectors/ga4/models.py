"""GA4 parameters and results. Names follow the Data API (``dimensions``, ``metrics``, ``dateRanges``…)
in snake_case; values arrive as strings on the wire and leave here as numbers."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from storelink.connectors.paging import Paging

__all__ = [
    "MAX_PAGE_ROWS",
    "ChannelBreakdown",
    "ChannelRow",
    "DateRange",
    "DayTraffic",
    "DimensionInfo",
    "Metadata",
    "MetricHeader",
    "MetricInfo",
    "PageRow",
    "PropertyQuota",
    "QuotaStatus",
    "RealtimeParams",
    "Report",
    "ReportRow",
    "RunReportParams",
    "TopPages",
    "TopPagesParams",
    "TrafficOverview",
    "TrafficTotals",
    "ViewParams",
]

MAX_PAGE_ROWS = 250_000  # the API returns at most this many rows per request, whatever is asked
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2}|\d+daysAgo|yesterday|today)$")


def _names(value: Any) -> Any:
    """Accept ``"a,b"`` as well as ``["a", "b"]`` (the CLI passes text)."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


Names = Annotated[list[str], BeforeValidator(_names)]


class DateRange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start_date: str = "28daysAgo"
    end_date: str = "yesterday"
    name: str | None = None

    @field_validator("start_date", "end_date")
    @classmethod
    def _check(cls, value: str) -> str:
        if not _DATE.match(value):
            raise ValueError("use YYYY-MM-DD, NdaysAgo, yesterday or today")
        return value

    def wire(self) -> dict[str, str]:
        body = {"startDate": self.start_date, "endDate": self.end_date}
        if self.name:
            body["name"] = self.name
        return body


class RunReportParams(BaseModel):
    """A ``runReport``. ``limit`` is the number of rows wanted in all; storelink pages through the
    API (``offset``/``limit``, at most ``page_size`` rows a request) until it has them."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)
    paging: ClassVar[Paging] = Paging(size="limit", position="offset", narrow=("days", "dimension_filter"))

    dimensions: Names = Field(default_factory=list, description="Dimension names, e.g. date,sessionSource.")
    metrics: Names = Field(..., min_length=1, description="Metric names, e.g. sessions,totalRevenue.")
    date_ranges: list[DateRange] = Field(default_factory=list, description="Default: the last `days` days.")
    days: int = Field(28, ge=1, le=1500, description="When no date_ranges: the last N days, ending yesterday.")
    dimension_filter: dict[str, Any] | None = Field(None, description="A GA4 FilterExpression (JSON).")
    metric_filter: dict[str, Any] | None = Field(None, description="A GA4 FilterExpression on metrics.")
    order_bys: list[str | dict[str, Any]] = Field(
        default_factory=list, description="`name` or `-name` (descending), or GA4 OrderBy objects."
    )
    limit: int = Field(100, ge=1, le=10_000_000, description="Rows to return in all (paged for you).")
    offset: int = Field(0, ge=0, description="Rows to skip.")
    page_size: int = Field(MAX_PAGE_ROWS, ge=1, le=MAX_PAGE_ROWS, description="Rows per request.")
    metric_aggregations: list[Literal["TOTAL", "MAXIMUM", "MINIMUM", "COUNT"]] = Field(default_factory=list)
    keep_empty_rows: bool = False
    currency_code: str | None = None
    return_property_quota: bool = Field(True, description="Include the property's quota in the result.")

    @field_validator("order_bys", mode="before")
    @classmethod
    def _order_text(cls, value: Any) -> Any:
        return _names(value)

    def ranges(self) -> list[DateRange]:
        return self.date_ranges or [DateRange(start_date=f"{self.days}daysAgo", end_date="yesterday")]

    def wire_order_bys(self) -> list[dict[str, Any]]:
        wire: list[dict[str, Any]] = []
        for item in self.order_bys:
            if isinstance(item, dict):
                wire.append(item)
                continue
            desc = item.startswith("-")
            name = item.lstrip("-")
            if name in self.metrics:
                wire.append({"metric": {"metricName": name}, "desc": desc})
            else:
                wire.append({"dimension": {"dimensionName": name}, "desc": desc})
        return wire

    @model_validator(mode="after")
    def _orders_name_fields(self) -> RunReportParams:
        for item in self.order_bys:
            if isinstance(item, str) and item.lstrip("-") not in (*self.metrics, *self.dimensions):
                raise ValueError(f"order_bys names {item.lstrip('-')!r}, which is not among the dimensions or metrics")
        return self


class RealtimeParams(BaseModel):
    """A ``runRealtimeReport`` over the last ``minutes`` minutes (at most 30 on standard properties)."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)
    paging: ClassVar[Paging] = Paging(size="limit", narrow=("dimension_filter",))

    dimensions: Names = Field(default_factory=list, description="e.g. unifiedScreenName,country.")
    metrics: Names = Field(default_factory=lambda: ["activeUsers"], min_length=1)
    minutes: int = Field(30, ge=1, le=60)
    dimension_filter: dict[str, Any] | None = None
    metric_filter: dict[str, Any] | None = None
    limit: int = Field(100, ge=1, le=MAX_PAGE_ROWS, description="Rows to return.")
    return_property_quota: bool = True


class ViewParams(BaseModel):
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    days: int = Field(28, ge=1, le=1500, description="The last N days, ending yesterday (property time zone).")


class TopPagesParams(ViewParams):
    paging: ClassVar[Paging] = Paging(size="limit")

    limit: int = Field(20, ge=1, le=1000, description="Pages to return, most viewed first.")


class QuotaStatus(BaseModel):
    consumed: int
    remaining: int


class PropertyQuota(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    tokens_per_day: QuotaStatus | None = Field(None, alias="tokensPerDay")
    tokens_per_hour: QuotaStatus | None = Field(None, alias="tokensPerHour")
    tokens_per_project_per_hour: QuotaStatus | None = Field(None, alias="tokensPerProjectPerHour")
    concurrent_requests: QuotaStatus | None = Field(None, alias="concurrentRequests")
    server_errors_per_project_per_hour: QuotaStatus | None = Field(None, alias="serverErrorsPerProjectPerHour")
    potentially_thresholded_requests_per_hour: QuotaStatus | None = Field(
        None, alias="potentiallyThresholdedRequestsPerHour"
    )


class MetricHeader(BaseModel):
    name: str
    type: str


class ReportRow(BaseModel):
    dimensions: dict[str, str]
    metrics: dict[str, int | float]


class Report(BaseModel):
    dimension_headers: list[str]
    metric_headers: list[MetricHeader]
    rows: list[ReportRow]
    row_count: int = Field(description="Rows in the whole result, whatever was returned.")
    offset: int
    truncated: bool = Field(description="More rows exist past those returned.")
    requests: int = Field(description="API requests made (pages).")
    totals: list[ReportRow] = Field(default_factory=list, description="With metric_aggregations TOTAL.")
    maximums: list[ReportRow] = Field(default_factory=list, description="With metric_aggregations MAXIMUM.")
    minimums: list[ReportRow] = Field(default_factory=list, description="With metric_aggregations MINIMUM.")
    currency_code: str | None = None
    time_zone: str | None = None
    subject_to_thresholding: bool = False
    property_quota: PropertyQuota | None = None


class DayTraffic(BaseModel):
    date: dt.date
    sessions: int
    users: int
    conversions: int
    revenue: Decimal


class TrafficTotals(BaseModel):
    """The range as GA4 counts it: users once each however many days they came back."""

    sessions: int
    users: int = Field(description="Distinct users over the range (not the sum of the days' users).")
    conversions: int
    revenue: Decimal


class TrafficOverview(BaseModel):
    start: dt.date | None
    end: dt.date | None
    currency: str
    days: list[DayTraffic]
    totals: TrafficTotals | None


class PageRow(BaseModel):
    path: str
    title: str
    views: int
    users: int
    avg_engagement_s: float


class TopPages(BaseModel):
    days: int
    pages: list[PageRow]
    total_views: int


class ChannelRow(BaseModel):
    channel: str
    sessions: int
    users: int
    conversions: int
    revenue: Decimal
    session_share: float
    revenue_share: float
    conversion_rate: float


class ChannelBreakdown(BaseModel):
    days: int
    currency: str
    channels: list[ChannelRow]


class DimensionInfo(BaseModel):
    api_name: str
    ui_name: str
    category: str | None = None
    description: str | None = None


class MetricInfo(BaseModel):
    api_name: str
    ui_name: str
    type: str | None = None
    category: str | None = None
    description: str | None = None


class Metadata(BaseModel):
    dimensions: list[DimensionInfo]
    metrics: list[MetricInfo]
