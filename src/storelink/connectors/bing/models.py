"""Bing Webmaster operation parameters and results (DTOs), and the WCF date format.

Bing's stats methods take no date range: each returns the site's whole retained history, one row
per key per bucket (queries and pages: weekly; traffic and crawl: daily). The parameters here
filter, order and cut that history on our side. Dates arrive as WCF strings
(``"/Date(1316156400000-0700)/"``): milliseconds since the epoch in UTC, the offset only
presentational; they become aware UTC datetimes.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from storelink.connectors.paging import Paging
from storelink.connectors.writes import IdempotencyKey, WriteReceipt
from storelink.errors import clip

__all__ = [
    "MAX_BATCH",
    "CrawlDay",
    "CrawlParams",
    "CrawlStats",
    "KeyStat",
    "KeyStatsPage",
    "Site",
    "SiteList",
    "SiteParams",
    "StatsParams",
    "SubmitUrlsParams",
    "SubmitUrlsResult",
    "TrafficDay",
    "TrafficParams",
    "TrafficStats",
    "UrlSubmissionQuota",
    "parse_wcf_date",
]

MAX_BATCH = 500  # SubmitUrlBatch's largest batch [3P]

_WCF_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
_DOTNET_MIN_MS = -62135596800000  # DateTime.MinValue: Bing's "unset"


def parse_wcf_date(value: object) -> dt.datetime | None:
    """``"/Date(1316156400000-0700)/"`` -> 2011-09-16 07:00 UTC; MinValue and null -> None.

    Raises ValueError for anything else, so a contract break is not silently read as "no date"."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"not a WCF date: {value!r}")
    match = _WCF_DATE.match(value.strip())
    if match is None:
        raise ValueError(f"not a WCF date: {value!r}")
    ms = int(match.group(1))
    if ms <= _DOTNET_MIN_MS:
        return None
    return dt.datetime.fromtimestamp(ms / 1000.0, dt.UTC)


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)


def _host(url: str) -> str | None:
    """The URL's host, or None when it has none or does not parse (``http://[oops``: urlsplit raises)."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a port that is not a number in range
        return parts.hostname
    except ValueError:
        return None


class SiteParams(_Params):
    site_url: str | None = Field(
        None, description="A site of this Bing account (see list_sites); default: BING_SITE_URL."
    )

    @field_validator("site_url")
    @classmethod
    def _site_parses(cls, value: str | None) -> str | None:
        if value is not None and _host(value if "://" in value else f"https://{value}") is None:
            raise ValueError(f"{clip(value)!r} is not a site URL (e.g. https://www.example.com/)")
        return value


# --- sites ------------------------------------------------------------------------------------
class Site(BaseModel):
    url: str
    verified: bool


class SiteList(BaseModel):
    items: list[Site]


# --- query and page stats ---------------------------------------------------------------------
class StatsParams(SiteParams):
    paging: ClassVar[Paging] = Paging(size="limit", narrow=("start", "end", "contains", "aggregate"))

    start: dt.date | None = Field(None, description="First week to include (by the week's date, UTC).")
    end: dt.date | None = Field(None, description="Last week to include (by the week's date, UTC).")
    contains: str | None = Field(None, description="Only keys containing this text (case-insensitive).")
    aggregate: bool = Field(False, description="Sum each key's weeks into one row (positions weighted).")
    order_by: Literal["clicks", "impressions", "date"] = Field("clicks", description="Sort, largest/newest first.")
    limit: int = Field(50, ge=1, le=5000, description="Most rows to return.")


class KeyStat(BaseModel):
    """One search query (query_stats) or page URL (page_stats) in one weekly bucket, or summed."""

    key: str = Field(description="The query text, or the page URL.")
    date: dt.datetime | None = Field(description="The bucket's date (UTC); the latest bucket when aggregated.")
    weeks: int = Field(1, description="Buckets summed into this row.")
    clicks: int
    impressions: int
    ctr: float = Field(description="clicks / impressions (0 when there were no impressions).")
    avg_click_position: float | None = Field(description="None when there were no clicks (Bing sends -1).")
    avg_impression_position: float | None


class KeyStatsPage(BaseModel):
    site_url: str
    kind: Literal["query", "page"]
    items: list[KeyStat]
    total: int = Field(description="Rows matching the filters before `limit`.")
    truncated: bool
    first_date: dt.datetime | None = Field(None, description="Oldest bucket Bing retains for the site.")
    last_date: dt.datetime | None = Field(None, description="Newest bucket.")


# --- traffic ------------------------------------------------------------------------------------
class TrafficParams(SiteParams):
    paging: ClassVar[Paging] = Paging(narrow=("start", "end"))

    start: dt.date | None = Field(None, description="First day to include (UTC).")
    end: dt.date | None = Field(None, description="Last day to include (UTC).")


class CrawlParams(TrafficParams):
    paging: ClassVar[Paging] = Paging(size="days", narrow=("start", "end"))

    # A crawl day is fourteen counts wide: six months of them would be ~46 kB.
    days: int = Field(30, ge=1, le=400, description="The last N days Bing reports, unless `start` or `end` is given.")


class TrafficDay(BaseModel):
    date: dt.datetime | None
    clicks: int
    impressions: int


class TrafficStats(BaseModel):
    site_url: str
    items: list[TrafficDay]
    clicks: int = Field(description="Sum over the returned days.")
    impressions: int = Field(description="Sum over the returned days.")


# --- crawl ---------------------------------------------------------------------------------------
class CrawlDay(BaseModel):
    date: dt.datetime | None
    crawled_pages: int
    crawl_errors: int
    in_index: int
    in_links: int
    code_2xx: int
    code_301: int
    code_302: int
    code_4xx: int
    code_5xx: int
    all_other_codes: int
    blocked_by_robots_txt: int
    connection_timeout: int
    dns_failures: int


class CrawlStats(BaseModel):
    site_url: str
    items: list[CrawlDay] = Field(description="Daily, oldest first (Bing keeps about six months).")


# --- URL submission --------------------------------------------------------------------------------
class UrlSubmissionQuota(BaseModel):
    site_url: str
    daily_remaining: int = Field(description="URLs that may still be submitted today (resets at midnight GMT).")
    monthly_remaining: int


class SubmitUrlsParams(SiteParams):
    urls: list[str] = Field(
        min_length=1, max_length=MAX_BATCH, description=f"Absolute URLs on the site, at most {MAX_BATCH}."
    )
    idempotency_key: IdempotencyKey = None

    @field_validator("urls")
    @classmethod
    def _absolute(cls, value: list[str]) -> list[str]:
        wrong = [u for u in value if _host(u) is None or urlsplit(u).scheme not in ("http", "https")]
        if wrong:
            raise ValueError(
                f"{len(wrong)} URL(s) are not absolute http(s) URLs (first: {clip(wrong[0])!r}); "
                "give full URLs on the site, e.g. https://www.example.com/page"
            )
        return value


class SubmitUrlsResult(WriteReceipt):
    site_url: str
    submitted: list[str]
    daily_remaining: int = Field(description="Quota left today after this batch (Bing lowers it by one per URL).")
    monthly_remaining: int
