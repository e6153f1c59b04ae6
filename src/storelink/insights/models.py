"""Parameters and results of the three insight views: bounded, described, JSON-ready.

The input rows (what the pure functions take) are plain frozen dataclasses: they are built by code,
never validated from user input, so they stay cheap."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

# -- input rows --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchRow:
    """One search-analytics row for one period. Bing reports queries and pages separately: its query
    rows have no ``page`` and its page rows no ``query``."""

    source: str
    query: str | None
    page: str | None
    clicks: int
    impressions: int
    position: float


@dataclass(frozen=True)
class StockRow:
    """Stock of one variant (by SKU) at one location, with its unit price."""

    sku: str
    product: str
    variant: str
    location: str
    available: int
    price: float


@dataclass(frozen=True)
class SaleRow:
    """Units of one SKU sold on one day (one order line)."""

    day: dt.date
    sku: str
    quantity: int


@dataclass(frozen=True)
class OrderLine:
    """One line of one order, resolved to its product."""

    order_id: str
    day: dt.date
    product_id: str
    product: str
    quantity: int
    revenue: float


@dataclass(frozen=True)
class ProductViews:
    """Views of a product's page over the current period (GA4)."""

    product_id: str
    product: str
    views: int


# -- SEO ---------------------------------------------------------------------------------------------------

SeoKind = Literal["striking_distance", "low_ctr", "losing_page", "cannibalisation"]


class SeoParams(BaseModel):
    days: int = Field(28, ge=7, le=180, description="Length of each period; the previous period is the one before.")
    min_impressions: int = Field(100, ge=1, description="Queries with fewer impressions in the period are noise.")
    min_position: float = Field(4.0, ge=1, description="Striking distance starts at this average position.")
    max_position: float = Field(20.0, ge=1, description="Striking distance ends at this average position.")
    ctr_ratio: float = Field(0.5, gt=0, lt=1, description="Low CTR: actual CTR below this share of the expected.")
    min_page_clicks: int = Field(10, ge=1, description="Losing pages: clicks in the previous period at least this.")
    min_page_drop: float = Field(0.2, gt=0, le=1, description="Losing pages: clicks fell by at least this share.")
    min_share: float = Field(0.1, gt=0, lt=1, description="Cannibalisation: each page has this share of impressions.")
    limit: int = Field(10, ge=1, le=100, description="Rows to return per kind; all kinds ranked by upside together.")


class PeriodStats(BaseModel):
    clicks: int = Field(description="Clicks in the period.")
    impressions: int = Field(description="Impressions in the period.")
    ctr: float = Field(description="clicks / impressions (0 without impressions).")
    position: float | None = Field(description="Impression-weighted average position; None without impressions.")


class PageViews(BaseModel):
    previous: int = Field(description="GA4 page views (all channels) in the previous period.")
    current: int = Field(description="GA4 page views (all channels) in the current period.")


class SeoOpportunity(BaseModel):
    kind: SeoKind = Field(description="Which opportunity: see docs/insights.md.")
    source: str = Field(description="gsc or bing.")
    query: str | None = Field(description="The query (None for a losing page).")
    pages: list[str] = Field(description="The page (losing page) or competing pages (cannibalisation).")
    current: PeriodStats = Field(description="The current period's evidence.")
    previous: PeriodStats | None = Field(description="None when the key was absent in the previous period.")
    expected_ctr: float | None = Field(description="Expected CTR at the current position (industry curve).")
    upside_clicks: float = Field(description="Estimated extra clicks per period; see docs/insights.md.")
    why: str = Field(description="One sentence: the evidence in words.")
    page_views: PageViews | None = Field(None, description="Losing pages: GA4 views of the page, where configured.")


class SeoResult(BaseModel):
    current_period: tuple[dt.date, dt.date] | None = Field(None, description="First and last day.")
    previous_period: tuple[dt.date, dt.date] | None = Field(None, description="First and last day.")
    rows: list[SeoOpportunity] = Field(description="At most `limit` per kind, largest upside first.")
    counts: dict[str, int] = Field(description="Rows found per kind, before `limit`.")
    truncated: bool = Field(description="Some kind had more than `limit` rows.")
    notes: list[str] = Field(default_factory=list, description="Sources skipped and why; caveats.")


# -- inventory ---------------------------------------------------------------------------------------------

InventoryKind = Literal["stockout_risk", "dead_stock", "overstock"]


class InventoryParams(BaseModel):
    window_days: int = Field(30, ge=1, le=365, description="Sales window for units sold per day.")
    lead_time_days: int | None = Field(None, ge=1, le=365, description="Restock lead time; default the setting.")
    dead_days: int = Field(30, ge=1, le=365, description="Dead stock: no sale in this many days, stock on hand.")
    overstock_days: int = Field(180, ge=1, le=3650, description="Over-stock: days of cover above this.")
    limit: int = Field(
        10,
        ge=1,
        le=200,
        description="Rows per kind; stock-outs first, then dead stock, then over-stock, each by revenue at risk.",
    )


class InventorySignal(BaseModel):
    kind: InventoryKind = Field(description="Which signal: see docs/insights.md.")
    sku: str = Field(description="The variant's SKU (or inventory item id without one).")
    product: str = Field(description="Product title.")
    variant: str = Field(description="Variant title.")
    location: str = Field(description="Location name.")
    available: int = Field(description="Units available at the location now.")
    price: float = Field(description="Unit list price.")
    units_sold: int = Field(description="Units of the variant sold in the window (all locations).")
    units_per_day: float = Field(description="This location's share of the variant's daily sales.")
    days_of_cover: float | None = Field(description="available / units_per_day; None when nothing sold.")
    last_sale: dt.date | None = Field(description="Last day the variant sold, in the orders read.")
    revenue_at_risk: float = Field(description="Lost sales (stock-out), or value of stock tied up (dead/over).")
    why: str = Field(description="One sentence: the evidence in words.")


class InventoryResult(BaseModel):
    as_of: dt.date = Field(description="The day the windows end (UTC).")
    window_days: int = Field(description="Sales window, days.")
    lead_time_days: int = Field(description="Lead time used, days.")
    currency: str = Field("USD", description="The shop's currency: prices and revenue at risk are in it.")
    rows: list[InventorySignal] = Field(
        description="At most `limit` per kind: stock-out risks, then dead stock, then over-stock, each largest "
        "revenue at risk first."
    )
    counts: dict[str, int] = Field(description="Rows found per kind, before `limit`.")
    truncated: bool = Field(description="Some kind had more than `limit` rows.")
    notes: list[str] = Field(default_factory=list, description="Sources skipped and why; caveats.")


# -- recommendations ---------------------------------------------------------------------------------------


class RecommendationParams(BaseModel):
    days: int = Field(30, ge=1, le=365, description="Length of each period; the previous period is the one before.")
    min_units: int = Field(5, ge=1, description="Rising products: at least this many units in the current period.")
    min_pair_orders: int = Field(3, ge=1, description="Bought together: the pair shares at least this many orders.")
    min_views: int = Field(100, ge=1, description="Viewed, not bought: at least this many page views.")
    limit: int = Field(10, ge=1, le=100, description="Rows per list.")


class ProductSales(BaseModel):
    product_id: str = Field(description="Shopify product id.")
    product: str = Field(description="Product title.")
    units: int = Field(description="Units sold in the current period.")
    orders: int = Field(description="Orders with the product in the current period.")
    revenue: float = Field(description="List price × units in the current period.")
    previous_units: int = Field(description="Units sold in the previous period.")
    growth: float = Field(description="(units+1)/(previous_units+1)-1: smoothed so a 0→1 change is no win.")


class ProductPair(BaseModel):
    product_a: str = Field(description="The product the rule starts from.")
    product_b: str = Field(description="The product bought with it.")
    orders_together: int = Field(description="Orders with both.")
    support: float = Field(description="Share of orders with both.")
    confidence: float = Field(description="Of orders with A, the share that also have B.")
    lift: float = Field(description="support / (share with A × share with B); above 1 = together more than chance.")


class ViewedNotBought(BaseModel):
    product_id: str = Field(description="Shopify product id.")
    product: str = Field(description="Product title.")
    views: int = Field(description="GA4 views of the product page in the current period.")
    orders: int = Field(description="Orders with the product in the current period.")
    conversion: float = Field(description="orders / views.")
    expected_orders: float = Field(description="views × the store's average conversion over viewed products.")


class RecommendationResult(BaseModel):
    current_period: tuple[dt.date, dt.date] = Field(description="First and last day.")
    orders: int = Field(description="Orders in the current period.")
    top_sellers: list[ProductSales] = Field(description="By revenue, at most `limit`.")
    rising: list[ProductSales] = Field(description="By smoothed growth, at most `limit`.")
    bought_together: list[ProductPair] = Field(description="By lift, at most `limit`.")
    viewed_not_bought: list[ViewedNotBought] = Field(description="By shortfall, at most `limit`; empty without GA4.")
    notes: list[str] = Field(default_factory=list, description="Sources skipped and why; caveats.")
