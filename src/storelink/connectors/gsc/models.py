"""Search Console parameters and results (names follow the API in snake_case)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from storelink.connectors.paging import Paging

__all__ = [
    "DIMENSIONS",
    "MAX_ROWS_PER_CALL",
    "MAX_ROWS_PER_REQUEST",
    "Filter",
    "InspectParams",
    "InspectionResult",
    "SearchAnalyticsParams",
    "SearchAnalyticsResult",
    "SearchRow",
    "Site",
    "SiteList",
    "Sitemap",
    "SitemapContent",
    "SitemapList",
    "SitemapsParams",
]

MAX_ROWS_PER_REQUEST = 25_000  # the API's rowLimit range is 1..25,000
# Rows one call returns at most: one request's worth, ~6 MB of rows with five dimensions. More come
# from further calls with `start_row`, each bounded by the deadline. (A 5,000,000-row call built
# 1.8 M rows, took RSS to 1.9 GB and ran 108 s against a 30 s deadline.)
MAX_ROWS_PER_CALL = 25_000
Dimension = Literal["query", "page", "country", "device", "date", "hour", "searchAppearance"]
DIMENSIONS: tuple[str, ...] = ("query", "page", "country", "device", "date", "hour", "searchAppearance")
FilterDimension = Literal["query", "page", "country", "device", "searchAppearance"]
HOURLY_DAYS = 10  # the API keeps hourly rows this many days back (Google, 2025-04 "hourly data")
Operator = Literal["equals", "notEquals", "contains", "notContains", "includingRegex", "excludingRegex"]

# `dimension<op>value` shorthands, longest operator first.
_SHORT_OPERATORS = (
    ("!=~", "excludingRegex"),
    ("=~", "includingRegex"),
    ("!~", "notContains"),
    ("!=", "notEquals"),
    ("~", "contains"),
    ("=", "equals"),
)


def _default_dimensions() -> list[Dimension]:
    return ["query"]


def _split_names(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Filter(BaseModel):
    """One dimension filter. As text: ``query~brake`` (contains), ``country=usa``, ``page!~/blogs/``,
    ``query=~^apex`` (regex), ``query!=~x`` (not regex), ``device!=TABLET``."""

    model_config = ConfigDict(extra="forbid")

    dimension: FilterDimension
    operator: Operator = "equals"
    expression: str

    @model_validator(mode="before")
    @classmethod
    def _parse_text(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        for symbol, operator in _SHORT_OPERATORS:
            name, found, expression = value.partition(symbol)
            if found and re.fullmatch(r"[A-Za-z]+", name.strip()):
                return {"dimension": name.strip(), "operator": operator, "expression": expression}
        raise ValueError(f"{value!r} is not a filter; write e.g. `query~brake pads` or `country=usa`")

    def wire(self) -> dict[str, str]:
        return {"dimension": self.dimension, "operator": self.operator, "expression": self.expression}


class SearchAnalyticsParams(BaseModel):
    """``searchanalytics.query``: clicks, impressions, CTR and position grouped by `dimensions`.
    Rows beyond 25,000 are fetched page by page (``startRow``), up to :data:`MAX_ROWS_PER_CALL`
    a call; ``start_row`` continues where a truncated result stopped (its ``next_start_row``)."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)
    paging: ClassVar[Paging] = Paging(
        size="row_limit", position="start_row", next_position="next_start_row", narrow=("days", "filters")
    )

    days: int = Field(28, ge=1, le=486, description="The last N days with data (ending 3 days ago for final data).")
    start_date: dt.date | None = Field(None, description="First day (Pacific time); overrides `days`.")
    end_date: dt.date | None = Field(None, description="Last day, inclusive.")
    dimensions: Annotated[list[Dimension], BeforeValidator(_split_names)] = Field(
        default_factory=lambda: _default_dimensions(),
        description="Comma-separated or a list: query,page,country,device,date,hour (hour: last 10 days).",
    )
    filters: Annotated[list[Filter], BeforeValidator(_split_names)] = Field(
        default_factory=list, description="`query~brake`, `country=usa`, … (all must match)."
    )
    search_type: Literal["web", "image", "video", "news", "discover", "googleNews"] = "web"
    data_state: Literal["final", "all", "hourly_all"] = "final"
    aggregation_type: Literal["auto", "byPage", "byProperty", "byNewsShowcasePanel"] = "auto"
    row_limit: int = Field(
        100,
        ge=1,
        le=MAX_ROWS_PER_CALL,
        description=f"Rows to return in all, at most {MAX_ROWS_PER_CALL:,} a call; for more, call again with "
        "`start_row` = the result's `next_start_row`.",
    )
    start_row: int = Field(0, ge=0, description="Rows to skip (a previous result's `next_start_row`).")
    page_size: int = Field(MAX_ROWS_PER_REQUEST, ge=1, le=MAX_ROWS_PER_REQUEST, description="Rows per request.")

    @model_validator(mode="after")
    def _check(self) -> SearchAnalyticsParams:
        if len(set(self.dimensions)) != len(self.dimensions):
            raise ValueError("dimensions repeat a name")
        if "searchAppearance" in self.dimensions and len(self.dimensions) > 1:
            raise ValueError(
                "searchAppearance cannot be grouped with other dimensions: list the appearances first, then "
                "filter by one (`searchAppearance=PRODUCT_SNIPPETS`) with other dimensions"
            )
        if "hour" in self.dimensions:
            # Hourly rows are always the fresh, incomplete kind, and reach back ten days.
            if "data_state" not in self.model_fields_set:
                self.data_state = "hourly_all"
            elif self.data_state != "hourly_all":
                raise ValueError("grouping by hour needs data_state hourly_all")
            if "days" not in self.model_fields_set:
                self.days = 2
            elif self.days > HOURLY_DAYS:
                raise ValueError(f"hourly rows reach back {HOURLY_DAYS} days: ask for days <= {HOURLY_DAYS}")
        if (self.start_date is None) != (self.end_date is None):
            raise ValueError("give both start_date and end_date, or neither")
        if self.start_date and self.end_date and self.start_date > self.end_date:
            raise ValueError("start_date is after end_date")
        return self


class SearchRow(BaseModel):
    keys: dict[str, str]
    clicks: int  # doubles on the wire, integral in practice
    impressions: int
    ctr: float
    position: float


class SearchAnalyticsResult(BaseModel):
    site_url: str
    start_date: dt.date
    end_date: dt.date
    dimensions: list[str]
    search_type: str
    rows: list[SearchRow]
    requests: int
    truncated: bool = Field(description="More rows may exist: the row limit or the deadline stopped the pages.")
    next_start_row: int | None = Field(
        None, description="When truncated: pass as `start_row` (same other parameters) for the next rows."
    )
    note: str | None = Field(None, description="Set when the deadline stopped the pages early: why, and what to do.")
    response_aggregation_type: str | None = None
    first_incomplete_date: str | None = None
    first_incomplete_hour: str | None = Field(None, description="With `hour`: rows from this hour on may still change.")


class Site(BaseModel):
    site_url: str
    permission_level: str


class SiteList(BaseModel):
    sites: list[Site]


class SitemapsParams(BaseModel):
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    sitemap_index: str | None = Field(None, description="List the children of this sitemap index instead.")


class SitemapContent(BaseModel):
    type: str
    submitted: int = Field(description="URLs of this type the sitemap lists.")
    # No `indexed`: Search Console still sends it, deprecated ("do not use"), and it says 0.


class Sitemap(BaseModel):
    path: str
    last_submitted: str | None = None
    last_downloaded: str | None = None
    is_pending: bool = False
    is_sitemaps_index: bool = False
    type: str | None = None
    warnings: int = 0
    errors: int = 0
    contents: list[SitemapContent] = Field(default_factory=list)


class SitemapList(BaseModel):
    site_url: str
    sitemaps: list[Sitemap]


class InspectParams(BaseModel):
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    url: str = Field(..., min_length=1, description="The page: an absolute URL, or a path on the site.")
    language_code: str = "en-US"


class InspectionResult(BaseModel):
    url: str
    verdict: str
    coverage_state: str | None = None
    robots_txt_state: str | None = None
    indexing_state: str | None = None
    page_fetch_state: str | None = None
    last_crawl_time: str | None = None
    google_canonical: str | None = None
    user_canonical: str | None = None
    crawled_as: str | None = None
    sitemaps: list[str] = Field(default_factory=list)
    referring_urls: list[str] = Field(default_factory=list)
    mobile_usability_verdict: str | None = None
    rich_results_verdict: str | None = None
    inspection_link: str | None = None
