"""The Search Console API, faked over searches for the demo store's products.

Routes (api-facts.md §3): ``POST /webmasters/v3/sites/{siteUrl}/searchAnalytics/query``,
``GET /webmasters/v3/sites``, ``GET /webmasters/v3/sites/{siteUrl}/sitemaps``,
``POST /v1/urlInspection/index:inspect``, and the Google token endpoint beside them.

The data: about a thousand (query, page) pairs built from :func:`storelink.fakes.data.demo_store`
(exact product titles, "line type vehicle", "vehicle type" landing on the best seller, head terms
on collection pages, brand queries on the home page, how-to queries on blog posts), pages at the
store's own URLs. Each pair has a base volume, an average position and a CTR drawn from a
position curve (:func:`expected_ctr`), modulated per day by season, weekday and deterministic
noise; days are computed on demand for any date up to the fake's ``today`` (Pacific). Rows are
sorted by clicks; paging is ``startRow``/``rowLimit`` (≤ 25,000). A query computes only the top
rows its page needs (at most :data:`MAX_DEPTH`), in a worker thread, so a 486-day five-dimension
query neither holds its 1.8 M rows nor stalls the event loop it shares with the server. Country and device splits are
integer apportionments of each pair's impressions. ``searchAppearance`` can only be grouped alone
(the "two-step" rule) and filtered on otherwise.

Planted for analytics (:attr:`GscFake.signals`): striking-distance queries (positions 4–20 with
many impressions), queries whose CTR is far below the curve, pages losing clicks over the last
weeks, queries on which two pages compete (their positions swap from day to day), and product
pages Google crawled but did not index.

Limits (§3.5): 1,200 Search Analytics queries per minute per site, 600 URL inspections per minute
and 2,000 per day per site, 200 other requests per minute (20 per second) per user; a short-term
load budget per 10 minutes (:attr:`GscFake.load_budget`, unpublished by Google, so configurable)
answers 403 "Search Analytics load quota exceeded (short-term)". Final data stops three days
before ``today``; ``dataState=all`` adds the last two days (incomplete) and ``metadata``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hashlib
import json
import math
import random
import re
import threading
import time
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

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

__all__ = ["DEMO_SITE", "SITE_ORIGIN", "GscFake", "GscSignals", "GscTraffic", "expected_ctr"]

DEMO_SITE = "sc-domain:apexperformanceparts.example"
SITE_ORIGIN = "https://www.apexperformanceparts.example"
PACIFIC = ZoneInfo("America/Los_Angeles")
FINAL_LAG_DAYS = 3
MAX_ROW_LIMIT = 25_000
# Search Console returns only top rows; the fake serves a query's top MAX_DEPTH (a startRow past it
# gets none), which bounds what one query holds in memory whatever its date range and dimensions.
MAX_DEPTH = 100_000
CACHED_ROWS = 200_000  # rows of recent answers kept for the pages that follow

_CTR_TOP = (0.28, 0.157, 0.11, 0.08, 0.072, 0.051, 0.04, 0.032, 0.028, 0.025)


def expected_ctr(position: float) -> float:
    """A typical organic CTR for an average position (the curve the fake's CTRs are drawn around)."""
    if position <= 1:
        return _CTR_TOP[0]
    if position < 10:
        low = int(position)
        frac = position - low
        return _CTR_TOP[low - 1] * (1 - frac) + _CTR_TOP[low] * frac
    if position <= 20:
        return 0.025 - (position - 10) * 0.0017
    return max(0.001, 0.008 - (position - 20) * 0.0002)


@dataclass(frozen=True, slots=True)
class GscSignals:
    """Ground truth planted in the search data (queries and page URLs)."""

    striking_distance: tuple[str, ...]
    low_ctr: tuple[str, ...]
    declining_pages: tuple[str, ...]
    cannibalised: tuple[tuple[str, tuple[str, str]], ...]
    not_indexed: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Pair:
    query: str
    page: str
    base: float  # impressions per day, before season, weekday, trend and noise
    position: float
    ctr_factor: float = 1.0
    decline: float = 0.0  # share of traffic lost by the last weeks
    swing: int = 0  # +1 / -1: the two pages of a cannibalised query swap places
    appearance: tuple[tuple[str, float], ...] = ()


_WEEKLY = (1.0, 1.02, 1.01, 0.99, 0.94, 1.05, 1.09)
_DEVICES = (("MOBILE", 0.58, 1.0, 0.3), ("DESKTOP", 0.37, 1.15, -0.4), ("TABLET", 0.05, 0.9, 0.5))
_COUNTRIES = (("usa", 0.71, 0.0), ("can", 0.08, 0.6), ("gbr", 0.07, 1.2), ("aus", 0.05, 1.0), ("deu", 0.03, 2.5))
_COUNTRIES_REST = ("nzl", 0.02, 1.4), ("irl", 0.02, 1.8), ("ind", 0.02, 4.0)
_ALL_COUNTRIES = _COUNTRIES + _COUNTRIES_REST
_PRODUCT_APPEARANCE = (("PRODUCT_SNIPPETS", 0.62), ("MERCHANT_LISTINGS", 0.28))
_BLOG_APPEARANCE = (("REVIEW_SNIPPET", 0.0),)


def _vehicle(fitment: str) -> str:
    return re.sub(r"\s*\([^)]*\)", "", fitment).replace(" / ", " ").lower()


class GscTraffic:
    """The (query, page) pairs and their day-by-day numbers."""

    def __init__(self, store: DemoStore, *, today: dt.date, seed: int = 0) -> None:
        self.store = store
        self.today = today
        rng = random.Random(store.seed ^ 0x65C ^ seed)
        self._noise = [rng.uniform(-1.0, 1.0) for _ in range(8192)]
        self._frac = [rng.random() for _ in range(8192)]
        self.pairs, self.signals = self._build(rng)
        self.pages = sorted({p.page for p in self.pairs})

    def noise(self, a: int, b: int) -> float:
        return self._noise[(a * 7919 + b * 104_729) % 8192]

    def frac(self, a: int, b: int) -> float:
        return self._frac[(a * 6007 + b * 92_821) % 8192]

    def _build(self, rng: random.Random) -> tuple[list[_Pair], GscSignals]:
        store = self.store
        url = SITE_ORIGIN
        sold: Counter[int] = Counter()
        for order in store.orders:
            for line in order.line_items:
                sold[line.product_id] += line.quantity
        active = [p for p in store.products if p.status is ProductStatus.ACTIVE]
        top = max(sold.values(), default=1)
        pairs: list[_Pair] = []
        # Product pages: the exact title, "line type vehicle", "brand type vehicle".
        for p in active:
            pop = sold[p.id] / top
            page = f"{url}/products/{p.handle}"
            vehicle = _vehicle(p.fitment)
            kind = p.product_type.lower()
            brand = p.vendor.split()[0].lower()
            pairs.append(
                _Pair(
                    p.title.lower(), page, 0.6 + 2.5 * pop, rng.uniform(1.0, 2.4), 1.25, appearance=_PRODUCT_APPEARANCE
                )
            )
            pairs.append(
                _Pair(
                    f"{p.line.lower()} {kind} {vehicle}",
                    page,
                    1.5 + 12 * pop,
                    rng.uniform(3.5, 9.0),
                    appearance=_PRODUCT_APPEARANCE,
                )
            )
            pairs.append(
                _Pair(
                    f"{brand} {kind} {vehicle}",
                    page,
                    0.8 + 4 * pop,
                    rng.uniform(1.5, 4.0),
                    appearance=_PRODUCT_APPEARANCE,
                )
            )
        # "vehicle type" lands on that combination's best seller.
        best: dict[tuple[str, str], Any] = {}
        for p in active:
            key = (_vehicle(p.fitment), p.product_type.lower())
            if key not in best or sold[p.id] > sold[best[key].id]:
                best[key] = p
        combos = sorted(best)
        low_ctr = [combos[i] for i in range(3, len(combos), max(1, len(combos) // 4))][:4]
        for key in combos:
            p = best[key]
            query = f"{key[0]} {key[1]}"
            page = f"{url}/products/{p.handle}"
            if key in low_ctr:  # ranks near the top, yet the snippet is skipped
                pairs.append(
                    _Pair(query, page, rng.uniform(45, 70), rng.uniform(1.8, 2.8), 0.16, appearance=_PRODUCT_APPEARANCE)
                )
            else:
                pairs.append(
                    _Pair(query, page, rng.uniform(8, 30), rng.uniform(5.0, 14.0), appearance=_PRODUCT_APPEARANCE)
                )
        # Head terms on collection pages.
        striking: list[str] = []
        for kind in sorted({p.product_type for p in active}):
            handle = kind.lower().replace(" ", "-")
            page = f"{url}/collections/{handle}"
            lower = kind.lower()
            pairs.append(_Pair(lower, page, rng.uniform(400, 1200), rng.uniform(24, 45)))
            pairs.append(_Pair(f"performance {lower}", page, rng.uniform(90, 260), rng.uniform(8.5, 16.5)))
            pairs.append(_Pair(f"best {lower} for track", page, rng.uniform(45, 120), rng.uniform(11, 19)))
            pairs.append(_Pair(f"{lower} near me", page, rng.uniform(20, 60), rng.uniform(30, 50), 0.6))
            striking += [f"performance {lower}", f"best {lower} for track"]
        # Brand and home page; how-to queries on blog posts.
        pairs += [
            _Pair("apex performance parts", f"{url}/", 70, 1.05, 1.35),
            _Pair("apex performance parts coupon", f"{url}/", 12, 1.4, 1.2),
            _Pair("apexperformanceparts", f"{url}/", 9, 1.0, 1.4),
            _Pair("apex performance parts shipping", f"{url}/pages/shipping", 4, 1.2, 1.3),
        ]
        for slug, queries in (
            ("how-to-bed-in-brake-pads", ("how to bed in brake pads", "brake pad bedding procedure")),
            ("coilovers-vs-lowering-springs", ("coilovers vs lowering springs", "are coilovers worth it")),
            ("choosing-a-cold-air-intake", ("best cold air intake", "does a cold air intake add horsepower")),
            ("track-day-checklist", ("track day checklist", "what to bring to a track day")),
            ("when-to-change-brake-fluid", ("when to change brake fluid", "dot 4 vs dot 5.1")),
        ):
            for query in queries:
                pairs.append(_Pair(query, f"{url}/blogs/news/{slug}", rng.uniform(40, 220), rng.uniform(3, 9)))
        # Cannibalisation: a collection page and its best product page trade places on one query.
        cannibalised: list[tuple[str, tuple[str, str]]] = []
        for kind, line_name in (("brake pads", "track day"), ("coilovers", "street")):
            candidates = [p for p in active if p.product_type.lower() == kind and p.line.lower().startswith(line_name)]
            candidates = candidates or [p for p in active if p.product_type.lower() == kind]
            product = max(candidates, key=lambda p: sold[p.id])
            query = f"{line_name} {kind}"
            a, b = f"{url}/collections/{kind.replace(' ', '-')}", f"{url}/products/{product.handle}"
            pairs.append(_Pair(query, a, 140, 7.0, swing=1))
            pairs.append(_Pair(query, b, 130, 7.5, swing=-1, appearance=_PRODUCT_APPEARANCE))
            cannibalised.append((query, (a, b)))
        # Declining pages: popular product pages whose every query loses traffic lately.
        popular = sorted(active, key=lambda p: -sold[p.id])
        declining = {f"{url}/products/{p.handle}" for p in popular[6:30:6]}
        pairs = [
            _Pair(x.query, x.page, x.base, x.position, x.ctr_factor, 0.7, x.swing, x.appearance)
            if x.page in declining
            else x
            for x in pairs
        ]
        unique: dict[tuple[str, str], _Pair] = {}
        for x in pairs:
            unique.setdefault((x.query, x.page), x)
        not_indexed = tuple(f"{url}/products/{p.handle}" for p in popular[-3:])
        low_ctr_queries = tuple(f"{v} {k}" for v, k in low_ctr)
        return list(unique.values()), GscSignals(
            striking_distance=tuple(striking),
            low_ctr=low_ctr_queries,
            declining_pages=tuple(sorted(declining)),
            cannibalised=tuple(cannibalised),
            not_indexed=not_indexed,
        )

    def calendar(self, days: list[dt.date]) -> list[tuple[str, int, float, float, float]]:
        """Per day: ISO date, ordinal, season × weekday factor, position swing, decline ramp (0→1)."""
        ramp0 = self.today.toordinal() - 49
        out = []
        for day in days:
            o = day.toordinal()
            season = 1 + 0.2 * math.sin(2 * math.pi * (day.timetuple().tm_yday - 100) / 365)
            out.append(
                (
                    day.isoformat(),
                    o,
                    season * _WEEKLY[day.weekday()],
                    2.5 * math.sin(o / 4),
                    min(1.0, max(0.0, (o - ramp0) / 42)),
                )
            )
        return out

    def series(
        self, index: int, pair: _Pair, calendar: list[tuple[str, int, float, float, float]]
    ) -> list[tuple[str, int, int, float]]:
        """(date, impressions, clicks, position) of ``pair`` for each day of ``calendar`` with impressions."""
        noise, frac = self._noise, self._frac
        a_noise, a_frac = index * 7919, index * 6007
        out = []
        for iso, o, factor, swing, ramp in calendar:
            trend = 1 - pair.decline * ramp if pair.decline else 1.0
            b = o * 104_729
            volume = pair.base * factor * trend * (1 + 0.25 * noise[(a_noise + b) % 8192])
            impressions = int(volume + frac[(a_frac + o * 92_821) % 8192])
            if impressions <= 0:
                continue
            position = pair.position + 0.6 * noise[(a_noise + b + 17 * 104_729) % 8192] + pair.swing * swing
            position = max(1.0, position)
            ctr = expected_ctr(position) * pair.ctr_factor * (1 + 0.2 * noise[(a_noise + b + 31 * 104_729) % 8192])
            clicks = min(impressions, int(impressions * ctr + frac[(a_frac + (o + 5) * 92_821) % 8192]))
            out.append((iso, impressions, clicks, position))
        return out

    def day(self, index: int, pair: _Pair, day: dt.date) -> tuple[int, int, float]:
        """Impressions, clicks and average position of ``pair`` on ``day`` (0, 0, 0 without impressions)."""
        found = self.series(index, pair, self.calendar([day]))
        return found[0][1:] if found else (0, 0, 0.0)


class _BadRequest(Exception):
    pass


_OPERATORS = {"equals", "notequals", "contains", "notcontains", "includingregex", "excludingregex"}


def _check_filter(f: Any) -> tuple[str, str, str]:
    if not isinstance(f, dict):
        raise _BadRequest("A filter must be an object.")
    dimension = str(f.get("dimension", ""))
    operator = str(f.get("operator", "equals")).lower().replace("_", "")
    expression = str(f.get("expression", ""))
    if dimension.lower() not in ("query", "page", "country", "device", "searchappearance"):
        raise _BadRequest(f"Invalid value at 'filters.dimension' ({dimension}).")
    if operator not in _OPERATORS:
        raise _BadRequest(f"Invalid value at 'filters.operator' ({f.get('operator')}).")
    if "regex" in operator:
        try:
            re.compile(expression)
        except re.error:
            raise _BadRequest(f"Invalid regular expression: {expression}") from None
    return dimension.lower().replace("searchappearance", "searchAppearance"), operator, expression


def _passes(filters: list[tuple[str, str, str]], values: dict[str, str]) -> bool:
    for dimension, operator, expression in filters:
        value = values.get(dimension)
        if value is None:
            continue
        folded, wanted = value.lower(), expression.lower()
        ok = {
            "equals": folded == wanted,
            "notequals": folded != wanted,
            "contains": wanted in folded,
            "notcontains": wanted not in folded,
        }.get(operator)
        if ok is None:
            found = re.search(expression, value) is not None
            ok = found if operator == "includingregex" else not found
        if not ok:
            return False
    return True


class _Stopped(Exception):
    """The request a computation served has gone (its client gave up): stop spending CPU on it."""


def _never() -> bool:
    return False


class _Order:
    """Rows' sort order (clicks, then impressions, descending; then keys) as one int each, smaller
    first: ``(TOP - clicks, TOP - impressions, key ranks)`` packed in bits. Ints sort fast and in C,
    where tuples of strings that tie on clicks compare string by string.

    A unit's number starts with its bound: no row of the unit sorts before it."""

    BITS = 40  # clicks and impressions stay far below 2**40
    TOP = (1 << BITS) - 1

    def __init__(self, dims: list[str], ranks: dict[str, dict[str, int]]) -> None:
        self.ranks = [ranks[d] for d in dims]
        self.radix = [len(r) for r in self.ranks]
        width = 1
        for size in self.radix:
            width *= max(1, size)
        self.key_bits = width.bit_length()

    def row(self, clicks: int, impressions: int, key: tuple[str, ...]) -> int:
        packed = 0
        for ranks, size, value in zip(self.ranks, self.radix, key, strict=True):
            packed = packed * size + ranks[value]
        return (((self.TOP - clicks) << self.BITS | (self.TOP - impressions)) << self.key_bits) | packed

    def unit(self, clicks: int, impressions: int, cluster: int, day: int) -> int:
        bound = (self.TOP - clicks) << self.BITS | (self.TOP - impressions)
        return (bound << (2 * self.BITS) | cluster << self.BITS) | (day + 1)

    def split_unit(self, unit: int) -> tuple[int, int, int]:
        """(the unit's bound as a row position, cluster, day or -1)."""
        mask = (1 << self.BITS) - 1
        return (unit >> (2 * self.BITS)) << self.key_bits, (unit >> self.BITS) & mask, (unit & mask) - 1


Found = tuple[tuple[str, ...], int, int, float]  # keys, clicks, impressions, Σ impressions × position


@dataclass(slots=True)
class _Answer:
    """The top ``depth`` rows of one query (all of them when ``complete``), in order. Kept as
    tuples of atoms, which the garbage collector stops tracking (100,000 dicts of lists it would
    walk on every full collection, stalling whichever thread triggers it); rows are built per page."""

    found: list[Found]
    meta: dict[str, Any]
    depth: int
    complete: bool

    def serves(self, need: int) -> bool:
        return self.complete or need <= self.depth

    def rows(self, start: int = 0, stop: int | None = None) -> list[dict[str, Any]]:
        return [
            {"keys": list(key), "clicks": float(c), "impressions": float(i), "ctr": c / i, "position": round(p / i, 4)}
            for key, c, i, p in self.found[start:stop]
        ]


class _Analytics:
    """One searchAnalytics.query: its top rows, computed without ever holding all of them.

    Rows are sorted by clicks, so rows ``startRow..startRow+rowLimit`` need only the top
    ``startRow + rowLimit``. Every contribution (one per pair, day, appearance, country and device)
    belongs to a *unit* whose rows no other unit shares: the pairs with the same query/page keys (a
    cluster), one day at a time when ``date`` is a dimension. No row of a unit has more clicks or
    impressions than the unit in all, so units are expanded best first, the rows kept are trimmed
    to the K best as they come, and the walk stops at the first unit that cannot beat the K-th row.
    Memory is K rows plus one unit's groups, whatever the date range and dimensions; the 486-day,
    five-dimension query (1.8 M rows in all) expands a few thousand units for its top 50,000."""

    def __init__(self, traffic: GscTraffic, *, slack: int = 1024) -> None:
        self.t = traffic
        self.slack = slack  # rows kept past 2K before trimming to K (trims cost a sort)

    @functools.cached_property
    def _fixed_ranks(self) -> dict[str, dict[str, int]]:
        values = {
            "query": {p.query for p in self.t.pairs},
            "page": {p.page for p in self.t.pairs},
            "country": {c[0] for c in _ALL_COUNTRIES},
            "device": {d[0] for d in _DEVICES},
            "searchAppearance": {a for p in self.t.pairs for a, _ in p.appearance},
        }
        return {d: {v: n for n, v in enumerate(sorted(vs))} for d, vs in values.items()}

    def _ranks(self, calendar: list[tuple[str, int, float, float, float]]) -> dict[str, dict[str, int]]:
        """Each dimension's values numbered in string order (dates: ISO strings, in day order)."""
        return {**self._fixed_ranks, "date": {entry[0]: n for n, entry in enumerate(calendar)}}

    def rows(self, body: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Every row of the query, sorted (tests and small queries)."""
        answer = self.top(body, None)
        return answer.rows(), answer.meta

    def top(self, body: dict[str, Any], k: int | None, stop: Callable[[], bool] = _never) -> _Answer:
        """The ``k`` best rows (all with None); ``stop`` is polled between units and raises
        :class:`_Stopped` when it turns true."""
        try:
            start = dt.date.fromisoformat(str(body.get("startDate")))
            end = dt.date.fromisoformat(str(body.get("endDate")))
        except ValueError:
            raise _BadRequest("startDate and endDate are required, as YYYY-MM-DD.") from None
        if start > end:
            raise _BadRequest("startDate must not be after endDate.")
        dims = [str(d) for d in body.get("dimensions") or []]
        for d in dims:
            if d not in ("query", "page", "country", "device", "date", "searchAppearance"):
                raise _BadRequest(f"Invalid value at 'dimensions' ({d}).")
        if "searchAppearance" in dims and len(dims) > 1:
            raise _BadRequest("searchAppearance cannot be grouped with other dimensions.")
        search_type = str(body.get("type") or body.get("searchType") or "web").lower()
        if search_type not in ("web", "image", "video", "news", "discover", "googlenews"):
            raise _BadRequest(f"Invalid value at 'type' ({search_type}).")
        state = str(body.get("dataState") or "final").lower().replace("_", "")
        if state not in ("final", "all", "hourlyall"):
            raise _BadRequest(f"Invalid value at 'data_state' ({body.get('dataState')}).")
        aggregation = str(body.get("aggregationType") or "auto").lower()
        filters = [_check_filter(f) for g in body.get("dimensionFilterGroups") or [] for f in g.get("filters") or []]
        by_page = "page" in dims or any(f[0] == "page" for f in filters)
        if aggregation == "byproperty" and by_page:
            raise _BadRequest("Cannot group or filter by page when aggregationType is byProperty.")
        if aggregation == "bynewsshowcasepanel" and search_type not in ("news", "googlenews"):
            raise _BadRequest("byNewsShowcasePanel is only valid for news and googleNews.")
        meta: dict[str, Any] = {"responseAggregationType": "byPage" if by_page else "byProperty"}
        last = self.t.today - dt.timedelta(days=FINAL_LAG_DAYS if state == "final" else 1)
        if state != "final" and "date" in dims:
            meta["metadata"] = {"firstIncompleteDate": (self.t.today - dt.timedelta(days=2)).isoformat()}
        end = min(end, last)
        if search_type not in ("web", "image") or start > end:
            return _Answer([], meta, 0, True)
        scale, ctr_scale, shift = (0.12, 0.3, 8.0) if search_type == "image" else (1.0, 1.0, 0.0)
        appearance_filter = next((f for f in filters if f[0] == "searchAppearance"), None)
        days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
        split_country = "country" in dims or any(f[0] == "country" for f in filters)
        split_device = "device" in dims or any(f[0] == "device" for f in filters)
        calendar = self.t.calendar(days)
        day_index = {entry[0]: n for n, entry in enumerate(calendar)}
        with_date = "date" in dims
        split_filters = [f for f in filters if f[0] in ("country", "device", "searchAppearance")]

        # The pairs that pass the filters, in clusters by the query/page keys they give rows.
        Member = tuple[int, _Pair, float, tuple[tuple[str, float], ...]]
        cluster_dims = [d for d in ("query", "page") if d in dims]
        clusters: dict[tuple[str, ...], list[Member]] = {}
        for index, pair in enumerate(self.t.pairs):
            if filters and not _passes(filters, {"query": pair.query, "page": pair.page}):
                continue
            weight = 1.0
            appearances: tuple[tuple[str, float], ...] = (("", 1.0),)
            if "searchAppearance" in dims:
                appearances = tuple(a for a in pair.appearance if a[1] > 0)
            elif appearance_filter is not None:
                weight = sum(
                    s for name, s in pair.appearance if _passes([appearance_filter], {"searchAppearance": name})
                )
                if weight <= 0:
                    continue
            ckey = tuple(pair.query if d == "query" else pair.page for d in cluster_dims)
            clusters.setdefault(ckey, []).append((index, pair, weight, appearances))
        members = list(clusters.values())

        # Units with their clicks and impressions in all (a bound on each of their rows), best first.
        # Each unit is one int that sorts like its bound (see _Order), with the cluster and day in
        # its low bits: sorting plain ints keeps the worker thread's GIL holds short.
        order = _Order(dims, self._ranks(calendar))
        units: list[int] = []
        for ci, group in enumerate(members):
            if stop():
                raise _Stopped
            per_unit: dict[int, list[int]] = defaultdict(lambda: [0, 0])
            for index, pair, _, _ in group:
                for iso, imps, clicks, _ in self.t.series(index, pair, calendar):
                    sums = per_unit[day_index[iso] if with_date else -1]
                    sums[0] += clicks
                    sums[1] += imps
            units += [order.unit(c, i, ci, di) for di, (c, i) in per_unit.items()]
        units.sort()

        # Rows kept by their sort position (smaller is better): clicks, impressions, Σ position, keys.
        kept: dict[int, tuple[int, int, float, tuple[str, ...]]] = {}
        bar: int | None = None  # the K-th row's position once K rows are kept
        complete = True
        for unit in units:
            best, ci, di = order.split_unit(unit)
            if bar is not None and best >= bar:
                complete = False  # neither this unit nor any after it can beat the K-th row
                break
            if stop():
                raise _Stopped
            groups: dict[tuple[str, ...], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
            unit_calendar = calendar if di < 0 else [calendar[di]]
            for index, pair, weight, appearances in members[ci]:
                per_day = self.t.series(index, pair, unit_calendar)
                if not with_date and per_day:
                    imps = sum(r[1] for r in per_day)
                    clicks = sum(r[2] for r in per_day)
                    pos = sum(r[1] * r[3] for r in per_day) / imps
                    per_day = [(per_day[0][0], imps, clicks, pos)]
                for iso, imps, clicks, pos in per_day:
                    for appearance, share in appearances:
                        factor = scale * share * weight
                        i = int(imps * factor + 0.5) if factor != 1.0 else imps
                        if not i:
                            continue
                        c = (
                            min(i, int(clicks * factor * ctr_scale + 0.5))
                            if factor != 1.0 or ctr_scale != 1.0
                            else clicks
                        )
                        for extra, ii, cc, pp in self._splits(i, c, pos + shift, split_country, split_device):
                            values = {"query": pair.query, "page": pair.page, "date": iso, **extra}
                            if appearance:
                                values["searchAppearance"] = appearance
                            if split_filters and not _passes(split_filters, values):
                                continue
                            g = groups[tuple([values[d] for d in dims])]
                            g[0] += cc
                            g[1] += ii
                            g[2] += ii * pp
            for key, (clicks_sum, imps_sum, position_sum) in groups.items():
                if imps_sum:
                    at = order.row(int(clicks_sum), int(imps_sum), key)
                    if bar is None or at < bar:
                        kept[at] = (int(clicks_sum), int(imps_sum), position_sum, key)
            if k is not None and len(kept) >= 2 * k + self.slack:
                best_k = sorted(kept)[:k]
                kept = {at: kept[at] for at in best_k}
                complete = False
                bar = best_k[-1]
        ranked = sorted(kept)
        if k is not None and len(ranked) > k:
            del ranked[k:]
            complete = False
        found: list[Found] = []
        for at in ranked:
            c, i, p, key = kept[at]
            found.append((key, c, i, p))
        return _Answer(found, meta, len(found) if k is None else k, complete)

    @staticmethod
    def _splits(
        impressions: int, clicks: int, position: float, by_country: bool, by_device: bool
    ) -> Iterable[tuple[dict[str, str], int, int, float]]:
        if not by_country and not by_device:
            return (({}, impressions, clicks, position),)
        out = []
        for extra, i, c, offsets in _split_shape(impressions, clicks, by_country, by_device):
            p = position
            for offset in offsets:
                p += offset
            out.append((extra, i, c, max(1.0, p)))
        return out


@functools.lru_cache(maxsize=1 << 16)
def _split_shape(
    impressions: int, clicks: int, by_country: bool, by_device: bool
) -> tuple[tuple[dict[str, str], int, int, tuple[float, ...]], ...]:
    """How a day's impressions and clicks split by country and device, with the position offsets
    of each part (the same few totals recur all the time, so this is cached)."""
    parts: list[tuple[dict[str, str], int, int, tuple[float, ...]]] = [({}, impressions, clicks, ())]
    if by_country:
        parts = [
            ({**e, "country": code}, i, c, (*o, offset))
            for e, imps, clk, o in parts
            for (code, _, offset), i, c in zip(
                _ALL_COUNTRIES,
                _apportion(imps, [w for _, w, _ in _ALL_COUNTRIES]),
                _apportion(clk, [w for _, w, _ in _ALL_COUNTRIES]),
                strict=True,
            )
        ]
    if by_device:
        parts = [
            ({**e, "device": name}, i, min(i, c), (*o, offset))
            for e, imps, clk, o in parts
            for (name, _, _, offset), i, c in zip(
                _DEVICES,
                _apportion(imps, [w for _, w, _, _ in _DEVICES]),
                _apportion(clk, [w * f for _, w, f, _ in _DEVICES]),
                strict=True,
            )
        ]
    return tuple((e, i, c, o) for e, i, c, o in parts if i)


def _encode_page(answer: _Answer, start_row: int, row_limit: int) -> bytes:
    reply: dict[str, Any] = {"responseAggregationType": answer.meta["responseAggregationType"]}
    if page := answer.rows(start_row, start_row + row_limit):
        reply["rows"] = page
    if "metadata" in answer.meta:
        reply["metadata"] = answer.meta["metadata"]
    return json.dumps(reply, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def _apportion(total: int, weights: list[float]) -> list[int]:
    from storelink.fakes.ga4 import apportion

    return apportion(total, weights)


# -- the fake --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Limit:
    per_window: int
    window_s: float


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
        self.limits = {
            "search_analytics": (_Limit(1200, 60.0),),
            "inspection": (_Limit(600, 60.0), _Limit(2000, 86_400.0)),
            "other": (_Limit(200, 60.0), _Limit(20, 1.0)),
        }
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
        now = self.wall()
        for limit in self.limits[category]:
            if self.windows[(category, limit.window_s, int(now // limit.window_s))] >= limit.per_window:
                daily = limit.window_s >= 86_400
                self.refused[category] += 1
                return google_error(
                    429 if not daily else 403,
                    "Quota exceeded for quota metric 'Queries per day'" if daily else "Rate Limit Exceeded",
                    reason="dailyLimitExceeded" if daily else "rateLimitExceeded",
                    domain="usageLimits",
                    legacy=True,
                )
        for limit in self.limits[category]:
            self.windows[(category, limit.window_s, int(now // limit.window_s))] += 1
        return None

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
        dims = body.get("dimensions") or []
        span = (dt.date.fromisoformat(body["endDate"]) - dt.date.fromisoformat(body["startDate"])).days + 1
        self.load[window] += 1 + (2 if "query" in dims and "page" in dims else 0) + span // 30
        if self.load[window] > self.load_budget:
            self.refused["load"] += 1
            return google_error(
                403,
                "Search Analytics load quota exceeded (short-term). See "
                "https://developers.google.com/webmaster-tools/limits#load for more information.",
                reason="quotaExceeded",
                domain="usageLimits",
                legacy=True,
            )
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
