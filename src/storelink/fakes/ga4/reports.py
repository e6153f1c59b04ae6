"""The report engine: one ``runReport`` / ``runRealtimeReport`` body checked against the catalogue,
its cells built from the traffic model, filtered, ordered, paged and put on the wire."""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from storelink.fakes.ga4.catalogue import (
    _ALIASES,
    _COUNTRIES,
    _COUNTRY_SESSIONS,
    _CUBES,
    _DEVICES,
    _DIMENSIONS,
    _METRICS,
    _RATIOS,
    _REALTIME,
    _SESSION_SUMS,
    _SOURCES,
    CURRENCY,
    HOST,
    INT,
    _Cube,
)
from storelink.fakes.ga4.filters import _aggregate, _BadRequest, _dimension_key, _filter_fields, _matches, _resolve_date
from storelink.fakes.ga4.traffic import Ga4Traffic, apportion

Cells = dict[tuple[str, ...], dict[str, float]]

# Metrics that count people, not visits: a user who comes back on several days counts once over
# the range, so a row (or a total) spanning days has fewer of them than the days' sum.
_DISTINCT_USERS = ("totalUsers", "activeUsers")


def distinct_share(days: int) -> float:
    """The share of the days' summed users who are distinct over ``days`` days (1 for one day)."""
    return 1.0 / (1.0 + 0.1 * math.log(max(1, days)))


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
            share = 1.0 if "date" in needed else distinct_share((end - start).days + 1)
            for key, sums in self._cells(cube, needed, start, end).items():
                for name in _DISTINCT_USERS:
                    if name in sums:
                        sums[name] = round(sums[name] * share)
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
                if aggregation == "TOTAL" and "date" in dims:  # the range's distinct users, not the days' sum
                    agg.update({x: round(agg[x] * distinct_share(days_total)) for x in metrics if x in _DISTINCT_USERS})
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
