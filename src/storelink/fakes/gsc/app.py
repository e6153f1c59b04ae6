"""The Search Console fake's app: its routes (sites, sitemaps, Search Analytics, URL inspection),
authentication and site checks, quota charging, and the answers kept for the pages that follow."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import re
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from functools import cached_property
from typing import Any
from urllib.parse import unquote, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from storelink.fakes.base import FakeUpstream
from storelink.fakes.data import DemoStore, ProductStatus, demo_store
from storelink.fakes.faults import Fault, FaultPlan
from storelink.fakes.google_auth import (
    GSC_SCOPES,
    GoogleTokenFake,
    google_error,
    google_fault_response,
    loop_clock,
    with_token_endpoint,
)
from storelink.fakes.gsc.analytics import _Analytics, _Answer, _BadRequest
from storelink.fakes.gsc.quotas import default_limits, load_exceeded, query_load, take
from storelink.fakes.gsc.traffic import DEMO_SITE, PACIFIC, SITE_ORIGIN, GscSignals, GscTraffic

MAX_ROW_LIMIT = 25_000


# Search Console returns only top rows; the fake serves a query's top MAX_DEPTH (a startRow past it
# gets none), which bounds what one query holds in memory whatever its date range and dimensions.
MAX_DEPTH = 100_000


CACHED_ROWS = 200_000  # rows of recent answers kept for the pages that follow


def _encode_page(answer: _Answer, start_row: int, row_limit: int) -> bytes:
    reply: dict[str, Any] = {"responseAggregationType": answer.meta["responseAggregationType"]}
    if page := answer.rows(start_row, start_row + row_limit):
        reply["rows"] = page
    if "metadata" in answer.meta:
        reply["metadata"] = answer.meta["metadata"]
    return json.dumps(reply, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


class GscFake(FakeUpstream):
    name = "gsc"

    def __init__(
        self,
        *,
        faults: FaultPlan | None = None,
        store: DemoStore | None = None,
        sites: Iterable[str] = (DEMO_SITE,),
        tokens: GoogleTokenFake | None = None,
        today: dt.date | None = None,
        load_budget: float = 20_000.0,
        latency_s: float = 0.0,
        max_depth: int = MAX_DEPTH,
        clock: Callable[[], float] = loop_clock,
        wall: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(faults=faults)
        self.clock = clock
        self._wall = wall  # mock mode: the connector's own wall clock, so both agree on the day
        self._wall_anchor: float | None = None
        self.sites = list(dict.fromkeys([*sites, f"{SITE_ORIGIN}/"]))
        self.traffic = GscTraffic(store or demo_store(), today=today or dt.datetime.now(PACIFIC).date())
        self.tokens = tokens or GoogleTokenFake(clock=clock)
        self.load_budget = load_budget
        self.latency_s = latency_s
        self.limits = default_limits()
        self.windows: dict[tuple[str, float, int], int] = Counter()
        self.load: Counter[int] = Counter()
        self.refused: Counter[str] = Counter()
        self.queries = 0
        self.max_depth = max_depth
        self._cache: OrderedDict[str, _Answer] = OrderedDict()
        self._analytics = _Analytics(self.traffic)

    @property
    def signals(self) -> GscSignals:
        return self.traffic.signals

    @property
    def today(self) -> dt.date:
        return self.traffic.today

    def wall(self) -> float:
        if self._wall is not None:
            return self._wall()
        now = self.clock()
        if self._wall_anchor is None:
            self._wall_anchor = time.time() - now
        return self._wall_anchor + now

    # -- routes ------------------------------------------------------------------------------------------
    def routes(self) -> list[BaseRoute]:
        return [
            Route("/webmasters/v3/sites", self.list_sites, methods=["GET"]),
            Route("/webmasters/v3/sites/{site:path}/sitemaps", self.list_sitemaps, methods=["GET"]),
            Route("/webmasters/v3/sites/{site:path}/searchAnalytics/query", self.query, methods=["POST"]),
            Route("/v1/urlInspection/index:inspect", self.inspect, methods=["POST"]),
        ]

    @cached_property
    def app(self) -> ASGIApp:
        return with_token_endpoint(super().app, self.tokens)

    @cached_property
    def _site_pattern(self) -> re.Pattern[str]:
        return re.compile(r"^/webmasters/v3/sites/([^/]+)/")

    def fault_response(self, fault: Fault, plan: FaultPlan) -> Response:
        return google_fault_response(fault, legacy=True, rate_message="Rate Limit Exceeded")

    def _site(self, request: Request) -> str:
        # The raw path keeps %2F; Starlette's path params would have decoded it already.
        raw = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
        match = self._site_pattern.match(raw)
        return unquote(match.group(1)) if match else unquote(request.path_params.get("site", ""))

    def _denied(self, request: Request, site: str | None) -> Response | None:
        if (denied := self.tokens.check_bearer(request, GSC_SCOPES, legacy=True)) is not None:
            return denied
        if site is not None and site not in self.sites:
            return google_error(
                403,
                f"User does not have sufficient permission for site '{site}'. See also: "
                "https://support.google.com/webmasters/answer/2451999.",
                reason="forbidden",
                legacy=True,
            )
        return None

    def _take(self, category: str) -> Response | None:
        """Count one request against the category's windows; 429 when one is full."""
        return take(category, self.limits[category], self.windows, self.refused, self.wall())

    async def list_sites(self, request: Request) -> Response:
        if (denied := self._denied(request, None)) or (denied := self._take("other")):
            return denied
        entries = [
            {"siteUrl": s, "permissionLevel": "siteOwner" if s.startswith("sc-domain:") else "siteFullUser"}
            for s in self.sites
        ]
        entries.append({"siteUrl": "http://old.apexperformanceparts.example/", "permissionLevel": "siteUnverifiedUser"})
        return JSONResponse({"siteEntry": entries})

    def _sitemaps(self) -> dict[str, list[dict[str, Any]]]:
        today = self.traffic.today
        store = self.traffic.store

        def stamp(days_ago: int, hour: int) -> str:
            when = dt.datetime.combine(today - dt.timedelta(days=days_ago), dt.time(hour, 12, 5), dt.UTC)
            return when.strftime("%Y-%m-%dT%H:%M:%S.000Z")

        active = sum(1 for p in store.products if p.status is ProductStatus.ACTIVE)
        children = [
            ("sitemap_products_1.xml?from=1&to=9999", active, 2),
            ("sitemap_pages_1.xml", 6, 0),
            ("sitemap_collections_1.xml", 15, 0),
            ("sitemap_blogs_1.xml", 5, 0),
        ]
        index_path = f"{SITE_ORIGIN}/sitemap.xml"
        child_entries: list[dict[str, Any]] = [
            {
                "path": f"{SITE_ORIGIN}/{name}",
                "lastSubmitted": stamp(40, 9),
                "isPending": False,
                "isSitemapsIndex": False,
                "type": "sitemap",
                "lastDownloaded": stamp(1, 3 + i),
                "warnings": str(warnings),
                "errors": "0",
                "contents": [{"type": "web", "submitted": str(count), "indexed": "0"}],
            }
            for i, (name, count, warnings) in enumerate(children)
        ]
        index = {
            "path": index_path,
            "lastSubmitted": stamp(40, 9),
            "isPending": False,
            "isSitemapsIndex": True,
            "type": "sitemap",
            "lastDownloaded": stamp(1, 2),
            "warnings": str(sum(int(c["warnings"]) for c in child_entries)),
            "errors": "0",
            "contents": [{"type": "web", "submitted": str(sum(c[1] for c in children)), "indexed": "0"}],
        }
        return {"": [index], index_path: child_entries}

    async def list_sitemaps(self, request: Request) -> Response:
        site = self._site(request)
        if (denied := self._denied(request, site)) or (denied := self._take("other")):
            return denied
        wanted = request.query_params.get("sitemapIndex", "")
        listing = self._sitemaps()
        if wanted not in listing:
            return google_error(404, "Sitemap not found.", reason="notFound", legacy=True)
        return JSONResponse({"sitemap": listing[wanted]} if listing[wanted] else {})

    async def query(self, request: Request) -> Response:
        site = self._site(request)
        if (denied := self._denied(request, site)) or (denied := self._take("search_analytics")):
            return denied
        try:
            body = await request.json()
        except ValueError:
            return google_error(400, "Invalid JSON payload received.", reason="parseError", legacy=True)
        if not isinstance(body, dict):
            return google_error(400, "Invalid JSON payload received.", reason="parseError", legacy=True)
        try:
            row_limit = int(body.get("rowLimit", 1000))
            start_row = int(body.get("startRow", 0))
        except (TypeError, ValueError):
            return google_error(400, "rowLimit and startRow must be integers.", reason="invalid", legacy=True)
        if not 1 <= row_limit <= MAX_ROW_LIMIT or start_row < 0:
            return google_error(
                400, f"rowLimit must be between 1 and {MAX_ROW_LIMIT}; startRow ≥ 0.", reason="invalid", legacy=True
            )
        key = json.dumps({k: v for k, v in body.items() if k not in ("rowLimit", "startRow")}, sort_keys=True)
        need = min(start_row + row_limit, self.max_depth)
        answer = self._cache.get(key)
        if answer is None or not answer.serves(need):
            # Enough rows for this page and the next, off the event loop (the fake shares it with
            # the server in mock mode). When the request goes away (its timeout), so does the work.
            depth = min(start_row + 2 * row_limit, self.max_depth)
            gone = threading.Event()
            try:
                answer = await asyncio.to_thread(self._analytics.top, body, depth, gone.is_set)
            except _BadRequest as exc:
                return google_error(400, str(exc), reason="invalid", legacy=True)
            finally:
                gone.set()
        self._remember(key, answer)
        window = int(self.wall() // 600)
        self.load[window] += query_load(body)
        if self.load[window] > self.load_budget:
            self.refused["load"] += 1
            return load_exceeded()
        self.queries += 1
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        # 25,000 rows are ~5 MB of JSON: built and encoded off the loop too.
        content = await asyncio.to_thread(_encode_page, answer, start_row, row_limit)
        return Response(content, media_type="application/json")

    def _remember(self, key: str, answer: _Answer) -> None:
        """Keep recent answers for the pages that follow: at most 8, and :data:`CACHED_ROWS` rows."""
        self._cache[key] = answer
        self._cache.move_to_end(key)
        while len(self._cache) > 1 and (
            len(self._cache) > 8 or sum(len(a.found) for a in self._cache.values()) > CACHED_ROWS
        ):
            self._cache.popitem(last=False)

    async def inspect(self, request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return google_error(400, "Invalid JSON payload received.", reason="parseError", legacy=True)
        site = str(body.get("siteUrl", "")) if isinstance(body, dict) else ""
        if (denied := self._denied(request, site)) or (denied := self._take("inspection")):
            return denied
        url = str(body.get("inspectionUrl", ""))
        host = urlsplit(url).hostname or ""
        domain = site.removeprefix("sc-domain:") if site.startswith("sc-domain:") else None
        inside = (host == domain or host.endswith(f".{domain}")) if domain else url.startswith(site)
        if not inside:
            return google_error(
                403,
                "You do not own this site, or the inspected URL is not part of this property.",
                reason="forbidden",
                legacy=True,
            )
        return JSONResponse({"inspectionResult": self._inspection(url)})

    def _inspection(self, url: str) -> dict[str, Any]:
        store = self.traffic.store
        path = urlsplit(url).path
        today = self.traffic.today
        digest = hashlib.sha256(url.encode()).hexdigest()[:10]
        link = f"https://search.google.com/search-console/inspect?resource_id=sc-domain:apexperformanceparts.example&id={digest}"
        known = url.split("?")[0] in {SITE_ORIGIN + "/", *self.traffic.pages} or path in ("", "/")
        product = next((p for p in store.products if path == f"/products/{p.handle}"), None)
        crawled = dt.datetime.combine(today - dt.timedelta(days=3 + len(path) % 9), dt.time(8, 14), dt.UTC)
        base = {
            "robotsTxtState": "ALLOWED",
            "indexingState": "INDEXING_ALLOWED",
            "lastCrawlTime": crawled.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "pageFetchState": "SUCCESSFUL",
            "googleCanonical": url,
            "userCanonical": url,
            "crawledAs": "MOBILE",
            "sitemap": [f"{SITE_ORIGIN}/sitemap.xml"],
            "referringUrls": [],
        }
        if product is not None and product.status is not ProductStatus.ACTIVE:
            index = {**base, "verdict": "FAIL", "coverageState": "Not found (404)", "pageFetchState": "NOT_FOUND"}
            index.pop("googleCanonical")
        elif url in self.traffic.signals.not_indexed:
            index = {**base, "verdict": "NEUTRAL", "coverageState": "Crawled - currently not indexed"}
            index.pop("googleCanonical")
        elif product is not None or known:
            index = {**base, "verdict": "PASS", "coverageState": "Submitted and indexed"}
        else:
            index = {"verdict": "NEUTRAL", "coverageState": "URL is unknown to Google"}
        result: dict[str, Any] = {
            "inspectionResultLink": link,
            "indexStatusResult": index,
            "mobileUsabilityResult": {"verdict": "VERDICT_UNSPECIFIED"},
        }
        if product is not None and product.status is ProductStatus.ACTIVE:
            result["richResultsResult"] = {
                "verdict": "PASS",
                "detectedItems": [{"richResultType": "Product snippets", "items": [{"name": product.title}]}],
            }
        return result
