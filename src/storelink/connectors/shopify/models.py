"""Shopify operation parameters and results (DTOs).

Money is a ``Decimal`` serialised as a string, as Shopify sends it, so no cent is lost. Ids are
Shopify's global ids (``gid://shopify/Product/123``); every id parameter also accepts the bare
number, as text or as a JSON number (``id=1001``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, model_validator

from storelink.connectors.paging import Paging

Money = Annotated[Decimal, PlainSerializer(lambda d: f"{d:.2f}", return_type=str)]

# Items one list call returns at most: Shopify's page size. More come through `next_cursor`, one
# bounded call at a time (a 1,000-order call spent ~80 s waiting on the cost bucket).
MAX_LIMIT = 250


class _Params(BaseModel):
    # Numbers where text is expected become text: ids look numeric (`id=1001`).
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)


class _Page(BaseModel):
    paging: ClassVar[Paging] = Paging(size="limit", cursor="cursor", next_cursor="next_cursor")

    limit: int = Field(
        25,
        ge=1,
        le=MAX_LIMIT,
        description=f"Most items to return, at most {MAX_LIMIT}; pass `next_cursor` back as `cursor` for more.",
    )
    cursor: str | None = Field(None, description="Continue after this cursor (from a previous `next_cursor`).")


_TRUNCATED = "True when more items exist than this call returned: pass `next_cursor` back as `cursor`."
_NOTE = "Set when the call stopped early (its deadline): why, and how to get the rest."


# --- shop -----------------------------------------------------------------------------------------
class Shop(BaseModel):
    name: str
    domain: str
    primary_url: str | None
    currency: str
    plan: str | None
    timezone: str | None = None  # ianaTimezone: the zone the shop's days (and its sales by day) are counted in


# --- products -------------------------------------------------------------------------------------
class ListProductsParams(_Params, _Page):
    query: str | None = Field(None, description="Free text or Shopify search syntax, e.g. `title:*brake*`.")
    status: Literal["active", "draft", "archived"] | None = None
    vendor: str | None = None
    product_type: str | None = None


class ProductSummary(BaseModel):
    id: str
    title: str
    handle: str
    vendor: str
    product_type: str
    status: str
    tags: list[str]
    total_inventory: int | None
    variants_count: int | None = None
    created_at: dt.datetime
    updated_at: dt.datetime


class ProductPage(BaseModel):
    items: list[ProductSummary]
    next_cursor: str | None = Field(None, description="Pass as `cursor` to continue; null at the end.")
    truncated: bool = Field(False, description=_TRUNCATED)
    note: str | None = Field(None, description=_NOTE)


class GetProductParams(_Params):
    id: str = Field(description="Product gid or number, e.g. `gid://shopify/Product/1001` or `1001`.")


class LocationStock(BaseModel):
    location_id: str
    location: str
    available: int


class Variant(BaseModel):
    id: str
    title: str
    sku: str | None
    price: Money
    compare_at_price: Money | None
    unit_cost: Money | None
    inventory_quantity: int | None
    stock: list[LocationStock]


class Product(ProductSummary):
    variants: list[Variant]


# --- orders ---------------------------------------------------------------------------------------
FinancialStatus = Literal["paid", "pending", "partially_refunded", "refunded", "authorized", "voided"]
FulfillmentStatus = Literal["fulfilled", "unfulfilled", "partial"]


class ListOrdersParams(_Params, _Page):
    created_from: dt.date | None = Field(None, description="Orders created on or after this shop day (YYYY-MM-DD).")
    created_to: dt.date | None = Field(None, description="Orders created on or before this shop day (YYYY-MM-DD).")
    updated_from: dt.date | None = None
    updated_to: dt.date | None = None
    financial_status: FinancialStatus | None = None
    fulfillment_status: FulfillmentStatus | None = None

    @model_validator(mode="after")
    def _ranges(self) -> ListOrdersParams:
        if self.created_from and self.created_to and self.created_from > self.created_to:
            raise ValueError("created_from must not be after created_to")
        if self.updated_from and self.updated_to and self.updated_from > self.updated_to:
            raise ValueError("updated_from must not be after updated_to")
        return self


class LineItem(BaseModel):
    title: str
    sku: str | None
    quantity: int
    unit_price: Money
    product_id: str | None
    variant_id: str | None


class OrderSummary(BaseModel):
    id: str
    name: str
    created_at: dt.datetime
    updated_at: dt.datetime
    financial_status: str | None
    fulfillment_status: str | None
    currency: str
    subtotal: Money
    total: Money
    discounts: Money
    refunded: Money
    customer_id: str | None


class Order(OrderSummary):
    line_items: list[LineItem]


class OrderPage(BaseModel):
    items: list[OrderSummary]
    next_cursor: str | None = Field(None, description="Pass as `cursor` to continue; null at the end.")
    truncated: bool = Field(False, description=_TRUNCATED)
    note: str | None = Field(None, description=_NOTE)


class GetOrderParams(_Params):
    id: str = Field(description="Order gid, number, or name such as `#1001`.")


# --- inventory ------------------------------------------------------------------------------------
class InventoryParams(_Params):
    paging: ClassVar[Paging] = Paging(size="limit", narrow=("location", "only_low"))

    location: str | None = Field(None, description="Location name or id; all locations when omitted.")
    low_stock_threshold: int = Field(5, ge=0, description="Available at or below this counts as low.")
    only_low: bool = Field(False, description="Return only low-stock rows.")
    limit: int = Field(50, ge=1, le=5000)


class InventoryRow(BaseModel):
    location_id: str
    location: str
    inventory_item_id: str
    sku: str | None
    product: str | None
    variant: str | None
    available: int
    low: bool


class InventoryReport(BaseModel):
    threshold: int
    rows: list[InventoryRow]
    low_count: int
    truncated: bool = False


# --- customers ------------------------------------------------------------------------------------
class ListCustomersParams(_Params, _Page):
    query: str | None = Field(None, description="Shopify customer search syntax, e.g. `country:US`.")


class Customer(BaseModel):
    id: str
    first_name: str | None
    last_name: str | None
    email: str | None
    phone: str | None
    city: str | None
    country: str | None
    orders_count: int
    amount_spent: Money
    currency: str
    created_at: dt.datetime
    pii_masked: bool


class CustomerPage(BaseModel):
    items: list[Customer]
    next_cursor: str | None = Field(None, description="Pass as `cursor` to continue; null at the end.")
    truncated: bool = Field(False, description=_TRUNCATED)
    note: str | None = Field(None, description=_NOTE)


# --- sales summary --------------------------------------------------------------------------------
class SalesSummaryParams(_Params):
    days: int | None = Field(None, ge=1, le=366, description="The last N whole days (ending yesterday).")
    start: dt.date | None = Field(None, description="First day (YYYY-MM-DD), with `end`.")
    end: dt.date | None = Field(None, description="Last day (YYYY-MM-DD), inclusive.")

    @model_validator(mode="after")
    def _one_range(self) -> SalesSummaryParams:
        if self.days is None and (self.start is None or self.end is None):
            if self.start is None and self.end is None:
                self.days = 7
            else:
                raise ValueError("give both start and end, or days")
        if self.start and self.end and self.start > self.end:
            raise ValueError("start must not be after end")
        if self.start and self.end and (self.end - self.start).days > 366:
            raise ValueError("a range may span at most 366 days")
        return self


class DaySales(BaseModel):
    date: dt.date
    orders: int
    units: int
    gross: Money = Field(description="Line items at their original prices.")
    discounts: Money
    refunds: Money
    net: Money = Field(description="Gross − discounts − refunds.")


class SalesSummary(BaseModel):
    start: dt.date
    end: dt.date
    currency: str
    days: list[DaySales]
    totals: DaySales


# --- bulk export ----------------------------------------------------------------------------------
class BulkExportParams(_Params):
    paging: ClassVar[Paging] = Paging(size="sample")

    resource: Literal["products", "orders"] = "products"
    query: str | None = Field(None, description="Optional search filter, e.g. `created_at:>=2026-01-01`.")
    sample: int = Field(5, ge=0, le=100, description="How many exported rows to include in the result.")
    poll_interval_s: float = Field(2.0, gt=0, le=30)


class BulkExport(BaseModel):
    operation_id: str
    status: str
    object_count: int
    root_object_count: int
    rows_read: int
    sample: list[dict[str, object]]
    url_expires_note: str = "Shopify keeps the result file for 7 days."
