"""A faithful local Bing Webmaster Tools API (JSON endpoint), serving the demo store's site.

Contract (api-facts.md §4): ``/webmaster/api.svc/json/{Method}?apikey=KEY&siteUrl=…``; success is
HTTP 200 ``{"d": …}`` with ``__type`` on objects and WCF dates (``/Date(ms-0800)/``); every error
is HTTP 400 ``{"ErrorCode": n, "Message": "ERROR!!! Name"}``; gateway faults (5xx) are HTML.
Stats methods take no date range and return the whole retained history: query and page stats in
weekly buckets, traffic and crawl stats daily, about six months of each.

The numbers follow the demo store: Bing's daily clicks track the store's daily orders, pages are
the store's product, collection and home URLs weighted by what sold, and queries are built from
the store's product types, vendors, lines and vehicle fitments. Each week's page clicks add up to
that week's daily clicks; query clicks cover most of them (the rest is Bing's anonymous share).

Choices where the facts are silent [INF]: week buckets start on Fridays at midnight Pacific (as in
Microsoft's sample date); a batch larger than the remaining quota is refused with ErrorCode 13
(NotAllowed); an unknown method is a 404 HTML page and a wrong verb a 405; a ``siteUrl`` that is
not the user's is ErrorCode 14 (NotAuthorized). Throttling faults (``429`` in a FaultPlan) answer
ErrorCode 4 (ThrottleUser), expired-token faults (``401``) ErrorCode 3 (InvalidApiKey).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from storelink.fakes.base import FakeUpstream
from storelink.fakes.data import DemoStore, ProductStatus, demo_store
from storelink.fakes.faults import Fault, FaultPlan

__all__ = ["BING_HOST", "DEMO_API_KEY", "DEMO_SITE_URL", "BingFake", "bing_traffic", "wcf_date"]

BING_HOST = "ssl.bing.com"
PATH = "/webmaster/api.svc/json"
# The fake's public demo credential (mock mode); real keys are 32 hex characters too.
DEMO_API_KEY = "demo0000bing0000webmaster0000key"
DEMO_SITE_URL = "https://www.apexperformanceparts.example/"
OTHER_SITE_URL = "https://blog.apexperformanceparts.example/"
HISTORY_DAYS = 182
MAX_BATCH = 500
NS = "Microsoft.Bing.Webmaster.Api"
JSON_TYPE = "application/json; charset=utf-8"


# -- dates --------------------------------------------------------------------------------------------
def _pacific_is_dst(day: dt.date) -> bool:
    """US rule: from the second Sunday of March to the first Sunday of November."""
    march = dt.date(day.year, 3, 1)
    start = march + dt.timedelta(days=(6 - march.weekday()) % 7 + 7)
    november = dt.date(day.year, 11, 1)
    end = november + dt.timedelta(days=(6 - november.weekday()) % 7)
    return start <= day < end


def wcf_date(day: dt.date) -> str:
    """Midnight Pacific of ``day`` in WCF form: ``/Date(<UTC ms>-0800)/``."""
    hours = 7 if _pacific_is_dst(day) else 8
    instant = dt.datetime(day.year, day.month, day.day, hours, tzinfo=dt.UTC)
    return f"/Date({int(instant.timestamp() * 1000)}-0{hours}00)/"


# -- the traffic model ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class KeyRow:
    key: str
    week: dt.date
    clicks: int
    impressions: int
    click_position: int  # -1 without clicks
    impression_position: int


@dataclass(frozen=True, slots=True)
class DayRow:
    day: dt.date
    clicks: int
    impressions: int


@dataclass(frozen=True)
class BingTraffic:
    site_url: str
    days: tuple[DayRow, ...]
    weeks: tuple[dt.date, ...]
    pages: tuple[KeyRow, ...]
    queries: tuple[KeyRow, ...]
    crawl: tuple[dict[str, Any], ...]


def _slug(text: str) -> str:
    out = "".join(c.lower() if c.isalnum() else "-" for c in text)
    return "-".join(filter(None, out.split("-")))


def _allocate(total: int, weights: dict[str, float]) -> dict[str, int]:
    """Split ``total`` over keys by weight, exactly (largest remainder)."""
    positive = {k: w for k, w in weights.items() if w > 0}
    mass = sum(positive.values())
    if total <= 0 or mass <= 0:
        return {}
    shares = {k: total * w / mass for k, w in positive.items()}
    out = {k: int(s) for k, s in shares.items()}
    left = total - sum(out.values())
    for k in sorted(shares, key=lambda k: (shares[k] - out[k], k), reverse=True)[:left]:
        out[k] += 1
    return out


@lru_cache(maxsize=2)
def bing_traffic(today: dt.date | None = None, seed: int | None = None) -> BingTraffic:
    """The site's Bing history, derived from the demo store (cached; deterministic)."""
    store = demo_store() if today is None or seed is None else demo_store(today, seed)
    return _build(store)


def _build(store: DemoStore) -> BingTraffic:
    rng = random.Random(store.seed ^ 0xB1B6)
    base = store.shop.primary_url
    last = store.today - dt.timedelta(days=1)  # Bing reports up to yesterday
    first = last - dt.timedelta(days=HISTORY_DAYS - 1)

    days: list[DayRow] = []
    for i in range(HISTORY_DAYS):
        day = first + dt.timedelta(days=i)
        start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
        orders = len(store.orders_between(start, start + dt.timedelta(days=1)))
        clicks = max(0, round(orders * 2.0 * rng.uniform(0.8, 1.2)) + rng.randint(2, 6))
        impressions = clicks * rng.randint(22, 38) + rng.randint(20, 80)
        days.append(DayRow(day, clicks, impressions))

    # What sold in the window weights each product page.
    sold: dict[int, int] = defaultdict(int)
    window_start = dt.datetime(first.year, first.month, first.day, tzinfo=dt.UTC)
    for order in store.orders_between(window_start, store.as_of):
        for line in order.line_items:
            sold[line.product_id] += line.quantity
    active = [p for p in store.products if p.status is ProductStatus.ACTIVE]
    page_weight: dict[str, float] = {f"{base}/": 40.0 + len(active) * 0.2}
    type_weight: dict[str, float] = defaultdict(float)
    for p in active:
        w = 1.0 + sold.get(p.id, 0)
        page_weight[f"{base}/products/{p.handle}"] = w
        type_weight[p.product_type] += w
    for product_type, w in type_weight.items():
        page_weight[f"{base}/collections/{_slug(product_type)}"] = w * 0.35

    query_weight: dict[str, float] = defaultdict(float)
    query_weight["apex performance parts"] += 30.0
    for p in active:
        w = 1.0 + sold.get(p.id, 0)
        kind = p.product_type.lower()
        make_model = p.fitment.split("(")[0].strip().lower()
        query_weight[kind] += w * 0.25
        query_weight[p.vendor.lower()] += w * 0.15
        query_weight[f"{p.vendor.split()[0].lower()} {p.line.lower()} {kind}"] += w * 0.3
        if "series" not in make_model:
            query_weight[f"{kind} {make_model}"] += w * 0.3
    top_pages = dict(sorted(page_weight.items(), key=lambda kv: (-kv[1], kv[0]))[:100])
    top_queries = dict(sorted(query_weight.items(), key=lambda kv: (-kv[1], kv[0]))[:120])
    positions = {k: rng.randint(2, 28) for k in sorted({*top_pages, *top_queries})}

    # Weeks start on Fridays (Bing's sample date is a Friday).
    week0 = first - dt.timedelta(days=(first.weekday() - 4) % 7)
    weeks = []
    week = week0
    while week <= last:
        weeks.append(week)
        week += dt.timedelta(days=7)
    pages: list[KeyRow] = []
    queries: list[KeyRow] = []
    for week in weeks:
        in_week = [d for d in days if week <= d.day < week + dt.timedelta(days=7)]
        clicks = sum(d.clicks for d in in_week)
        impressions = sum(d.impressions for d in in_week)
        jitter = {k: w * rng.uniform(0.6, 1.4) for k, w in top_pages.items()}
        pages += _rows(week, _allocate(clicks, jitter), _allocate(impressions, jitter), positions, rng)
        qjitter = {k: w * rng.uniform(0.6, 1.4) for k, w in top_queries.items()}
        known = math.floor(clicks * 0.9)
        queries += _rows(
            week, _allocate(known, qjitter), _allocate(math.floor(impressions * 0.9), qjitter), positions, rng
        )

    archived = sum(1 for p in store.products if p.status is ProductStatus.ARCHIVED)
    crawl = tuple(_crawl_day(d.day, len(active) + len(type_weight) + 1, archived, store.today, rng) for d in days)
    return BingTraffic(f"{base}/", tuple(days), tuple(weeks), tuple(pages), tuple(queries), crawl)


def _rows(
    week: dt.date, clicks: dict[str, int], impressions: dict[str, int], positions: dict[str, int], rng: random.Random
) -> list[KeyRow]:
    rows = []
    for key in sorted(impressions):
        shown = impressions[key] + clicks.get(key, 0)  # every click had an impression
        got = clicks.get(key, 0)
        position = positions[key]
        rows.append(KeyRow(key, week, got, shown, max(1, position - rng.randint(0, 2)) if got else -1, position))
    return rows


def _crawl_day(day: dt.date, pages: int, archived: int, today: dt.date, rng: random.Random) -> dict[str, Any]:
    code4xx = rng.randint(0, max(1, archived // 4))
    code5xx = 1 if rng.random() < 0.05 else 0
    timeouts = 1 if rng.random() < 0.03 else 0
    code301 = rng.randint(0, 6)
    code302 = rng.randint(0, 2)
    code2xx = rng.randint(120, 380)
    age = (today - day).days
    return {
        "__type": f"CrawlStats:#{NS}",
        "AllOtherCodes": 0,
        "BlockedByRobotsTxt": 4,  # /cart, /checkout, /account, /search
        "Code2xx": code2xx,
        "Code301": code301,
        "Code302": code302,
        "Code4xx": code4xx,
        "Code5xx": code5xx,
        "ConnectionTimeout": timeouts,
        "CrawledPages": code2xx + code301 + code302 + code4xx + code5xx,
        "CrawlErrors": code4xx + code5xx + timeouts,
        "Date": wcf_date(day),
        "DnsFailures": 0,
        "InIndex": pages - age // 60,
        "InLinks": 1400 - age * 2 + rng.randint(0, 9),
    }


def _key_json(row: KeyRow) -> dict[str, Any]:
    return {
        "__type": f"QueryStats:#{NS}",
        "AvgClickPosition": row.click_position,
        "AvgImpressionPosition": row.impression_position,
        "Clicks": row.clicks,
        "Date": wcf_date(row.week),
        "Impressions": row.impressions,
        "Query": row.key,
    }


# -- the app ---------------------------------------------------------------------------------------------
class BingFake(FakeUpstream):
    name = "bing"

    def __init__(
        self,
        *,
        faults: FaultPlan | None = None,
        api_keys: frozenset[str] = frozenset({DEMO_API_KEY}),
        daily_quota: int = 100,
        monthly_quota: int = 3100,
        store: DemoStore | None = None,
    ) -> None:
        super().__init__(faults=faults)
        self.api_keys = api_keys
        self.traffic = bing_traffic(store.today, store.seed) if store is not None else bing_traffic()
        self.sites = {DEMO_SITE_URL: True, OTHER_SITE_URL: False}  # url -> verified
        self.daily_remaining = daily_quota
        self.monthly_remaining = monthly_quota
        self.submissions: list[list[str]] = []
        # The history never changes: encode each list once.
        self._encoded: dict[str, bytes] = {}

    @property
    def submitted(self) -> list[str]:
        return [url for batch in self.submissions for url in batch]

    def routes(self) -> list[BaseRoute]:
        return [Route(PATH + "/{method}", self.dispatch, methods=["GET", "POST", "PUT", "DELETE"])]

    # -- wire shapes -----------------------------------------------------------------------------------
    @staticmethod
    def ok(result: Any) -> Response:
        return Response(json.dumps({"d": result}, separators=(",", ":")), 200, media_type=JSON_TYPE)

    def ok_cached(self, name: str, build: Callable[[], Any]) -> Response:
        body = self._encoded.get(name)
        if body is None:
            body = self._encoded[name] = json.dumps({"d": build()}, separators=(",", ":")).encode()
        return Response(body, 200, media_type=JSON_TYPE)

    @staticmethod
    def error(code: int, name: str, detail: str = "") -> Response:
        message = f"ERROR!!! {name}" + (f": {detail}" if detail else "")
        return Response(json.dumps({"ErrorCode": code, "Message": message}), 400, media_type=JSON_TYPE)

    def fault_response(self, fault: Fault, plan: FaultPlan) -> Response:
        if fault is Fault.RATE_LIMITED:
            return self.error(4, "ThrottleUser")
        if fault is Fault.EXPIRED_TOKEN:
            return self.error(3, "InvalidApiKey")
        status = int(fault.value)
        return HTMLResponse(f"<html><body><h1>{status} Gateway Error</h1></body></html>", status)

    # -- dispatch --------------------------------------------------------------------------------------
    async def dispatch(self, request: Request) -> Response:
        method = request.path_params["method"]
        handlers = {
            "GetUserSites": ("GET", self.get_user_sites),
            "GetQueryStats": ("GET", self.get_query_stats),
            "GetPageStats": ("GET", self.get_page_stats),
            "GetRankAndTrafficStats": ("GET", self.get_rank_and_traffic_stats),
            "GetCrawlStats": ("GET", self.get_crawl_stats),
            "GetUrlSubmissionQuota": ("GET", self.get_url_submission_quota),
            "SubmitUrl": ("POST", self.submit_url),
            "SubmitUrlBatch": ("POST", self.submit_url_batch),
        }
        found = handlers.get(method)
        if found is None:
            return HTMLResponse("<html><body>Endpoint not found.</body></html>", 404)
        verb, handler = found
        if request.method != verb:
            return HTMLResponse("<html><body>Method not allowed.</body></html>", 405)
        if request.query_params.get("apikey") not in self.api_keys:
            return self.error(3, "InvalidApiKey")
        return await handler(request)

    async def _site(self, request: Request, body: dict[str, Any] | None = None) -> str | Response:
        site = (body or {}).get("siteUrl") if body is not None else request.query_params.get("siteUrl")
        if not isinstance(site, str) or not site:
            return self.error(8, "InvalidParameter", "siteUrl")
        normalised = site.rstrip("/") + "/"
        if normalised not in self.sites or not self.sites[normalised]:
            return self.error(14, "NotAuthorized")
        return normalised

    async def get_user_sites(self, request: Request) -> Response:
        return self.ok(
            [
                {
                    "__type": f"Site:#{NS}",
                    "AuthenticationCode": hashlib.md5(url.encode(), usedforsecurity=False).hexdigest().upper(),
                    "DnsVerificationCode": "verify-"
                    + hashlib.md5(url[::-1].encode(), usedforsecurity=False).hexdigest()[:8],
                    "IsVerified": verified,
                    "Url": url,
                }
                for url, verified in self.sites.items()
            ]
        )

    async def get_query_stats(self, request: Request) -> Response:
        site = await self._site(request)
        if isinstance(site, Response):
            return site
        return self.ok_cached("queries", lambda: [_key_json(r) for r in self.traffic.queries])

    async def get_page_stats(self, request: Request) -> Response:
        site = await self._site(request)
        if isinstance(site, Response):
            return site
        return self.ok_cached("pages", lambda: [_key_json(r) for r in self.traffic.pages])

    async def get_rank_and_traffic_stats(self, request: Request) -> Response:
        site = await self._site(request)
        if isinstance(site, Response):
            return site
        return self.ok(
            [
                {
                    "__type": f"RankAndTrafficStats:#{NS}",
                    "Clicks": d.clicks,
                    "Date": wcf_date(d.day),
                    "Impressions": d.impressions,
                }
                for d in self.traffic.days
            ]
        )

    async def get_crawl_stats(self, request: Request) -> Response:
        site = await self._site(request)
        if isinstance(site, Response):
            return site
        return self.ok(list(self.traffic.crawl))

    async def get_url_submission_quota(self, request: Request) -> Response:
        site = await self._site(request)
        if isinstance(site, Response):
            return site
        return self.ok(
            {
                "__type": f"UrlSubmissionQuota:#{NS}",
                "DailyQuota": self.daily_remaining,
                "MonthlyQuota": self.monthly_remaining,
            }
        )

    async def _body(self, request: Request) -> dict[str, Any] | Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return self.error(8, "InvalidParameter", "body is not JSON")
        return body if isinstance(body, dict) else self.error(8, "InvalidParameter", "body is not an object")

    async def submit_url(self, request: Request) -> Response:
        body = await self._body(request)
        if isinstance(body, Response):
            return body
        return await self._submit(request, body, [body.get("url")])

    async def submit_url_batch(self, request: Request) -> Response:
        body = await self._body(request)
        if isinstance(body, Response):
            return body
        urls = body.get("urlList")
        if not isinstance(urls, list) or not urls or len(urls) > MAX_BATCH:
            return self.error(8, "InvalidParameter", f"urlList must hold 1 to {MAX_BATCH} URLs")
        return await self._submit(request, body, urls)

    async def _submit(self, request: Request, body: dict[str, Any], urls: list[Any]) -> Response:
        site = await self._site(request, body)
        if isinstance(site, Response):
            return site
        host = urlsplit(site).hostname
        for url in urls:
            if (
                not isinstance(url, str)
                or urlsplit(url).scheme not in ("http", "https")
                or urlsplit(url).hostname != host
            ):
                return self.error(7, "InvalidUrl")
        if len(urls) > self.daily_remaining or len(urls) > self.monthly_remaining:
            return self.error(
                13, "NotAllowed", f"Quota remaining for today: {self.daily_remaining}, Submitted: {len(urls)}"
            )
        self.daily_remaining -= len(urls)
        self.monthly_remaining -= len(urls)
        self.submissions.append(list(urls))
        return self.ok(None)
