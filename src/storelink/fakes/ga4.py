"""The GA4 Data API v1beta, faked over a year of traffic consistent with the demo store.

Routes (api-facts.md §2): ``POST /v1beta/properties/{id}:runReport``, ``…:runRealtimeReport``,
``GET /v1beta/properties/{id}/metadata``; the Google token endpoint is mounted beside them
(:class:`~storelink.fakes.google_auth.GoogleTokenFake`), so one in-process app answers a
connector's API calls and token exchanges alike.

Data (built from :func:`storelink.fakes.data.demo_store`, dates in the property's time zone, the
shop's ``America/New_York``): per day, **transactions and revenue equal the demo store's orders**
(count and ``current_total_price``); sessions, users, engagement and page views follow from them
with a weekly cycle and noise. Three cubes can be asked for, as in GA4 where scopes do not mix:

* sessions: date, sessionDefaultChannelGroup, sessionSource, sessionMedium, sessionSourceMedium,
  deviceCategory, country × sessions, totalUsers, newUsers, activeUsers, engagedSessions,
  screenPageViews, userEngagementDuration, keyEvents (= conversions), transactions,
  ecommercePurchases, purchaseRevenue, totalRevenue and the rates. Splits are integer
  apportionments (largest remainder), so a split always adds up to the day's total; the country
  split of transactions and revenue is the orders' own shipping countries.
* pages: date, pagePath, pageTitle, hostName × screenPageViews, activeUsers, totalUsers,
  sessions, userEngagementDuration.
* items: date, itemId (the Shopify product id), itemName, itemCategory, itemBrand × itemsViewed,
  itemsAddedToCart, itemsPurchased (the orders' units, exactly), itemRevenue.

Asking across cubes answers 400 as GA4 does for incompatible fields. Planted for analytics
(:attr:`Ga4Fake.signals`): product pages with many views and few purchases (dead stock that still
draws visitors).

Quotas, with the real numbers per property (§2.4; :class:`QuotaLimits`): tokens per day (reset at
midnight Pacific), per hour and per project per hour (reset at the full hour), server errors per
hour, and concurrency: a request arriving while ``concurrent`` are already in flight is refused
with 429 ``Exhausted concurrent requests quota.``. Any exhausted bucket refuses every request with
its message. Every 5xx the app answers, injected faults included, counts as a server error.
:attr:`Ga4Fake.peak_in_flight` is the most requests it ever had in flight for one property;
``GET /_fake/quota`` reports it with the most server errors in an hour and the refusals, and
``DELETE /_fake/quota`` starts the counts (and the quotas) afresh.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import math
import random
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storelink.fakes.base import FakeUpstream
from storelink.fakes.data import DemoStore, ProductStatus, demo_store
from storelink.fakes.faults import Fault, FaultPlan
from storelink.fakes.google_auth import (
    ANALYTICS_SCOPES,
    GoogleTokenFake,
    google_error,
    google_fault_response,
    loop_clock,
    with_token_endpoint,
)

__all__ = ["DEMO_PROPERTY_ID", "Ga4Fake", "Ga4Signals", "QuotaLimits", "apportion"]

DEMO_PROPERTY_ID = "412345678"
HOST = "www.apexperformanceparts.example"
PACIFIC = ZoneInfo("America/Los_Angeles")
_PROPERTY_PATH = re.compile(r"^/v1beta/properties/([^/:]+)(?::(runReport|runRealtimeReport)|/(metadata))$")


@dataclass(frozen=True, slots=True)
class QuotaLimits:
    tokens_per_day: int = 200_000
    tokens_per_hour: int = 40_000
    tokens_per_project_per_hour: int = 14_000
    concurrent: int = 10
    server_errors_per_hour: int = 10
    thresholded_per_hour: int = 120

    @classmethod
    def analytics_360(cls) -> QuotaLimits:
        return cls(2_000_000, 400_000, 140_000, 50, 50, 120)


@dataclass(frozen=True, slots=True)
class Ga4Signals:
    """Ground truth planted in the traffic, for tests and analytics."""

    viewed_not_bought: tuple[int, ...]  # product ids: many product-page views, (almost) no purchases


def apportion(total: int, weights: Sequence[float]) -> list[int]:
    """Split ``total`` into integers proportional to ``weights`` that add up to it (largest remainder)."""
    mass = sum(weights)
    if total <= 0 or mass <= 0:
        return [0] * len(weights)
    exact = [total * w / mass for w in weights]
    parts = [int(x) for x in exact]
    short = total - sum(parts)
    for i in sorted(range(len(weights)), key=lambda i: exact[i] - parts[i], reverse=True)[:short]:
        parts[i] += 1
    return parts


class _BadRequest(Exception):
    pass


# -- the catalogue ------------------------------------------------------------------------------------

INT, FLOAT, SECONDS, CURRENCY = "TYPE_INTEGER", "TYPE_FLOAT", "TYPE_SECONDS", "TYPE_CURRENCY"

_DIMENSIONS: dict[str, tuple[str, str]] = {  # name -> (ui name, category)
    "date": ("Date", "Time"),
    "sessionDefaultChannelGroup": ("Session default channel group", "Traffic source"),
    "sessionSource": ("Session source", "Traffic source"),
    "sessionMedium": ("Session medium", "Traffic source"),
    "sessionSourceMedium": ("Session source / medium", "Traffic source"),
    "deviceCategory": ("Device category", "Platform / device"),
    "country": ("Country", "Geography"),
    "pagePath": ("Page path", "Page / screen"),
    "pageTitle": ("Page title", "Page / screen"),
    "hostName": ("Hostname", "Page / screen"),
    "itemId": ("Item ID", "Ecommerce"),
    "itemName": ("Item name", "Ecommerce"),
    "itemCategory": ("Item category", "Ecommerce"),
    "itemBrand": ("Item brand", "Ecommerce"),
    "unifiedScreenName": ("Page title and screen name", "Page / screen"),
    "minutesAgo": ("Realtime minutes ago", "Time"),
    "platform": ("Platform", "Platform / device"),
}
_METRICS: dict[str, tuple[str, str, str]] = {  # name -> (ui name, type, category)
    "sessions": ("Sessions", INT, "Session"),
    "totalUsers": ("Total users", INT, "User"),
    "newUsers": ("New users", INT, "User"),
    "activeUsers": ("Active users", INT, "User"),
    "engagedSessions": ("Engaged sessions", INT, "Session"),
    "screenPageViews": ("Views", INT, "Page / screen"),
    "userEngagementDuration": ("User engagement", SECONDS, "User"),
    "keyEvents": ("Key events", INT, "Event"),
    "conversions": ("Conversions", INT, "Event"),
    "transactions": ("Transactions", INT, "Ecommerce"),
    "ecommercePurchases": ("Ecommerce purchases", INT, "Ecommerce"),
    "purchaseRevenue": ("Purchase revenue", CURRENCY, "Revenue"),
    "totalRevenue": ("Total revenue", CURRENCY, "Revenue"),
    "engagementRate": ("Engagement rate", FLOAT, "Session"),
    "bounceRate": ("Bounce rate", FLOAT, "Session"),
    "averageSessionDuration": ("Average session duration", SECONDS, "Session"),
    "sessionKeyEventRate": ("Session key event rate", FLOAT, "Session"),
    "screenPageViewsPerSession": ("Views per session", FLOAT, "Page / screen"),
    "itemsViewed": ("Items viewed", INT, "Ecommerce"),
    "itemsAddedToCart": ("Items added to cart", INT, "Ecommerce"),
    "itemsPurchased": ("Items purchased", INT, "Ecommerce"),
    "itemRevenue": ("Item revenue", CURRENCY, "Ecommerce"),
    "eventCount": ("Event count", INT, "Event"),
}
# Sum metrics per cube; ratio metrics are computed from sums after grouping.
_SESSION_SUMS = (
    "sessions",
    "totalUsers",
    "newUsers",
    "activeUsers",
    "engagedSessions",
    "screenPageViews",
    "userEngagementDuration",
    "keyEvents",
    "transactions",
    "totalRevenue",
)
_RATIOS: dict[str, Callable[[dict[str, float]], float]] = {
    "engagementRate": lambda s: s["engagedSessions"] / s["sessions"] if s["sessions"] else 0.0,
    "bounceRate": lambda s: 1 - s["engagedSessions"] / s["sessions"] if s["sessions"] else 0.0,
    "averageSessionDuration": lambda s: s["userEngagementDuration"] / s["sessions"] if s["sessions"] else 0.0,
    "sessionKeyEventRate": lambda s: s["keyEvents"] / s["sessions"] if s["sessions"] else 0.0,
    "screenPageViewsPerSession": lambda s: s["screenPageViews"] / s["sessions"] if s["sessions"] else 0.0,
}
_ALIASES = {
    "conversions": "keyEvents",
    "ecommercePurchases": "transactions",
    "purchaseRevenue": "totalRevenue",
}


@dataclass(frozen=True)
class _Cube:
    name: str
    dimensions: frozenset[str]
    metrics: frozenset[str]


_CUBES = (
    _Cube(
        "sessions",
        frozenset(
            {
                "date",
                "sessionDefaultChannelGroup",
                "sessionSource",
                "sessionMedium",
                "sessionSourceMedium",
                "deviceCategory",
                "country",
            }
        ),
        frozenset([*_SESSION_SUMS, *_RATIOS, *_ALIASES]),
    ),
    _Cube(
        "pages",
        frozenset(["date", "pagePath", "pageTitle", "hostName"]),
        frozenset(["screenPageViews", "activeUsers", "totalUsers", "sessions", "userEngagementDuration"]),
    ),
    _Cube(
        "items",
        frozenset(["date", "itemId", "itemName", "itemCategory", "itemBrand"]),
        frozenset(["itemsViewed", "itemsAddedToCart", "itemsPurchased", "itemRevenue"]),
    ),
)
_REALTIME = _Cube(
    "realtime",
    frozenset(["unifiedScreenName", "country", "deviceCategory", "minutesAgo", "platform"]),
    frozenset(["activeUsers", "screenPageViews", "eventCount", "keyEvents"]),
)

# Traffic sources: (channel, source, medium, session weight, conversion weight).
_SOURCES = (
    ("Organic Search", "google", "organic", 0.345, 0.30),
    ("Organic Search", "bing", "organic", 0.03, 0.028),
    ("Organic Search", "duckduckgo", "organic", 0.008, 0.006),
    ("Direct", "(direct)", "(none)", 0.20, 0.22),
    ("Paid Search", "google", "cpc", 0.14, 0.18),
    ("Email", "newsletter", "email", 0.06, 0.13),
    ("Organic Social", "instagram.com", "referral", 0.05, 0.02),
    ("Organic Social", "youtube.com", "referral", 0.04, 0.02),
    ("Referral", "forums.miata.example", "referral", 0.04, 0.035),
    ("Referral", "ft86club.example", "referral", 0.03, 0.025),
    ("Paid Social", "facebook.com", "cpc", 0.04, 0.017),
    ("Unassigned", "(not set)", "(not set)", 0.017, 0.019),
)
_DEVICES = (("mobile", 0.59, 0.43), ("desktop", 0.36, 0.52), ("tablet", 0.05, 0.05))
_COUNTRIES = {
    "US": "United States",
    "CA": "Canada",
    "GB": "United Kingdom",
    "AU": "Australia",
    "DE": "Germany",
    "NZ": "New Zealand",
    "IE": "Ireland",
}
_COUNTRY_SESSIONS = {"US": 0.74, "CA": 0.08, "GB": 0.07, "AU": 0.045, "DE": 0.03, "NZ": 0.02, "IE": 0.015}
_WEEKLY = (1.0, 1.03, 1.02, 0.99, 0.93, 1.06, 1.1)  # Monday … Sunday


@dataclass(frozen=True, slots=True)
class _Page:
    path: str
    title: str
    weight: float
    engagement_s: float
    product_id: int | None = None


# -- the traffic model ---------------------------------------------------------------------------------


class Ga4Traffic:
    """Daily totals and the static splits behind every report; cells are built per request."""

    def __init__(self, store: DemoStore) -> None:
        self.store = store
        self.zone = ZoneInfo(store.shop.timezone)
        self.today = store.today
        self.first_day = store.today - dt.timedelta(days=364)
        rng = random.Random(store.seed ^ 0x6A4)
        self._noise = [rng.uniform(-1.0, 1.0) for _ in range(4096)]
        orders: dict[dt.date, list[Any]] = defaultdict(list)
        units: dict[tuple[dt.date, int], int] = Counter()
        item_revenue: dict[tuple[dt.date, int], float] = defaultdict(float)
        for order in store.orders:
            day = order.created_at.astimezone(self.zone).date()
            orders[day].append(order)
            for line in order.line_items:
                units[(day, line.product_id)] += line.quantity
                item_revenue[(day, line.product_id)] += float(line.discounted_total)
        self.units = units
        self.item_revenue = item_revenue
        self.sold_on: dict[dt.date, set[int]] = defaultdict(set)
        for day, product_id in units:
            self.sold_on[day].add(product_id)
        self.days: dict[dt.date, dict[str, float]] = {}
        self.country_orders: dict[dt.date, dict[str, tuple[int, float]]] = {}
        day = self.first_day
        while day <= self.today:
            todays = orders.get(day, [])
            tx = len(todays)
            revenue = round(sum(float(o.current_total_price) for o in todays), 2)
            wiggle = 1 + 0.08 * self.noise(day.toordinal(), 1)
            sessions = round((tx * 52 + 160) * _WEEKLY[day.weekday()] * wiggle)
            users = round(sessions * 0.81)
            self.days[day] = {
                "sessions": sessions,
                "totalUsers": users,
                "activeUsers": users,
                "newUsers": round(users * 0.64),
                "engagedSessions": round(sessions * (0.6 + 0.03 * self.noise(day.toordinal(), 2))),
                "screenPageViews": round(sessions * 4.3),
                "userEngagementDuration": sessions * 96,
                "keyEvents": tx + round(sessions * 0.004),
                "transactions": tx,
                "totalRevenue": revenue,
            }
            by_country: dict[str, tuple[int, float]] = {}
            for o in todays:
                n, r = by_country.get(o.ship_to.country_code, (0, 0.0))
                by_country[o.ship_to.country_code] = (n + 1, r + float(o.current_total_price))
            self.country_orders[day] = by_country
            day += dt.timedelta(days=1)
        self.pages, self.signals = self._pages()

    def noise(self, a: int, b: int) -> float:
        return self._noise[(a * 7919 + b * 104_729) % 4096]

    def _pages(self) -> tuple[list[_Page], Ga4Signals]:
        store = self.store
        shop = store.shop.name
        sold = Counter[int]()
        for (_, pid), n in self.units.items():
            sold[pid] += n
        active = [p for p in store.products if p.status is ProductStatus.ACTIVE]
        top = max(sold.values(), default=1)
        dead = [
            pid for pid in store.signals.dead_stock if (p := store.product(pid)) and p.status is ProductStatus.ACTIVE
        ]
        planted = tuple(dead[:5])
        pages = [
            _Page("/", f"{shop} – Performance Brakes, Suspension & Engine Parts", 14.0, 25.0),
            _Page("/cart", f"Your Shopping Cart – {shop}", 6.0, 30.0),
            _Page("/search", f"Search – {shop}", 3.0, 20.0),
            _Page("/account/login", f"Account – {shop}", 1.5, 15.0),
            _Page("/pages/shipping", f"Shipping & Returns – {shop}", 0.8, 40.0),
            _Page("/pages/fitment-guide", f"Fitment Guide – {shop}", 1.2, 70.0),
        ]
        for slug, title in (
            ("how-to-bed-in-brake-pads", "How to Bed In Brake Pads"),
            ("coilovers-vs-lowering-springs", "Coilovers vs Lowering Springs"),
            ("choosing-a-cold-air-intake", "Choosing a Cold Air Intake"),
            ("track-day-checklist", "The Track Day Checklist"),
            ("when-to-change-brake-fluid", "When to Change Brake Fluid"),
        ):
            pages.append(_Page(f"/blogs/news/{slug}", f"{title} – {shop}", 0.9, 140.0))
        for product_type in sorted({p.product_type for p in active}):
            handle = product_type.lower().replace(" ", "-")
            pages.append(_Page(f"/collections/{handle}", f"{product_type} – {shop}", 1.6, 35.0))
        for p in active:
            weight = 0.35 + 4.5 * sold[p.id] / top
            if p.id in planted:
                weight = 4.2  # as viewed as a best seller, and hardly bought
            pages.append(_Page(f"/products/{p.handle}", f"{p.title} – {shop}", weight, 48.0, p.id))
        return pages, Ga4Signals(viewed_not_bought=planted)

    @cached_property
    def _page_views_cache(self) -> dict[dt.date, list[int]]:
        return {}

    def page_views(self, day: dt.date) -> list[int]:
        """Views per page (in :attr:`pages` order) on ``day``: the day's views, apportioned."""
        cached = self._page_views_cache.get(day)
        if cached is None:
            total = int(self.days[day]["screenPageViews"])
            o = day.toordinal()
            weights = [pg.weight * (1 + 0.2 * self.noise(o, i)) for i, pg in enumerate(self.pages)]
            cached = apportion(total, weights)
            self._page_views_cache[day] = cached
        return cached


# -- reports -----------------------------------------------------------------------------------------


def _resolve_date(text: str, today: dt.date) -> dt.date:
    if text == "today":
        return today
    if text == "yesterday":
        return today - dt.timedelta(days=1)
    match = re.fullmatch(r"(\d+)daysAgo", text)
    if match:
        return today - dt.timedelta(days=int(match.group(1)))
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise _BadRequest(f"Invalid date: {text!r}. Use YYYY-MM-DD, NdaysAgo, yesterday or today.") from None


def _string_match(spec: dict[str, Any], value: str) -> bool:
    case = bool(spec.get("caseSensitive"))
    target = str(spec.get("value", ""))
    subject, wanted = (value, target) if case else (value.lower(), target.lower())
    kind = spec.get("matchType", "EXACT")
    if kind in ("EXACT", "MATCH_TYPE_UNSPECIFIED"):
        return subject == wanted
    if kind == "BEGINS_WITH":
        return subject.startswith(wanted)
    if kind == "ENDS_WITH":
        return subject.endswith(wanted)
    if kind == "CONTAINS":
        return wanted in subject
    flags = 0 if case else re.IGNORECASE
    try:
        if kind == "FULL_REGEXP":
            return re.fullmatch(target, value, flags) is not None
        if kind == "PARTIAL_REGEXP":
            return re.search(target, value, flags) is not None
    except re.error:
        raise _BadRequest(f"Invalid regular expression: {target!r}.") from None
    raise _BadRequest(f"Unknown matchType {kind!r}.")


def _number(spec: Any) -> float:
    if not isinstance(spec, dict):
        raise _BadRequest("numeric value must be {int64Value} or {doubleValue}")
    raw: Any = spec.get("int64Value", spec.get("doubleValue", 0))
    try:
        return float(raw)
    except (TypeError, ValueError):
        raise _BadRequest(f"Invalid numeric value {raw!r}.") from None


def _numeric_match(spec: dict[str, Any], value: float) -> bool:
    op = spec.get("operation", "EQUAL")
    x = _number(spec.get("value"))
    return {
        "EQUAL": value == x,
        "LESS_THAN": value < x,
        "LESS_THAN_OR_EQUAL": value <= x,
        "GREATER_THAN": value > x,
        "GREATER_THAN_OR_EQUAL": value >= x,
    }.get(op, False)


def _aggregate(kind: str, values: list[float]) -> float:
    if kind == "MAXIMUM":
        return max(values)
    if kind == "MINIMUM":
        return min(values)
    return sum(values)


def _filter_fields(expr: Any) -> set[str]:
    if not isinstance(expr, dict):
        raise _BadRequest("A FilterExpression must be an object.")
    if "andGroup" in expr or "orGroup" in expr:
        group = expr.get("andGroup") or expr.get("orGroup") or {}
        return set().union(*(_filter_fields(e) for e in group.get("expressions", [])))
    if "notExpression" in expr:
        return _filter_fields(expr["notExpression"])
    if "filter" in expr:
        name = expr["filter"].get("fieldName")
        if not name:
            raise _BadRequest("Filter is missing fieldName.")
        return {str(name)}
    raise _BadRequest("A FilterExpression needs andGroup, orGroup, notExpression or filter.")


def _matches(expr: dict[str, Any], values: dict[str, Any]) -> bool:
    if "andGroup" in expr:
        return all(_matches(e, values) for e in expr["andGroup"].get("expressions", []))
    if "orGroup" in expr:
        return any(_matches(e, values) for e in expr["orGroup"].get("expressions", []))
    if "notExpression" in expr:
        return not _matches(expr["notExpression"], values)
    spec = expr.get("filter")
    if not isinstance(spec, dict) or "fieldName" not in spec:
        raise _BadRequest("A FilterExpression needs andGroup, orGroup, notExpression or filter with a fieldName.")
    value = values.get(spec["fieldName"])
    if "stringFilter" in spec:
        return _string_match(spec["stringFilter"], str(value))
    if "inListFilter" in spec:
        lst = spec["inListFilter"]
        case = bool(lst.get("caseSensitive"))
        options = [str(v) if case else str(v).lower() for v in lst.get("values", [])]
        return (str(value) if case else str(value).lower()) in options
    if "numericFilter" in spec:
        return _numeric_match(spec["numericFilter"], float(value or 0))
    if "betweenFilter" in spec:
        between = spec["betweenFilter"]
        return _number(between.get("fromValue")) <= float(value or 0) <= _number(between.get("toValue"))
    if "emptyFilter" in spec:
        return value in ("", None)
    raise _BadRequest("Filter needs stringFilter, inListFilter, numericFilter, betweenFilter or emptyFilter.")


def _dimension_key(value: str, order_type: str) -> Any:
    if order_type == "NUMERIC":
        try:
            return float(value)
        except ValueError:
            return math.inf
    return value.lower() if order_type == "CASE_INSENSITIVE_ALPHANUMERIC" else value


Cells = dict[tuple[str, ...], dict[str, float]]


class _Reporter:
    """Turns one request body into a runReport / runRealtimeReport response."""

    def __init__(self, traffic: Ga4Traffic, wall: Callable[[], float]) -> None:
        self.t = traffic
        self.wall = wall

    # -- request checking -------------------------------------------------------------------------
    @staticmethod
    def _names(body: dict[str, Any], key: str) -> list[str]:
        items = body.get(key) or []
        if not isinstance(items, list) or not all(isinstance(i, dict) and i.get("name") for i in items):
            raise _BadRequest(f"{key} must be a list of {{name}} objects.")
        return [str(i["name"]) for i in items]

    @staticmethod
    def _cube(dims: Iterable[str], metrics: Iterable[str], cubes: Sequence[_Cube]) -> _Cube:
        dims, metrics = list(dims), list(metrics)
        for name in dims:
            if name not in _DIMENSIONS:
                raise _BadRequest(
                    f"Field {name} is not a valid dimension. For a list of valid dimensions and metrics, see "
                    "https://developers.google.com/analytics/devguides/reporting/data/v1/api-schema"
                )
        for name in metrics:
            if name not in _METRICS:
                raise _BadRequest(
                    f"Field {name} is not a valid metric. For a list of valid dimensions and metrics, see "
                    "https://developers.google.com/analytics/devguides/reporting/data/v1/api-schema"
                )
        for cube in cubes:
            if set(dims) <= cube.dimensions and set(metrics) <= cube.metrics:
                return cube
        odd = next((d for d in dims if not any(d in c.dimensions and set(metrics) <= c.metrics for c in cubes)), None)
        raise _BadRequest(
            f"Please remove {odd or metrics[0]} to make the request compatible. The request's dimensions & "
            "metrics are incompatible. To learn more, see https://ga-dev-tools.google/ga4/dimensions-metrics-explorer/"
        )

    # -- runReport -----------------------------------------------------------------------------------
    def run_report(self, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
        dims = self._names(body, "dimensions")
        metrics = self._names(body, "metrics")
        if not metrics and not dims:
            raise _BadRequest("At least one dimension or metric is required.")
        dfilter = body.get("dimensionFilter")
        mfilter = body.get("metricFilter")
        filter_dims = _filter_fields(dfilter) if dfilter else set()
        cube = self._cube([*dims, *filter_dims], metrics, _CUBES)
        if mfilter and not _filter_fields(mfilter) <= set(metrics):
            raise _BadRequest("metricFilter may only name metrics of the request.")
        ranges = body.get("dateRanges") or [{"startDate": "28daysAgo", "endDate": "yesterday"}]
        if len(ranges) > 4:
            raise _BadRequest("A request may have at most 4 date ranges.")
        needed = [*dims, *(d for d in sorted(filter_dims) if d not in dims)]
        cells: Cells = {}
        days_total = 0
        for index, r in enumerate(ranges):
            start = _resolve_date(str(r.get("startDate", "")), self.t.today)
            end = _resolve_date(str(r.get("endDate", "")), self.t.today)
            if start > end:
                raise _BadRequest(f"Invalid date range: startDate {start} is after endDate {end}.")
            days_total += (end - start).days + 1
            label = str(r.get("name") or f"date_range_{index}")
            for key, sums in self._cells(cube, needed, start, end).items():
                full = (*key, label) if len(ranges) > 1 else key
                cells[full] = sums
        headers = [*dims, "dateRange"] if len(ranges) > 1 else dims
        rows = self._rows(cells, needed, headers, dims, metrics, dfilter, mfilter)
        rows = self._order(rows, body.get("orderBys") or [], headers, metrics)
        try:
            limit = int(body.get("limit") or 10_000)
            offset = int(body.get("offset") or 0)
        except (TypeError, ValueError):
            raise _BadRequest("limit and offset must be integers.") from None
        if limit <= 0 or offset < 0:
            raise _BadRequest("limit must be positive and offset must not be negative.")
        limit = min(limit, 250_000)
        page = rows[offset : offset + limit]
        response: dict[str, Any] = {
            "dimensionHeaders": [{"name": h} for h in headers],
            "metricHeaders": [{"name": x, "type": _METRICS[x][1]} for x in metrics],
            "metadata": {"currencyCode": "USD", "timeZone": self.t.store.shop.timezone},
            "kind": "analyticsData#runReport",
        }
        if page:
            response["rows"] = [self._wire(row, headers, metrics) for row in page]
        if rows:
            response["rowCount"] = len(rows)
        aggregations = body.get("metricAggregations") or []
        for aggregation, field_name, label in (
            ("TOTAL", "totals", "RESERVED_TOTAL"),
            ("MAXIMUM", "maximums", "RESERVED_MAX"),
            ("MINIMUM", "minimums", "RESERVED_MIN"),
        ):
            if aggregation in aggregations and rows:
                agg = {x: _aggregate(aggregation, [r[1][x] for r in rows]) for x in metrics}
                response[field_name] = [self._wire(((label,) * len(headers), agg), headers, metrics)]
        cost = 1 + len(dims) + (days_total - 1) // 90 + len(cells) // 10_000 + (1 if dfilter or mfilter else 0)
        return response, cost

    def _rows(
        self,
        cells: Cells,
        needed: list[str],
        headers: list[str],
        dims: list[str],
        metrics: list[str],
        dfilter: Any,
        mfilter: Any,
    ) -> list[tuple[tuple[str, ...], dict[str, float]]]:
        grouped: dict[tuple[str, ...], dict[str, float]] = {}
        extra = len(headers) - len(dims)  # the dateRange label, when present
        for key, sums in cells.items():
            if dfilter and not _matches(dfilter, dict(zip(needed, key, strict=False))):
                continue
            out = tuple(key[needed.index(d)] for d in dims) + (key[len(key) - extra :] if extra else ())
            target = grouped.setdefault(out, defaultdict(float))
            for name, value in sums.items():
                target[name] += value
        rows = []
        for key, sums in grouped.items():
            values = {x: self._metric(x, sums) for x in metrics}
            if mfilter and not _matches(mfilter, values):
                continue
            rows.append((key, values))
        return rows

    @staticmethod
    def _metric(name: str, sums: dict[str, float]) -> float:
        if name in _RATIOS:
            return _RATIOS[name](defaultdict(float, sums))
        return sums.get(_ALIASES.get(name, name), 0.0)

    @staticmethod
    def _order(
        rows: list[tuple[tuple[str, ...], dict[str, float]]],
        order_bys: list[dict[str, Any]],
        headers: list[str],
        metrics: list[str],
    ) -> list[tuple[tuple[str, ...], dict[str, float]]]:
        rows.sort(key=lambda r: r[0])
        if not order_bys and metrics:
            rows.sort(key=lambda r: r[1][metrics[0]], reverse=True)
        for spec in reversed(order_bys):
            desc = bool(spec.get("desc"))
            if "metric" in spec:
                name = spec["metric"].get("metricName")
                if name not in metrics:
                    raise _BadRequest(f"orderBys names metric {name}, which is not in the request.")
                rows.sort(key=lambda r, n=name: r[1][n], reverse=desc)  # type: ignore[misc]
            elif "dimension" in spec:
                name = spec["dimension"].get("dimensionName")
                if name not in headers:
                    raise _BadRequest(f"orderBys names dimension {name}, which is not in the request.")
                i = headers.index(name)
                order_type = str(spec["dimension"].get("orderType") or "ALPHANUMERIC")
                rows.sort(key=lambda r, i=i, t=order_type: _dimension_key(r[0][i], t), reverse=desc)  # type: ignore[misc]
            else:
                raise _BadRequest("An OrderBy needs metric or dimension.")
        return rows

    @staticmethod
    def _wire(row: tuple[tuple[str, ...], dict[str, float]], headers: list[str], metrics: list[str]) -> dict[str, Any]:
        key, values = row

        def text(name: str, value: float) -> str:
            kind = _METRICS[name][1]
            if kind == INT:
                return str(round(value))
            if kind == CURRENCY:
                return f"{value:.2f}".rstrip("0").rstrip(".") if value else "0"
            return f"{value:.6f}".rstrip("0").rstrip(".") or "0"

        return {
            "dimensionValues": [{"value": v} for v in key],
            "metricValues": [{"value": text(x, values[x])} for x in metrics],
        }

    # -- cells per cube ------------------------------------------------------------------------------
    def _cells(self, cube: _Cube, needed: list[str], start: dt.date, end: dt.date) -> Cells:
        start = max(start, self.t.first_day)
        end = min(end, self.t.today)
        days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)] if start <= end else []
        if cube.name == "sessions":
            return self._session_cells(needed, days)
        if cube.name == "pages":
            return self._page_cells(needed, days)
        return self._item_cells(needed, days)

    def _session_cells(self, needed: list[str], days: list[dt.date]) -> Cells:
        traffic = any(d.startswith("session") for d in needed)
        axes: list[list[tuple[dict[str, str], float, float]]] = []
        if traffic:
            axes.append(
                [
                    (
                        {
                            "sessionDefaultChannelGroup": ch,
                            "sessionSource": src,
                            "sessionMedium": med,
                            "sessionSourceMedium": f"{src} / {med}",
                        },
                        sw,
                        cw,
                    )
                    for ch, src, med, sw, cw in _SOURCES
                ]
            )
        if "deviceCategory" in needed:
            axes.append([({"deviceCategory": name}, sw, cw) for name, sw, cw in _DEVICES])
        combos = []
        for parts in itertools.product(*axes):
            values: dict[str, str] = {}
            sw = cw = 1.0
            for v, s, c in parts:
                values.update(v)
                sw *= s
                cw *= c
            combos.append((values, sw, cw))
        by_country = "country" in needed
        cells: Cells = {}
        conversion_metrics = ("keyEvents", "transactions")
        for day in days:
            totals = self.t.days[day]
            o = day.toordinal()
            sweights = [sw * (1 + 0.12 * self.t.noise(o, 10 + i)) for i, (_, sw, _) in enumerate(combos)]
            cweights = [cw * (1 + 0.2 * self.t.noise(o, 40 + i)) for i, (_, _, cw) in enumerate(combos)]
            groups: list[tuple[dict[str, str], dict[str, float]]] = []
            if by_country:
                codes = list(_COUNTRY_SESSIONS)
                split = {
                    m: apportion(int(totals[m]), [_COUNTRY_SESSIONS[c] for c in codes])
                    for m in _SESSION_SUMS
                    if m not in (*conversion_metrics, "totalRevenue")
                }
                orders = self.t.country_orders[day]
                extra_events = int(totals["keyEvents"] - totals["transactions"])
                events = apportion(extra_events, [_COUNTRY_SESSIONS[c] for c in codes])
                for i, code in enumerate(codes):
                    tx, revenue = orders.get(code, (0, 0.0))
                    group = {m: float(split[m][i]) for m in split}
                    group.update(transactions=tx, keyEvents=tx + events[i], totalRevenue=revenue)
                    groups.append(({"country": _COUNTRIES[code]}, group))
            else:
                groups.append(({}, dict(totals)))
            for country, group in groups:
                shares = {
                    m: apportion(round(group[m]), cweights if m in conversion_metrics else sweights)
                    for m in _SESSION_SUMS
                    if m != "totalRevenue"
                }
                mass = sum(cweights) or 1.0
                for i, (values, _, _) in enumerate(combos):
                    dims = {"date": day.strftime("%Y%m%d"), **country, **values}
                    sums = {m: float(shares[m][i]) for m in shares}
                    sums["totalRevenue"] = round(group["totalRevenue"] * cweights[i] / mass, 2)
                    key = tuple(dims[d] for d in needed)
                    target = cells.setdefault(key, defaultdict(float))
                    for name, value in sums.items():
                        target[name] += value
        return cells

    def _page_cells(self, needed: list[str], days: list[dt.date]) -> Cells:
        cells: Cells = {}
        pages = self.t.pages
        for day in days:
            views = self.t.page_views(day)
            date = day.strftime("%Y%m%d")
            for page, count in zip(pages, views, strict=True):
                if not count:
                    continue
                dims = {"date": date, "pagePath": page.path, "pageTitle": page.title, "hostName": HOST}
                key = tuple(dims[d] for d in needed)
                users = round(count * 0.72)
                target = cells.setdefault(key, defaultdict(float))
                target["screenPageViews"] += count
                target["activeUsers"] += users
                target["totalUsers"] += users
                target["sessions"] += round(count * 0.83)
                target["userEngagementDuration"] += round(count * page.engagement_s)
        return cells

    def _item_cells(self, needed: list[str], days: list[dt.date]) -> Cells:
        """Items viewed on their product pages; purchased exactly as the orders say (archived and
        draft products included: they sold before they left the shop)."""
        cells: Cells = {}
        store = self.t.store
        page_of = {pg.product_id: i for i, pg in enumerate(self.t.pages) if pg.product_id is not None}
        for day in days:
            views = self.t.page_views(day)
            date = day.strftime("%Y%m%d")
            for product_id in sorted({*page_of, *self.t.sold_on.get(day, ())}):
                product = store.product(product_id)
                assert product is not None
                bought = self.t.units.get((day, product_id), 0)
                index = page_of.get(product_id)
                viewed = max(views[index] if index is not None else 0, bought)
                if not viewed:
                    continue
                dims = {
                    "date": date,
                    "itemId": str(product_id),
                    "itemName": product.title,
                    "itemCategory": product.product_type,
                    "itemBrand": product.vendor,
                }
                key = tuple(dims[d] for d in needed)
                target = cells.setdefault(key, defaultdict(float))
                target["itemsViewed"] += viewed
                target["itemsAddedToCart"] += max(bought, round(viewed * 0.07))
                target["itemsPurchased"] += bought
                target["itemRevenue"] += round(self.t.item_revenue.get((day, product_id), 0.0), 2)
        return cells

    # -- runRealtimeReport -------------------------------------------------------------------------------
    def run_realtime(self, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
        dims = self._names(body, "dimensions")
        metrics = self._names(body, "metrics")
        if not metrics:
            raise _BadRequest("At least one metric is required.")
        dfilter = body.get("dimensionFilter")
        filter_dims = _filter_fields(dfilter) if dfilter else set()
        self._cube([*dims, *filter_dims], metrics, (_REALTIME,))
        ranges = body.get("minuteRanges") or [{"startMinutesAgo": 29, "endMinutesAgo": 0}]
        first = ranges[0]
        oldest, newest = int(first.get("startMinutesAgo", 29)), int(first.get("endMinutesAgo", 0))
        if oldest > 29 or newest < 0 or newest > oldest:
            raise _BadRequest("minuteRanges must lie within the last 30 minutes (startMinutesAgo ≤ 29).")
        needed = [*dims, *(d for d in sorted(filter_dims) if d not in dims)]
        minute = int(self.wall() // 60)
        per_day = self.t.days[self.t.today]["sessions"]
        top_pages = sorted(self.t.pages, key=lambda p: -p.weight)[:15]
        cells: Cells = {}
        codes = list(_COUNTRY_SESSIONS)
        for ago in range(newest, oldest + 1):
            stamp = minute - ago
            active = max(0, round(per_day / 1440 * 6 * (1 + 0.3 * self.t.noise(stamp, 3))))
            for code, in_country in zip(codes, apportion(active, list(_COUNTRY_SESSIONS.values())), strict=True):
                for (device, _, _), on_device in zip(
                    _DEVICES, apportion(in_country, [d[1] for d in _DEVICES]), strict=True
                ):
                    for page, n in zip(top_pages, apportion(on_device, [p.weight for p in top_pages]), strict=True):
                        if not n:
                            continue
                        values = {
                            "unifiedScreenName": page.title,
                            "country": _COUNTRIES[code],
                            "deviceCategory": device,
                            "minutesAgo": f"{ago:02d}",
                            "platform": "web",
                        }
                        key = tuple(values[d] for d in needed)
                        target = cells.setdefault(key, defaultdict(float))
                        target["activeUsers"] += n
                        target["screenPageViews"] += round(n * 1.6)
                        target["eventCount"] += round(n * 5.2)
                        target["keyEvents"] += 1 if (stamp + n) % 97 == 0 else 0
        rows = self._rows(cells, needed, dims, dims, metrics, dfilter, body.get("metricFilter"))
        rows = self._order(rows, body.get("orderBys") or [], dims, metrics)
        limit = min(int(body.get("limit") or 10_000), 250_000)
        response: dict[str, Any] = {
            "dimensionHeaders": [{"name": h} for h in dims],
            "metricHeaders": [{"name": x, "type": _METRICS[x][1]} for x in metrics],
            "kind": "analyticsData#runRealtimeReport",
        }
        if rows:
            response["rows"] = [self._wire(r, dims, metrics) for r in rows[:limit]]
            response["rowCount"] = len(rows)
        return response, 1 + len(dims)


def metadata_body(property_name: str) -> dict[str, Any]:
    return {
        "name": f"{property_name}/metadata",
        "dimensions": [
            {"apiName": name, "uiName": ui, "category": category, "description": f"{ui}.", "customDefinition": False}
            for name, (ui, category) in _DIMENSIONS.items()
        ],
        "metrics": [
            {"apiName": name, "uiName": ui, "type": kind, "category": category, "description": f"{ui}."}
            for name, (ui, kind, category) in _METRICS.items()
        ],
    }


# -- quotas ------------------------------------------------------------------------------------------


@dataclass
class _Usage:
    """Tokens spent in the current hour and day windows, per property and category."""

    hour: int = -1
    day: dt.date | None = None
    hour_tokens: int = 0
    day_tokens: int = 0


@dataclass
class _PropertyState:
    in_flight: int = 0
    usage: dict[str, _Usage] = field(default_factory=lambda: defaultdict(_Usage))
    server_errors: Counter[int] = field(default_factory=Counter)  # hour window -> 5xx answered


class Ga4Fake(FakeUpstream):
    name = "ga4"

    def __init__(
        self,
        *,
        faults: FaultPlan | None = None,
        store: DemoStore | None = None,
        properties: Iterable[str] = (DEMO_PROPERTY_ID,),
        tokens: GoogleTokenFake | None = None,
        limits: QuotaLimits | None = None,
        latency_s: float = 0.0,
        clock: Callable[[], float] = loop_clock,
        wall: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(faults=faults)
        self.traffic = Ga4Traffic(store or demo_store())
        self.properties = {p.removeprefix("properties/") for p in properties}
        self.tokens = tokens or GoogleTokenFake(clock=clock)
        self.limits = limits or QuotaLimits()
        self.latency_s = latency_s
        self.clock = clock
        self._wall = wall  # mock mode: the connector's own wall clock, so both agree on the day
        self._wall_anchor: float | None = None
        self.state: dict[str, _PropertyState] = defaultdict(_PropertyState)
        self.peak_in_flight = 0
        self.refused: Counter[str] = Counter()
        self.tokens_charged = 0
        self._reporter = _Reporter(self.traffic, self.wall)

    @property
    def signals(self) -> Ga4Signals:
        return self.traffic.signals

    def wall(self) -> float:
        """Epoch seconds: the wall clock given, else one moving with :attr:`clock` (anchored at first
        use). The quota windows' time."""
        if self._wall is not None:
            return self._wall()
        now = self.clock()
        if self._wall_anchor is None:
            self._wall_anchor = time.time() - now
        return self._wall_anchor + now

    def max_server_errors_in_an_hour(self, property_id: str = DEMO_PROPERTY_ID) -> int:
        return max(self.state[property_id].server_errors.values(), default=0)

    # -- the app -------------------------------------------------------------------------------------
    def routes(self) -> list[BaseRoute]:
        return [
            Route("/v1beta/{path:path}", self.dispatch, methods=["GET", "POST"]),
            Route("/_fake/quota", self._quota_report, methods=["GET"]),
            Route("/_fake/quota", self._quota_reset, methods=["DELETE"]),
        ]

    def quota_report(self) -> dict[str, Any]:
        """What the properties saw, for benchmarks: the most requests in flight at once, the most
        server errors in one hour, the refusals by message and the tokens charged."""
        return {
            "peak_in_flight": self.peak_in_flight,
            "max_server_errors_in_an_hour": {p: self.max_server_errors_in_an_hour(p) for p in sorted(self.properties)},
            "refused": dict(self.refused),
            "tokens_charged": self.tokens_charged,
        }

    async def _quota_report(self, request: Request) -> Response:
        return JSONResponse(self.quota_report())

    async def _quota_reset(self, request: Request) -> Response:
        self.state.clear()
        self.peak_in_flight = 0
        self.refused.clear()
        self.tokens_charged = 0
        return JSONResponse({"ok": True})

    @cached_property
    def app(self) -> ASGIApp:
        return with_token_endpoint(_PropertyGate(super().app, self), self.tokens)

    def fault_response(self, fault: Fault, plan: FaultPlan) -> Response:
        return google_fault_response(fault, legacy=False, rate_message="Exhausted concurrent requests quota.")

    def _windows(self, usage: _Usage) -> None:
        wall = self.wall()
        hour = int(wall // 3600)
        day = dt.datetime.fromtimestamp(wall, PACIFIC).date()
        if usage.hour != hour:
            usage.hour, usage.hour_tokens = hour, 0
        if usage.day != day:
            usage.day, usage.day_tokens = day, 0

    def exhausted(self, property_id: str, category: str) -> str | None:
        """The message of the first exhausted bucket, or None."""
        state = self.state[property_id]
        usage = state.usage[category]
        self._windows(usage)
        if state.server_errors[int(self.wall() // 3600)] >= self.limits.server_errors_per_hour:
            return "Exhausted server errors quota."
        if usage.day_tokens >= self.limits.tokens_per_day:
            return "Exhausted property tokens per day. These quota tokens will return in under 24 hours."
        if usage.hour_tokens >= self.limits.tokens_per_project_per_hour:
            return "Exhausted property tokens for a project per hour. These quota tokens will return in under an hour."
        if usage.hour_tokens >= self.limits.tokens_per_hour:
            return "Exhausted property tokens per hour. These quota tokens will return in under an hour."
        return None

    def _quota(self, property_id: str, category: str, cost: int) -> dict[str, Any]:
        state = self.state[property_id]
        usage = state.usage[category]
        errors = state.server_errors[int(self.wall() // 3600)]
        lim = self.limits

        def status(consumed: int, remaining: int) -> dict[str, int]:
            return {"consumed": consumed, "remaining": max(0, remaining)}

        return {
            "tokensPerDay": status(cost, lim.tokens_per_day - usage.day_tokens),
            "tokensPerHour": status(cost, lim.tokens_per_hour - usage.hour_tokens),
            "concurrentRequests": status(0, lim.concurrent - state.in_flight + 1),
            "serverErrorsPerProjectPerHour": status(0, lim.server_errors_per_hour - errors),
            "potentiallyThresholdedRequestsPerHour": status(0, lim.thresholded_per_hour),
            "tokensPerProjectPerHour": status(cost, lim.tokens_per_project_per_hour - usage.hour_tokens),
        }

    async def dispatch(self, request: Request) -> Response:
        match = _PROPERTY_PATH.match(request.url.path)
        if match is None:
            return google_error(404, f"Method not found: {request.url.path}", status="NOT_FOUND")
        property_id, method, meta = match.groups()
        if (denied := self.tokens.check_bearer(request, ANALYTICS_SCOPES)) is not None:
            return denied
        if not property_id.isdigit():
            return google_error(400, f"Invalid property ID: {property_id}. A numeric Property ID is required.")
        if property_id not in self.properties:
            return google_error(
                403,
                "User does not have sufficient permissions for this property. To learn more about Property ID, "
                "see https://developers.google.com/analytics/devguides/reporting/data/v1/property-id.",
            )
        category = "realtime" if method == "runRealtimeReport" else "core"
        if (message := self.exhausted(property_id, category)) is not None:
            self.refused[message] += 1
            return google_error(429, message)
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        if meta:
            if request.method != "GET":
                return google_error(405, "Method not allowed.", status="INVALID_ARGUMENT")
            self._charge(property_id, category, 1)
            return JSONResponse(metadata_body(f"properties/{property_id}"))
        if request.method != "POST":
            return google_error(405, "Method not allowed.", status="INVALID_ARGUMENT")
        try:
            body = await request.json()
        except ValueError:
            return google_error(400, "Invalid JSON payload received.")
        if not isinstance(body, dict):
            return google_error(400, "Invalid JSON payload received.")
        try:
            if method == "runReport":
                response, cost = self._reporter.run_report(body)
            else:
                response, cost = self._reporter.run_realtime(body)
        except _BadRequest as exc:
            return google_error(400, str(exc))
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            # The real API rejects any request it cannot read with 400 INVALID_ARGUMENT.
            return google_error(400, f"Invalid request: {type(exc).__name__} in the request body.")
        self._charge(property_id, category, cost)
        if body.get("returnPropertyQuota"):
            response["propertyQuota"] = self._quota(property_id, category, cost)
        return JSONResponse(response)

    def _charge(self, property_id: str, category: str, cost: int) -> None:
        usage = self.state[property_id].usage[category]
        self._windows(usage)
        usage.hour_tokens += cost
        usage.day_tokens += cost
        self.tokens_charged += cost


class _PropertyGate:
    """Outermost layer: concurrency per property, the server-error lock, and counting every 5xx
    (injected faults included) against the property's hourly server-error quota."""

    def __init__(self, app: ASGIApp, fake: Ga4Fake) -> None:
        self.app = app
        self.fake = fake

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = _PROPERTY_PATH.match(scope.get("path", "")) if scope["type"] == "http" else None
        if match is None:
            await self.app(scope, receive, send)
            return
        fake = self.fake
        state = fake.state[match.group(1)]
        state.in_flight += 1
        fake.peak_in_flight = max(fake.peak_in_flight, state.in_flight)
        status = 0

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            if state.in_flight > fake.limits.concurrent:
                fake.refused["Exhausted concurrent requests quota."] += 1
                await google_error(429, "Exhausted concurrent requests quota.")(scope, receive, observe)
                return
            await self.app(scope, receive, observe)
        finally:
            state.in_flight -= 1
            if status >= 500:
                state.server_errors[int(fake.wall() // 3600)] += 1
