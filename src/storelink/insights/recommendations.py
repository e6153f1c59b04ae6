"""Product recommendations from order lines (and product page views where GA4 is configured).

Definitions (thresholds in :class:`RecommendationParams`); the current period is the last ``days``
days up to ``as_of``, the previous period the ``days`` before it:

- top sellers: products by revenue (list price × units) in the current period.
- rising: at least ``min_units`` units now and more than before; ranked by smoothed growth
  (units + 1) / (previous units + 1) − 1, so a product going from 0 to 1 unit does not win.
- bought together: pairs of distinct products in the same order of the current period, with at
  least ``min_pair_orders`` shared orders. With N orders, n(A) orders containing A and n(AB)
  containing both: support = n(AB)/N, confidence(A→B) = n(AB)/n(A), lift = n(AB)·N / (n(A)·n(B)).
  A is the side with the higher confidence. Ranked by lift, then shared orders.
- viewed, not bought: products with at least ``min_views`` views whose conversion (orders / views)
  is below half the average over all viewed products; ranked by the shortfall against that average.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from itertools import combinations

from storelink.errors import ConnectorError
from storelink.insights.models import (
    OrderLine,
    ProductPair,
    ProductSales,
    ProductViews,
    RecommendationParams,
    RecommendationResult,
    ViewedNotBought,
)
from storelink.insights.shopify_rows import read_catalog, read_lines, shopify
from storelink.insights.sources import InsightSources


def recommend(
    lines: Iterable[OrderLine],
    views: Iterable[ProductViews],
    *,
    as_of: dt.date,
    params: RecommendationParams,
) -> RecommendationResult:
    """All four lists, each cut to ``params.limit``."""
    start = as_of - dt.timedelta(days=params.days - 1)
    prev_start = start - dt.timedelta(days=params.days)
    names: dict[str, str] = {}
    units: dict[str, int] = defaultdict(int)
    prev_units: dict[str, int] = defaultdict(int)
    revenue: dict[str, float] = defaultdict(float)
    baskets: dict[str, set[str]] = defaultdict(set)
    for line in lines:
        names.setdefault(line.product_id, line.product)
        if start <= line.day <= as_of:
            units[line.product_id] += line.quantity
            revenue[line.product_id] += line.revenue
            baskets[line.order_id].add(line.product_id)
        elif prev_start <= line.day < start:
            prev_units[line.product_id] += line.quantity
    orders_with: dict[str, int] = defaultdict(int)
    pair_count: dict[tuple[str, str], int] = defaultdict(int)
    for basket in baskets.values():
        for pid in basket:
            orders_with[pid] += 1
        for a, b in combinations(sorted(basket), 2):
            pair_count[(a, b)] += 1

    def sales(pid: str) -> ProductSales:
        now, before = units.get(pid, 0), prev_units.get(pid, 0)
        return ProductSales(
            product_id=pid,
            product=names[pid],
            units=now,
            orders=orders_with.get(pid, 0),
            revenue=round(revenue.get(pid, 0.0), 2),
            previous_units=before,
            growth=round((now + 1) / (before + 1) - 1, 4),
        )

    top = sorted(units, key=lambda p: (-revenue[p], names[p]))[: params.limit]
    rising_ids = [p for p in units if units[p] >= params.min_units and units[p] > prev_units.get(p, 0)]
    rising = sorted((sales(p) for p in rising_ids), key=lambda s: (-s.growth, -s.units, s.product))

    n = len(baskets)
    pairs: list[ProductPair] = []
    for (a, b), both in pair_count.items():
        if both < params.min_pair_orders:
            continue
        if both / orders_with[b] > both / orders_with[a]:
            a, b = b, a
        pairs.append(
            ProductPair(
                product_a=names[a],
                product_b=names[b],
                orders_together=both,
                support=round(both / n, 4),
                confidence=round(both / orders_with[a], 4),
                lift=round(both * n / (orders_with[a] * orders_with[b]), 3),
            )
        )
    pairs.sort(key=lambda p: (-p.lift, -p.orders_together, p.product_a, p.product_b))

    viewed = [v for v in views if v.views > 0]
    total_views = sum(v.views for v in viewed)
    rate = sum(orders_with.get(v.product_id, 0) for v in viewed) / total_views if total_views else 0.0
    cold: list[ViewedNotBought] = []
    for v in viewed:
        bought = orders_with.get(v.product_id, 0)
        if v.views >= params.min_views and bought / v.views < rate / 2:
            cold.append(
                ViewedNotBought(
                    product_id=v.product_id,
                    product=v.product,
                    views=v.views,
                    orders=bought,
                    conversion=round(bought / v.views, 5),
                    expected_orders=round(v.views * rate, 1),
                )
            )
    cold.sort(key=lambda c: (-(c.expected_orders - c.orders), c.product))
    return RecommendationResult(
        current_period=(start, as_of),
        orders=n,
        top_sellers=[sales(p) for p in top],
        rising=rising[: params.limit],
        bought_together=pairs[: params.limit],
        viewed_not_bought=cold[: params.limit],
    )


# -- gathering ---------------------------------------------------------------------------------------------

GA4_PAGE_LIMIT = 1_000
PRODUCT_PATH = "/products/"


async def gather_recommendations(sources: InsightSources, params: RecommendationParams) -> RecommendationResult:
    """Read the catalogue and two periods of orders from Shopify, and product page views from GA4
    (optional: without it the viewed-not-bought list is empty and ``notes`` says why)."""
    connector = shopify(sources)
    as_of = (await connector.calendar()).today()
    catalog = await read_catalog(connector)
    raw = await read_lines(connector, as_of - dt.timedelta(days=2 * params.days - 1))
    notes = ["Revenue uses list prices (before discounts)."]
    lines: list[OrderLine] = []
    unknown = 0
    for line in raw:
        variant = catalog.variants.get(line.sku)
        if variant is None:
            unknown += 1
            continue
        lines.append(
            OrderLine(
                line.order_id,
                line.day,
                variant.product_id,
                variant.product,
                line.quantity,
                line.quantity * variant.price,
            )
        )
    if unknown:
        notes.append(f"{unknown} order line(s) had a SKU no longer in the catalogue and were left out.")
    views: list[ProductViews] = []
    try:
        pages = (
            await sources.registry.get("ga4").call("top_pages", {"days": params.days, "limit": GA4_PAGE_LIMIT})
        ).data
        per_product: dict[str, int] = defaultdict(int)
        names: dict[str, str] = {}
        for page in pages.pages:
            if not page.path.startswith(PRODUCT_PATH):
                continue
            handle = page.path[len(PRODUCT_PATH) :].split("/")[0].split("?")[0]
            if handle in catalog.by_handle:
                pid, title = catalog.by_handle[handle]
                per_product[pid] += page.views
                names[pid] = title
        views = [ProductViews(pid, names[pid], n) for pid, n in per_product.items()]
        notes.append(
            f"GA4 views cover the last {params.days} days ending yesterday; orders the {params.days} days to today."
        )
    except ConnectorError as err:
        notes.append(f"GA4 skipped ({err.kind}): {err.message} Viewed-not-bought needs GA4.")
    result = recommend(lines, views, as_of=as_of, params=params)
    result.notes = notes
    return result
