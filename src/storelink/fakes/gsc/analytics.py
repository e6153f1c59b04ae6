"""The Search Analytics engine: one ``searchAnalytics.query`` body checked (dimensions, filters, dates,
``dataState``) and answered with its top rows, computed best first without ever holding all of them;
country and device splits are integer apportionments of each day's impressions and clicks."""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from storelink.fakes.gsc.traffic import _ALL_COUNTRIES, _DEVICES, GscTraffic, _Pair

FINAL_LAG_DAYS = 3
HOURLY_DAYS = 10  # hourly rows reach back this far (Google, 2025-04 "Search Analytics API now supports hourly data")
PACIFIC = ZoneInfo("America/Los_Angeles")
# How a day's searches spread over its hours (Pacific): quiet nights, busy evenings.
_HOURLY_WEIGHTS = [
    1,
    0.7,
    0.5,
    0.4,
    0.4,
    0.6,
    1.2,
    2.2,
    3.2,
    3.8,
    4,
    4,
    4.1,
    4,
    3.9,
    3.9,
    4,
    4.2,
    4.6,
    5,
    4.8,
    4,
    2.9,
    1.8,
]


def hour_key(iso_day: str, hour: int) -> str:
    """An hour as the API keys it: local Pacific time with its offset, ``2025-04-07T18:00:00-07:00``."""
    day = dt.date.fromisoformat(iso_day)
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=PACIFIC).isoformat()


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
        return {
            **self._fixed_ranks,
            "date": {entry[0]: n for n, entry in enumerate(calendar)},
            "hour": {hour_key(entry[0], h): n * 24 + h for n, entry in enumerate(calendar) for h in range(24)},
        }

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
        dims = ["hour" if d.lower() == "hour" else d for d in dims]
        for d in dims:
            if d not in ("query", "page", "country", "device", "date", "hour", "searchAppearance"):
                raise _BadRequest(f"Invalid value at 'dimensions' ({d}).")
        if "searchAppearance" in dims and len(dims) > 1:
            raise _BadRequest("searchAppearance cannot be grouped with other dimensions.")
        search_type = str(body.get("type") or body.get("searchType") or "web").lower()
        if search_type not in ("web", "image", "video", "news", "discover", "googlenews"):
            raise _BadRequest(f"Invalid value at 'type' ({search_type}).")
        state = str(body.get("dataState") or "final").lower().replace("_", "")
        if state not in ("final", "all", "hourlyall"):
            raise _BadRequest(f"Invalid value at 'data_state' ({body.get('dataState')}).")
        by_hour = "hour" in dims
        if by_hour and state != "hourlyall":
            raise _BadRequest("Grouping by HOUR requires dataState HOURLY_ALL.")  # [INF] the wording
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
        if by_hour:
            meta["metadata"] = {"firstIncompleteHour": hour_key((self.t.today - dt.timedelta(days=2)).isoformat(), 0)}
            start = max(start, self.t.today - dt.timedelta(days=HOURLY_DAYS))
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
        with_date = "date" in dims or by_hour
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
                        for extra, ii, cc, pp in self._hours(
                            iso, self._splits(i, c, pos + shift, split_country, split_device), by_hour
                        ):
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
    def _hours(
        iso: str, parts: Iterable[tuple[dict[str, str], int, int, float]], by_hour: bool
    ) -> Iterable[tuple[dict[str, str], int, int, float]]:
        """Each part of a day spread over its 24 hours (when grouped by hour)."""
        if not by_hour:
            return parts
        out = []
        for extra, impressions, clicks, position in parts:
            for hour, (i, c) in enumerate(
                zip(_apportion(impressions, _HOURLY_WEIGHTS), _apportion(clicks, _HOURLY_WEIGHTS), strict=True)
            ):
                if i:
                    out.append(({**extra, "hour": hour_key(iso, hour)}, i, min(i, c), position))
        return out

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


def _apportion(total: int, weights: list[float]) -> list[int]:
    from storelink.fakes.ga4 import apportion

    return apportion(total, weights)
