"""Google Search Console connector: search analytics (paged past 25,000 rows), sites, sitemaps,
URL inspection.

One connector serves one site (``GSC_SITE_URL``: ``sc-domain:example.com`` or a URL-prefix
property such as ``https://www.example.com/``), which is URL-encoded into every path. Dates are
Pacific time, as the API counts them; ``days`` ends three days ago for final data (Google's
usual lag) or yesterday with ``data_state=all``. Pacing: :mod:`storelink.connectors.gsc.pacing`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from pydantic import TypeAdapter

from storelink.auth.google import (
    WEBMASTERS_READONLY,
)
from storelink.connectors.base import ConnectorContext, NoParams, operation
from storelink.connectors.ga4.errors import PACIFIC
from storelink.connectors.google import GoogleConnector
from storelink.connectors.gsc import models as m
from storelink.connectors.gsc.errors import GscClassifier
from storelink.connectors.gsc.pacing import GscLimiter
from storelink.connectors.gsc.shared_quota import SharedGscLimiter
from storelink.connectors.progress import report_progress
from storelink.errors import ConnectorError, ErrorKind
from storelink.resilience.classify import Classifier
from storelink.resilience.limiter import RateLimiter
from storelink.store_calendar import StoreCalendar
from storelink.stores import ConnectorSettings, GscSettings, settings_as

__all__ = ["API_HOST", "DEMO_SITE", "FINAL_LAG_DAYS", "GscConnector"]

API_HOST = "searchconsole.googleapis.com"
DEMO_SITE = "sc-domain:apexperformanceparts.example"
ACCEPTED_SCOPES = (WEBMASTERS_READONLY, "https://www.googleapis.com/auth/webmasters")
FINAL_LAG_DAYS = 3  # final data is typically 2-3 days behind
FINAL_TTL_S = 6 * 3600.0  # final data for closed days does not change
# One validation call per page (pydantic-core loops): 25,000 rows one by one cost more than the request.
_ROWS = TypeAdapter(list[m.SearchRow])


def _search_rows(page: list[dict[str, Any]], dims: Sequence[str]) -> list[m.SearchRow]:
    """One page's rows as models (one validation call: pydantic-core loops)."""
    return _ROWS.validate_python(
        [
            {
                "keys": dict(zip(dims, [str(k) for k in row.get("keys") or []], strict=False)),
                "clicks": row.get("clicks") or 0,
                "impressions": row.get("impressions") or 0,
                "ctr": row.get("ctr") or 0.0,
                "position": row.get("position") or 0.0,
            }
            for row in page
        ]
    )


def _out_of_time(err: ConnectorError, params: m.SearchAnalyticsParams, deadline_s: float) -> ConnectorError:
    """The first page did not come within the deadline: say what makes the query lighter."""
    if err.kind is not ErrorKind.TIMEOUT:
        return err
    days = params.days if params.start_date is None else "a custom range"
    return ConnectorError(
        ErrorKind.TIMEOUT,
        f"Search Console did not return the first rows within the call's {deadline_s:g} s deadline. Ask for "
        f"less: fewer days (now {days}), fewer dimensions (now {len(params.dimensions)}) or a smaller "
        "row_limit; or raise STORELINK_GSC_DEADLINE.",
        retryable=False,
        request_id=err.request_id,
    )


def _int(value: Any) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return 0


class GscConnector(GoogleConnector):
    name = "gsc"
    title = "Google Search Console"
    scope = WEBMASTERS_READONLY
    accepted_scopes = ACCEPTED_SCOPES
    probe = ("list_sites", {})

    settings_type = GscSettings
    config: GscSettings

    @classmethod
    def missing_settings(cls, config: ConnectorSettings) -> list[str]:
        gsc = settings_as(config, GscSettings)
        return ([] if gsc.site_url else ["GSC_SITE_URL"]) + gsc.google.missing()

    @classmethod
    def live_base_url(cls, config: ConnectorSettings) -> str:
        return f"https://{API_HOST}"

    def __init__(self, ctx: ConnectorContext) -> None:
        self.site_url = (settings_as(ctx.config, GscSettings).site_url or DEMO_SITE).strip()
        super().__init__(ctx)

    def make_classifier(self) -> Classifier:
        return GscClassifier(
            site_url=self.site_url,
            wall=self.wall,
            title=self.title,
            connector=self.name,
            credential_hint=self.credential_hint,
        )

    def make_limiter(self) -> RateLimiter:
        self.pacer = GscLimiter(
            clock=self.clock,
            wall=self.wall,
            rate=self.knobs.rate_limit,
            burst=self.knobs.rate_burst,
            shared_form=SharedGscLimiter.over,
        )
        return self.pacer

    def credential_partition(self) -> str:
        return f"{self.site_url}|{self._partition}"

    def today(self) -> dt.date:
        """Today in Pacific time, the day Search Console's dates are counted in."""
        return StoreCalendar(self.wall, PACIFIC).today()

    @property
    def site_path(self) -> str:
        return f"/webmasters/v3/sites/{quote(self.site_url, safe='')}"

    async def _call(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        json: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        cache_ttl_s: float | None = None,
    ) -> dict[str, Any]:
        response = await self.http.request(
            method, path, operation=operation, json=json, params=params, cache_ttl_s=cache_ttl_s
        )
        data = response.json() if response.content else {}
        if not isinstance(data, dict):
            raise ConnectorError(
                ErrorKind.UPSTREAM_ERROR,
                "Search Console answered with a body that is not a JSON object; retry later.",
                request_id=response.report.request_id,
            )
        return data

    def date_range(self, params: m.SearchAnalyticsParams) -> tuple[dt.date, dt.date]:
        if params.start_date and params.end_date:
            return params.start_date, params.end_date
        lag = FINAL_LAG_DAYS if params.data_state == "final" else 1
        end = self.today() - dt.timedelta(days=lag)
        return end - dt.timedelta(days=params.days - 1), end

    # -- operations ------------------------------------------------------------------------------------
    @operation(example={"days": 28, "dimensions": "query,page", "filters": "query~brake pads", "row_limit": 50})
    async def search_analytics(self, params: m.SearchAnalyticsParams) -> m.SearchAnalyticsResult:
        """Clicks, impressions, CTR and average position, grouped by `dimensions` (query, page,
        country, device, date, hour; or searchAppearance alone) over the last `days` days.

        `filters` like `query~brake pads`, `page=~/products/`, `country=usa`; `search_type` web,
        image, video, news, discover, googleNews; `row_limit` rows in all, at most 25,000 a call
        (in pages of `page_size`, with progress). The call's deadline (STORELINK_GSC_DEADLINE) covers every
        page: when it runs out after some pages, the rows read come back `truncated`, with
        `next_start_row` to continue from and a `note`. Scope: webmasters.readonly."""
        start, end = self.date_range(params)
        body: dict[str, Any] = {
            "startDate": start.isoformat(),
            "endDate": end.isoformat(),
            "dimensions": list(params.dimensions),
            "type": params.search_type,
            "dataState": params.data_state,
            "aggregationType": params.aggregation_type,
        }
        if params.filters:
            body["dimensionFilterGroups"] = [{"groupType": "and", "filters": [f.wire() for f in params.filters]}]
        closed = params.data_state == "final" and end <= self.today() - dt.timedelta(days=FINAL_LAG_DAYS + 1)
        rows: list[m.SearchRow] = []
        start_row = params.start_row
        requests = 0
        full_page = False
        note: str | None = None
        first: dict[str, Any] = {}
        while len(rows) < params.row_limit:
            size = min(params.page_size, params.row_limit - len(rows))
            try:
                data = await self._call(
                    "POST",
                    f"{self.site_path}/searchAnalytics/query",
                    operation="search_analytics",
                    json={**body, "rowLimit": size, "startRow": start_row},
                    cache_ttl_s=FINAL_TTL_S if closed else None,
                )
            except ConnectorError as err:
                if err.kind not in (ErrorKind.TIMEOUT, ErrorKind.RATE_LIMITED):
                    raise
                if not rows:
                    raise _out_of_time(err, params, self.knobs.deadline) from None
                # The deadline (or the quota) ran out between pages: what was read stands.
                full_page = True
                note = (
                    f"Stopped after {len(rows):,} rows ({requests} request(s)): {err.message} Call again with "
                    f"start_row={start_row} and the same other parameters for the next rows."
                )
                break
            requests += 1
            first = first or data
            page = data.get("rows") or []
            # 25,000 rows take a while to validate: off the event loop, which serves everyone else.
            rows.extend(await asyncio.to_thread(_search_rows, page, params.dimensions))
            await report_progress(len(rows), None, f"{len(rows)} rows read ({requests} request(s))")
            full_page = len(page) == size
            if not full_page:
                break
            start_row += len(page)
        truncated = full_page and (note is not None or len(rows) >= params.row_limit)
        return m.SearchAnalyticsResult(
            site_url=self.site_url,
            start_date=start,
            end_date=end,
            dimensions=list(params.dimensions),
            search_type=params.search_type,
            rows=rows,
            requests=requests,
            truncated=truncated,
            next_start_row=params.start_row + len(rows) if truncated else None,
            note=note,
            response_aggregation_type=first.get("responseAggregationType"),
            first_incomplete_date=(first.get("metadata") or {}).get("firstIncompleteDate"),
            first_incomplete_hour=(first.get("metadata") or {}).get("firstIncompleteHour"),
        )

    @operation(example={})
    async def list_sites(self, params: NoParams) -> m.SiteList:
        """The Search Console properties these credentials can see, with the permission on each."""
        data = await self._call("GET", "/webmasters/v3/sites", operation="list_sites")
        return m.SiteList(
            sites=[
                m.Site(site_url=str(e.get("siteUrl", "")), permission_level=str(e.get("permissionLevel", "")))
                for e in data.get("siteEntry") or []
            ]
        )

    @operation(example={})
    async def list_sitemaps(self, params: m.SitemapsParams) -> m.SitemapList:
        """The site's submitted sitemaps: when submitted and read, warnings, errors, URLs submitted."""
        query = {"sitemapIndex": params.sitemap_index} if params.sitemap_index else None
        data = await self._call("GET", f"{self.site_path}/sitemaps", operation="list_sitemaps", params=query)
        sitemaps = [
            m.Sitemap(
                path=str(s.get("path", "")),
                last_submitted=s.get("lastSubmitted"),
                last_downloaded=s.get("lastDownloaded"),
                is_pending=bool(s.get("isPending")),
                is_sitemaps_index=bool(s.get("isSitemapsIndex")),
                type=s.get("type"),
                warnings=_int(s.get("warnings")),
                errors=_int(s.get("errors")),
                contents=[
                    m.SitemapContent(type=str(c.get("type", "")), submitted=_int(c.get("submitted")))
                    for c in s.get("contents") or []
                ],
            )
            for s in data.get("sitemap") or []
        ]
        return m.SitemapList(site_url=self.site_url, sitemaps=sitemaps)

    def absolute_url(self, url: str) -> str:
        if url.startswith(("http://", "https://")):
            return url
        if self.site_url.startswith("sc-domain:"):
            base = self.config.website or f"https://www.{self.site_url.removeprefix('sc-domain:')}"
        else:
            base = self.site_url
        return base.rstrip("/") + "/" + url.lstrip("/")

    @operation(example={"url": "/"})
    async def inspect_url(self, params: m.InspectParams) -> m.InspectionResult:
        """Google's index status of one page of the site: verdict, coverage, last crawl, canonicals.
        Limited to 600 a minute and 2,000 a day per site."""
        url = self.absolute_url(params.url)
        data = await self._call(
            "POST",
            "/v1/urlInspection/index:inspect",
            operation="inspect_url",
            json={"inspectionUrl": url, "siteUrl": self.site_url, "languageCode": params.language_code},
            cache_ttl_s=3600.0,
        )
        result = data.get("inspectionResult") or {}
        index = result.get("indexStatusResult") or {}
        return m.InspectionResult(
            url=url,
            verdict=str(index.get("verdict") or "VERDICT_UNSPECIFIED"),
            coverage_state=index.get("coverageState"),
            robots_txt_state=index.get("robotsTxtState"),
            indexing_state=index.get("indexingState"),
            page_fetch_state=index.get("pageFetchState"),
            last_crawl_time=index.get("lastCrawlTime"),
            google_canonical=index.get("googleCanonical"),
            user_canonical=index.get("userCanonical"),
            crawled_as=index.get("crawledAs"),
            sitemaps=list(index.get("sitemap") or []),
            referring_urls=list(index.get("referringUrls") or []),
            mobile_usability_verdict=(result.get("mobileUsabilityResult") or {}).get("verdict"),
            rich_results_verdict=(result.get("richResultsResult") or {}).get("verdict"),
            inspection_link=result.get("inspectionResultLink"),
        )
