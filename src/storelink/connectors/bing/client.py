"""Bing Webmaster Tools connector: search performance, crawl health and URL submission.

Requests go to ``https://ssl.bing.com/webmaster/api.svc/json/{Method}`` with ``siteUrl`` as a
query parameter. The API key (``BING_WMT_API_KEY``) is added by :class:`ApiKeyTransport` on the
wire only, so no URL that is logged, cached, raised or audited ever carries it; cache entries are
partitioned by a fingerprint of the key instead.

Caching: Bing updates its stats daily or weekly and sends no validators, so stats are cached for
:data:`STATS_TTL_S` (unless ``STORELINK_BING_CACHE_TTL=0``); the URL-submission quota is always
read fresh.

``submit_urls`` is a write (``bing.submit_urls`` in ``STORELINK_ALLOW_WRITES``). It reads the quota
first and refuses locally when the batch would not fit, since Bing refuses the whole batch then.
Bing documents no idempotency key, so a submission that times out is not retried.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx2
from pydantic import SecretStr

from storelink.connectors.base import Connector, ConnectorContext, NoParams, operation
from storelink.connectors.bing import models as m
from storelink.connectors.bing.errors import BingClassifier
from storelink.connectors.bing.wire import ApiKeyTransport
from storelink.connectors.http import UpstreamResponse, contract_error, envelope_field, object_list
from storelink.connectors.writes import AuditedTransport, WriteGuard
from storelink.errors import ConnectorError, ErrorKind
from storelink.resilience.classify import Classifier
from storelink.stores import BingSettings, ConnectorSettings, settings_as

__all__ = ["STATS_TTL_S", "BingConnector"]

BING_HOST = "ssl.bing.com"  # Bing Webmaster Tools API (api-facts.md)
PATH = "/webmaster/api.svc/json"
STATS_TTL_S = 6 * 3600.0  # Bing's stats move daily at most


class BingConnector(Connector):
    name = "bing"
    title = "Bing Webmaster Tools"
    credential_hint = "BING_WMT_API_KEY"
    probe = ("list_sites", {})

    # -- the upstream --------------------------------------------------------------------------
    settings_type = BingSettings
    config: BingSettings

    @classmethod
    def missing_settings(cls, config: ConnectorSettings) -> list[str]:
        return [] if settings_as(config, BingSettings).api_key else ["BING_WMT_API_KEY"]

    @classmethod
    def live_base_url(cls, config: ConnectorSettings) -> str:
        return f"https://{BING_HOST}"

    @staticmethod
    def _api_key(ctx: ConnectorContext) -> SecretStr:
        configured = settings_as(ctx.config, BingSettings).api_key
        if ctx.mode == "mock" or configured is None:
            return SecretStr(ctx.demo.api_key)
        return configured

    def __init__(self, ctx: ConnectorContext) -> None:
        self._key = self._api_key(ctx)
        wire = ApiKeyTransport(ctx.inner, api_key=self._key, host=httpx2.URL(ctx.base_url).host)
        audited = AuditedTransport(wire, classifier=self._classifier())
        super().__init__(dataclasses.replace(ctx, inner=audited))
        self.writes = WriteGuard(
            connector=self.name,
            title=self.title,
            allow_writes=self.config.allow_writes,
            store_id=self.config.store,
            mode=self.mode,
            store=ctx.store,
            audit=ctx.audit,
            deadline_s=self.knobs.deadline,
        )

    def _classifier(self) -> BingClassifier:
        return BingClassifier(
            secret=self._key.get_secret_value(),
            title=self.title,
            connector=self.name,
            credential_hint=self.credential_hint,
        )

    def make_classifier(self) -> Classifier:
        return self._classifier()

    def credential_partition(self) -> str:
        return hashlib.sha256(self._key.get_secret_value().encode()).hexdigest()[:16]

    def site(self, requested: str | None) -> str:
        """The site to ask about: the parameter, else BING_SITE_URL (the demo site in mock mode)."""
        if requested:
            return requested.strip()
        if self.mode == "mock":
            return self.ctx.demo.site_url
        configured = self.config.site_url or self.config.website
        if not configured:
            raise ConnectorError(
                ErrorKind.NOT_CONFIGURED,
                "No Bing site is configured. Set BING_SITE_URL to one of this key's sites "
                "(`storelink call bing list_sites` lists them), or pass `site_url`.",
                retryable=False,
            )
        return configured.strip()

    def _stats_ttl(self) -> float:
        return 0.0 if self.knobs.cache_ttl == 0 else STATS_TTL_S

    # -- the one request -------------------------------------------------------------------------
    async def method(
        self,
        name: str,
        *,
        operation: str,
        site: str | None = None,
        cache_ttl_s: float | None = None,
    ) -> Any:
        """GET one API method; return the ``d`` of its envelope."""
        response = await self.http.request(
            "GET",
            f"{PATH}/{name}",
            operation=operation,
            params={"siteUrl": site} if site is not None else None,
            cache_ttl_s=cache_ttl_s,
        )
        return _d(response)

    # -- operations --------------------------------------------------------------------------------
    @operation()
    async def list_sites(self, params: NoParams) -> m.SiteList:
        """The sites this API key's account has added to Bing Webmaster Tools, and whether each is verified."""
        rows = await self.method("GetUserSites", operation="list_sites")
        return m.SiteList(items=[m.Site(url=str(r["Url"]), verified=bool(r.get("IsVerified"))) for r in _list(rows)])

    @operation()
    async def query_stats(self, params: m.StatsParams) -> m.KeyStatsPage:
        """Bing search queries that showed the site: clicks, impressions and positions per week.

        Bing returns the whole retained history (about six months, weekly); `start`/`end`
        filter it, `contains` matches the query text, `aggregate` sums each query's weeks."""
        return await self._key_stats("GetQueryStats", "query", "query_stats", params)

    @operation()
    async def page_stats(self, params: m.StatsParams) -> m.KeyStatsPage:
        """The site's pages in Bing search: clicks, impressions and positions per page per week."""
        return await self._key_stats("GetPageStats", "page", "page_stats", params)

    async def _key_stats(
        self, method: str, kind: Literal["query", "page"], operation: str, params: m.StatsParams
    ) -> m.KeyStatsPage:
        site = self.site(params.site_url)
        raw = await self.method(method, operation=operation, site=site, cache_ttl_s=self._stats_ttl())
        rows = [_key_row(r) for r in _list(raw)]
        dates = [r.date for r in rows if r.date is not None]
        chosen = [r for r in rows if _in_range(r.date, params.start, params.end)]
        if params.contains:
            needle = params.contains.lower()
            chosen = [r for r in chosen if needle in r.key.lower()]
        if params.aggregate:
            chosen = _aggregate(chosen)
        chosen.sort(key=_sort_key(params.order_by), reverse=True)
        return m.KeyStatsPage(
            site_url=site,
            kind=kind,
            items=[r.dto() for r in chosen[: params.limit]],
            total=len(chosen),
            truncated=len(chosen) > params.limit,
            first_date=min(dates) if dates else None,
            last_date=max(dates) if dates else None,
        )

    @operation()
    async def rank_and_traffic_stats(self, params: m.TrafficParams) -> m.TrafficStats:
        """The site's daily clicks and impressions from Bing search, oldest first."""
        site = self.site(params.site_url)
        raw = await self.method(
            "GetRankAndTrafficStats", operation="rank_and_traffic_stats", site=site, cache_ttl_s=self._stats_ttl()
        )
        days = [
            m.TrafficDay(date=_date(r.get("Date")), clicks=_int(r, "Clicks"), impressions=_int(r, "Impressions"))
            for r in _list(raw)
        ]
        days = sorted((d for d in days if _in_range(d.date, params.start, params.end)), key=_by_date)
        return m.TrafficStats(
            site_url=site,
            items=days,
            clicks=sum(d.clicks for d in days),
            impressions=sum(d.impressions for d in days),
        )

    @operation()
    async def crawl_stats(self, params: m.CrawlParams) -> m.CrawlStats:
        """How Bingbot crawled the site each day: pages crawled, status codes, errors, pages in index.

        The last `days` days Bing reports (default 30, oldest first), or `start`..`end`."""
        site = self.site(params.site_url)
        raw = await self.method("GetCrawlStats", operation="crawl_stats", site=site, cache_ttl_s=self._stats_ttl())
        days = sorted((_crawl_day(r) for r in _list(raw)), key=_by_date)
        start, end = params.start, params.end
        dated = [d.date for d in days if d.date is not None]
        if start is None and end is None and dated:
            start = dated[-1].date() - dt.timedelta(days=params.days - 1)
        return m.CrawlStats(site_url=site, items=[d for d in days if _in_range(d.date, start, end)])

    @operation()
    async def url_submission_quota(self, params: m.SiteParams) -> m.UrlSubmissionQuota:
        """How many URLs may still be submitted today and this month (read fresh, never cached)."""
        site = self.site(params.site_url)
        return await self._quota(site, operation="url_submission_quota")

    async def _quota(self, site: str, *, operation: str) -> m.UrlSubmissionQuota:
        raw = await self.method("GetUrlSubmissionQuota", operation=operation, site=site, cache_ttl_s=0.0)
        if not isinstance(raw, dict):
            raise _contract("GetUrlSubmissionQuota did not return an object")
        return m.UrlSubmissionQuota(
            site_url=site, daily_remaining=_int(raw, "DailyQuota"), monthly_remaining=_int(raw, "MonthlyQuota")
        )

    @operation(write=True, example={"urls": ["https://www.apexperformanceparts.example/products/new-arrival"]})
    async def submit_urls(self, params: m.SubmitUrlsParams) -> m.SubmitUrlsResult:
        """Ask Bing to crawl these URLs now (IndexNow-style submission). A write: allowed only when
        STORELINK_ALLOW_WRITES names `bing.submit_urls`; refused locally, with nothing sent, when the
        batch exceeds today's remaining quota. Pass `idempotency_key` to make your own retries safe."""
        site = self.site(params.site_url)
        urls = list(dict.fromkeys(u.strip() for u in params.urls))
        _check_on_site(site, urls)
        summary = f"{len(urls)} URL(s) for {site}: " + ", ".join(urls[:3]) + (" …" if len(urls) > 3 else "")

        async def send(key: str) -> m.SubmitUrlsResult:
            quota = await self._quota(site, operation="submit_urls_quota")
            _check_quota(quota, len(urls), now=dt.datetime.fromtimestamp(self.wall(), dt.UTC))
            response = await self.http.request(
                "POST",
                f"{PATH}/SubmitUrlBatch",
                operation="submit_urls",
                json={"siteUrl": site, "urlList": urls},
                write=True,
                idempotent=False,  # Bing honours no idempotency key
            )
            _d(response)
            return m.SubmitUrlsResult(
                site_url=site,
                submitted=urls,
                daily_remaining=quota.daily_remaining - len(urls),
                monthly_remaining=quota.monthly_remaining - len(urls),
            )

        return await self.writes.run(
            "submit_urls",
            params,
            summary=summary,
            effect="received the URLs",
            result_type=m.SubmitUrlsResult,
            send=send,
        )


# -- parsing --------------------------------------------------------------------------------------
def _contract(what: str) -> ConnectorError:
    return contract_error("Bing", what)


def _d(response: UpstreamResponse) -> Any:
    """The ``d`` of ``{"d": …}``; the classifier has already refused a 200 without it."""
    return envelope_field(response, "d", title="Bing", envelope='{"d": …}')


def _list(value: Any) -> list[dict[str, Any]]:
    return object_list(value, title="Bing")


def _int(row: dict[str, Any], key: str) -> int:
    value = row.get(key, 0)
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        raise _contract(f"{key} is not a number") from None


def _float_or_none(value: Any) -> float | None:
    """Positions: Bing sends -1 (or 0) when there is none."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _date(value: Any) -> dt.datetime | None:
    # Stats repeat a few dozen distinct dates thousands of times: parse each string once.
    return _parsed_date(value) if isinstance(value, str) else _parse_date(value)


@lru_cache(maxsize=1024)
def _parsed_date(value: str) -> dt.datetime | None:
    return _parse_date(value)


def _parse_date(value: Any) -> dt.datetime | None:
    try:
        return m.parse_wcf_date(value)
    except ValueError:
        raise _contract(f"{str(value)[:40]!r} is not a WCF date") from None


def _in_range(when: dt.datetime | None, start: dt.date | None, end: dt.date | None) -> bool:
    if when is None:
        return start is None and end is None
    day = when.date()
    return (start is None or day >= start) and (end is None or day <= end)


def _by_date(row: m.TrafficDay | m.CrawlDay) -> dt.datetime:
    return row.date or dt.datetime.min.replace(tzinfo=dt.UTC)


@dataclass(slots=True)
class _KeyRow:
    """A query/page row while filtering and sorting; only the rows returned become DTOs."""

    key: str
    date: dt.datetime | None
    clicks: int
    impressions: int
    click_position: float | None
    impression_position: float | None
    weeks: int = 1

    def dto(self) -> m.KeyStat:
        return m.KeyStat(
            key=self.key,
            date=self.date,
            weeks=self.weeks,
            clicks=self.clicks,
            impressions=self.impressions,
            ctr=round(self.clicks / self.impressions, 4) if self.impressions else 0.0,
            avg_click_position=self.click_position,
            avg_impression_position=self.impression_position,
        )


def _key_row(row: dict[str, Any]) -> _KeyRow:
    clicks = _int(row, "Clicks")
    return _KeyRow(
        key=str(row.get("Query") or ""),
        date=_date(row.get("Date")),
        clicks=clicks,
        impressions=_int(row, "Impressions"),
        click_position=_float_or_none(row.get("AvgClickPosition")) if clicks else None,
        impression_position=_float_or_none(row.get("AvgImpressionPosition")),
    )


def _aggregate(rows: list[_KeyRow]) -> list[_KeyRow]:
    """One row per key: sums, and positions weighted by clicks / impressions."""
    groups: dict[str, list[_KeyRow]] = defaultdict(list)
    for row in rows:
        groups[row.key].append(row)
    out = []
    for key, group in groups.items():
        dates = [r.date for r in group if r.date is not None]
        out.append(
            _KeyRow(
                key=key,
                date=max(dates) if dates else None,
                weeks=len(group),
                clicks=sum(r.clicks for r in group),
                impressions=sum(r.impressions for r in group),
                click_position=_weighted([(r.click_position, r.clicks) for r in group if r.click_position]),
                impression_position=_weighted(
                    [(r.impression_position, r.impressions) for r in group if r.impression_position]
                ),
            )
        )
    return out


def _weighted(pairs: Sequence[tuple[float | None, int]]) -> float | None:
    total = sum(w for _, w in pairs)
    if not total:
        return None
    return round(sum((p or 0.0) * w for p, w in pairs) / total, 1)


def _sort_key(order_by: str) -> Callable[[_KeyRow], tuple[Any, ...]]:
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    if order_by == "date":
        return lambda r: (r.date or epoch, r.clicks, r.impressions, r.key)
    if order_by == "impressions":
        return lambda r: (r.impressions, r.clicks, r.date or epoch, r.key)
    return lambda r: (r.clicks, r.impressions, r.date or epoch, r.key)


def _crawl_day(row: dict[str, Any]) -> m.CrawlDay:
    return m.CrawlDay(
        date=_date(row.get("Date")),
        crawled_pages=_int(row, "CrawledPages"),
        crawl_errors=_int(row, "CrawlErrors"),
        in_index=_int(row, "InIndex"),
        in_links=_int(row, "InLinks"),
        code_2xx=_int(row, "Code2xx"),
        code_301=_int(row, "Code301"),
        code_302=_int(row, "Code302"),
        code_4xx=_int(row, "Code4xx"),
        code_5xx=_int(row, "Code5xx"),
        all_other_codes=_int(row, "AllOtherCodes"),
        blocked_by_robots_txt=_int(row, "BlockedByRobotsTxt"),
        connection_timeout=_int(row, "ConnectionTimeout"),
        dns_failures=_int(row, "DnsFailures"),
    )


# -- submission checks ---------------------------------------------------------------------------------
def _check_on_site(site: str, urls: list[str]) -> None:
    host = (urlsplit(site if "://" in site else f"https://{site}").hostname or "").lower()
    wrong = [
        u for u in urls if urlsplit(u).scheme not in ("http", "https") or (urlsplit(u).hostname or "").lower() != host
    ]
    if wrong:
        raise ConnectorError(
            ErrorKind.INVALID_REQUEST,
            f"{len(wrong)} URL(s) are not absolute URLs on {site} (first: {wrong[0][:100]!r}); Bing accepts only "
            "the site's own URLs. Nothing was sent.",
            retryable=False,
        )


def _check_quota(quota: m.UrlSubmissionQuota, count: int, *, now: dt.datetime) -> None:
    """Bing refuses a whole batch that exceeds the remaining quota, so refuse it here first."""
    if count <= quota.daily_remaining and count <= quota.monthly_remaining:
        return
    midnight = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), dt.UTC)
    left = min(quota.daily_remaining, quota.monthly_remaining)
    scope = "today" if quota.daily_remaining <= quota.monthly_remaining else "this month"
    raise ConnectorError(
        ErrorKind.RATE_LIMITED,
        f"This batch has {count} URLs but Bing accepts only {left} more {scope} (daily {quota.daily_remaining}, "
        f"monthly {quota.monthly_remaining}); nothing was sent. Submit at most {left} now and the rest after the "
        "quota resets (daily at midnight GMT).",
        retryable=False,
        retry_after_s=(midnight - now).total_seconds() if scope == "today" else None,
        upstream_code="UrlSubmissionQuota",
    )
