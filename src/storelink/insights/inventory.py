"""Inventory signals per variant and location from stock levels and order lines.

Definitions (thresholds in :class:`InventoryParams`):

- units per day: the variant's units sold in the window ÷ ``window_days`` (days without orders are
  real zero-sales days, so the whole window is the denominator). Orders do not say which location
  shipped them, so a variant's rate is split evenly across the locations that list it.
- days of cover: available ÷ units per day (None when nothing sold).
- stock-out risk: it sells and days of cover < lead time; revenue at risk = units per day × price ×
  (lead time − days of cover), the sales lost before a reorder placed today arrives.
- dead stock: stock on hand and no sale in the last ``dead_days`` days (within the sales data we
  have); revenue at risk = available × price, the value tied up.
- over-stock: it sells and days of cover > ``overstock_days``; revenue at risk = the value of the
  units beyond ``overstock_days`` of cover.

Ranking: stock-out risks first, then dead stock, then over-stock, each by revenue at risk. A
stock-out's figure is sales lost within the lead time unless someone acts now; dead and over-stock
are capital tied up, larger in money (a year of slow stock) but not urgent, and never comparable
with lost sales in one column.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable

from storelink.insights.models import InventoryParams, InventoryResult, InventorySignal, SaleRow, StockRow
from storelink.insights.ranking import per_kind
from storelink.insights.shopify_rows import read_catalog, read_lines, shopify
from storelink.insights.sources import InsightSources


def find_signals(
    stock: Iterable[StockRow], sales: Iterable[SaleRow], *, as_of: dt.date, lead_time_days: int, params: InventoryParams
) -> list[InventorySignal]:
    """Every signal, stock-out risks first, then dead stock, then over-stock, each by revenue at risk
    (not truncated). Sales after ``as_of`` are ignored."""
    stock = list(stock)
    window_start = as_of - dt.timedelta(days=params.window_days - 1)
    units: dict[str, int] = defaultdict(int)
    last_sale: dict[str, dt.date] = {}
    for sale in sales:
        if sale.day > as_of:
            continue
        if sale.day >= window_start:
            units[sale.sku] += sale.quantity
        if sale.quantity > 0 and (sale.sku not in last_sale or sale.day > last_sale[sale.sku]):
            last_sale[sale.sku] = sale.day
    locations: dict[str, int] = defaultdict(int)
    for row in stock:
        locations[row.sku] += 1

    out: list[InventorySignal] = []
    for row in stock:
        sold = units.get(row.sku, 0)
        rate = sold / params.window_days / locations[row.sku]
        cover = row.available / rate if rate > 0 else None
        last = last_sale.get(row.sku)

        base = {
            "sku": row.sku,
            "product": row.product,
            "variant": row.variant,
            "location": row.location,
            "available": row.available,
            "price": row.price,
            "units_sold": sold,
            "units_per_day": round(rate, 4),
            "days_of_cover": round(cover, 1) if cover is not None else None,
            "last_sale": last,
        }

        def signal(kind: str, at_risk: float, why: str, *, base: dict[str, object] = base) -> InventorySignal:
            return InventorySignal.model_validate(
                {**base, "kind": kind, "revenue_at_risk": round(at_risk, 2), "why": why}
            )

        if cover is not None and cover < lead_time_days:
            lost = rate * row.price * (lead_time_days - cover)
            covers = (
                f"{row.available} on hand covers {cover_words(cover)} at {rate:.2f}/day"
                if row.available > 0
                else f"out of stock, selling {rate:.2f}/day"
            )
            why = f"{covers}; lead time {lead_time_days} days"
            out.append(signal("stockout_risk", lost, why))
        if row.available > 0 and (last is None or (as_of - last).days >= params.dead_days):
            since = f"since {last.isoformat()}" if last else "in the sales data"
            out.append(signal("dead_stock", row.available * row.price, f"{row.available} on hand, no sale {since}"))
        elif cover is not None and cover > params.overstock_days:
            excess = row.available - rate * params.overstock_days
            why = f"{cover_words(cover)} of cover, above {params.overstock_days} days"
            out.append(signal("overstock", excess * row.price, why))
    out.sort(key=lambda s: (URGENCY[s.kind], -s.revenue_at_risk, s.sku, s.location))
    return out


URGENCY = {"stockout_risk": 0, "dead_stock": 1, "overstock": 2}  # the order of kinds in a ranking


def cover_words(days: float | None) -> str:
    """Days of cover as a person reads them: "4.5 days", "45 days", "8 months", "70 years"."""
    if days is None:
        return "–"
    if days == 0:
        return "none"
    if days < 10:
        return f"{days:.1f} days"
    if days < 100:
        return f"{days:.0f} days"
    if days < 730:
        return f"{days / 30.44:.0f} months"
    return f"{days / 365.25:,.0f} years"


def money(amount: float, currency: str) -> str:
    """``1,234.56 USD``: an amount always with its currency."""
    return f"{amount:,.2f} {currency}"


# -- gathering ---------------------------------------------------------------------------------------------

STOCK_ROW_LIMIT = 5_000  # the inventory_levels maximum; a read this large runs as one bulk operation


async def gather_inventory(sources: InsightSources, params: InventoryParams) -> InventoryResult:
    """Read stock levels, the catalogue (prices) and the orders of the longer of the two windows."""
    connector = shopify(sources)
    as_of = (await connector.calendar()).today()
    currency = (await connector.call("shop_info", {})).data.currency
    lead = params.lead_time_days or sources.settings.lead_time_days
    report = (await connector.call("inventory_levels", {"limit": STOCK_ROW_LIMIT})).data
    catalog = await read_catalog(connector)
    since = as_of - dt.timedelta(days=max(params.window_days, params.dead_days) - 1)
    lines = await read_lines(connector, since)
    notes = [
        "Orders do not say which location shipped them: a variant's sales are split evenly across its locations.",
        "Revenue uses list prices (before discounts).",
    ]
    if report.truncated:
        notes.append(f"Only the first {STOCK_ROW_LIMIT} stock rows were read.")
    stock: list[StockRow] = []
    for level in report.rows:
        variant = catalog.variants.get(level.sku or "")
        price = variant.price if variant else 0.0
        stock.append(
            StockRow(
                level.sku or level.inventory_item_id,
                level.product or "",
                level.variant or "",
                level.location,
                level.available,
                price,
            )
        )
    sales = [SaleRow(line.day, line.sku, line.quantity) for line in lines]
    found = find_signals(stock, sales, as_of=as_of, lead_time_days=lead, params=params)
    rows, counts, truncated = per_kind(found, params.limit)
    return InventoryResult(
        as_of=as_of,
        window_days=params.window_days,
        lead_time_days=lead,
        currency=currency,
        rows=rows,
        counts=counts,
        truncated=truncated,
        notes=notes,
    )
