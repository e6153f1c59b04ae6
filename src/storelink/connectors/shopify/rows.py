"""Shopify's GraphQL nodes as the connector's models, and the search text that selects them.

Everything here is pure: a node (a page's node or a bulk file's line, which have the same shape)
goes in, a model comes out; no request is made."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from storelink.connectors.shopify import models as m
from storelink.errors import ConnectorError, ErrorKind
from storelink.store_calendar import StoreCalendar

__all__ = [
    "DayTotals",
    "currency_code",
    "customer",
    "instant",
    "inventory_row",
    "money",
    "order",
    "order_search",
    "order_summary",
    "product",
    "product_summary",
    "quoted",
    "sales_range",
    "search_text",
    "shop",
    "utc_stamp",
]


# -- values ----------------------------------------------------------------------------------------
def money(bag: dict[str, Any] | None) -> Decimal:
    if not bag:
        return Decimal("0")
    return Decimal(str((bag.get("shopMoney") or bag).get("amount") or "0"))


def currency_code(bag: dict[str, Any] | None, default: str = "USD") -> str:
    if not bag:
        return default
    return str((bag.get("shopMoney") or bag).get("currencyCode") or default)


def instant(timestamp: str) -> dt.datetime:
    return dt.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


def utc_stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- search text -------------------------------------------------------------------------------------
def search_text(*terms: str | None) -> str | None:
    joined = " ".join(t for t in terms if t)
    return joined or None


def quoted(value: str) -> str:
    return f"'{value}'" if " " in value else value


def order_search(p: m.ListOrdersParams, calendar: StoreCalendar | None) -> str | None:
    """Shopify's search syntax; a day range becomes the instants where the shop's days begin."""

    def on_or_after(field: str, day: dt.date | None) -> str | None:
        return f"{field}:>={utc_stamp(calendar.start_of(day))}" if day and calendar else None

    def on_or_before(field: str, day: dt.date | None) -> str | None:
        return f"{field}:<{utc_stamp(calendar.start_of(day + dt.timedelta(days=1)))}" if day and calendar else None

    return search_text(
        on_or_after("created_at", p.created_from),
        on_or_before("created_at", p.created_to),
        on_or_after("updated_at", p.updated_from),
        on_or_before("updated_at", p.updated_to),
        f"financial_status:{p.financial_status}" if p.financial_status else None,
        f"fulfillment_status:{p.fulfillment_status}" if p.fulfillment_status else None,
    )


def sales_range(params: m.SalesSummaryParams, *, today: dt.date) -> tuple[dt.date, dt.date]:
    if params.start and params.end:
        return params.start, params.end
    end = today - dt.timedelta(days=1)
    return end - dt.timedelta(days=(params.days or 7) - 1), end


# -- nodes as models ---------------------------------------------------------------------------------
def shop(node: dict[str, Any]) -> m.Shop:
    return m.Shop(
        name=node["name"],
        domain=node["myshopifyDomain"],
        primary_url=(node.get("primaryDomain") or {}).get("url"),
        currency=node["currencyCode"],
        plan=(node.get("plan") or {}).get("displayName"),
        timezone=node.get("ianaTimezone"),
    )


def product_summary(node: dict[str, Any]) -> m.ProductSummary:
    return m.ProductSummary(
        id=node["id"],
        title=node["title"],
        handle=node["handle"],
        vendor=node["vendor"],
        product_type=node.get("productType") or "",
        status=node["status"],
        tags=list(node.get("tags") or []),
        total_inventory=node.get("totalInventory"),
        created_at=node["createdAt"],
        updated_at=node["updatedAt"],
    )


def product(node: dict[str, Any]) -> m.Product:
    """A product with its variants, their prices, unit costs and stock per location."""
    variants = []
    for v in (node.get("variants") or {}).get("nodes", []):
        item = v.get("inventoryItem") or {}
        stock = []
        for level in (item.get("inventoryLevels") or {}).get("nodes", []):
            available = next((x["quantity"] for x in level.get("quantities", []) if x["name"] == "available"), 0)
            stock.append(
                m.LocationStock(
                    location_id=level["location"]["id"],
                    location=level["location"]["name"],
                    available=available,
                )
            )
        unit_cost = (item.get("unitCost") or {}).get("amount")
        variants.append(
            m.Variant(
                id=v["id"],
                title=v["title"],
                sku=v.get("sku"),
                price=Decimal(str(v["price"])),
                compare_at_price=Decimal(str(v["compareAtPrice"])) if v.get("compareAtPrice") else None,
                unit_cost=Decimal(str(unit_cost)) if unit_cost is not None else None,
                inventory_quantity=v.get("inventoryQuantity"),
                stock=stock,
            )
        )
    return m.Product(**product_summary(node).model_dump(), variants=variants)


def order_summary(node: dict[str, Any]) -> m.OrderSummary:
    return m.OrderSummary(
        id=node["id"],
        name=node["name"],
        created_at=node["createdAt"],
        updated_at=node["updatedAt"],
        financial_status=node.get("displayFinancialStatus"),
        fulfillment_status=node.get("displayFulfillmentStatus"),
        currency=currency_code(node.get("totalPriceSet")),
        subtotal=money(node.get("subtotalPriceSet")),
        total=money(node.get("totalPriceSet")),
        discounts=money(node.get("totalDiscountsSet")),
        refunded=money(node.get("totalRefundedSet")),
        customer_id=(node.get("customer") or {}).get("id"),
    )


def order(node: dict[str, Any]) -> m.Order:
    """An order with its line items."""
    items = [
        m.LineItem(
            title=li["title"],
            sku=li.get("sku"),
            quantity=li["quantity"],
            unit_price=money(li.get("originalUnitPriceSet")),
            product_id=(li.get("product") or {}).get("id"),
            variant_id=(li.get("variant") or {}).get("id"),
        )
        for li in (node.get("lineItems") or {}).get("nodes", [])
    ]
    return m.Order(**order_summary(node).model_dump(), line_items=items)


def inventory_row(location_id: str, location: str, level: dict[str, Any], threshold: int) -> m.InventoryRow:
    """One level as a row (from a page's node or a bulk file's line, which have the same shape)."""
    try:
        item = level.get("item") or {}
        variant = item.get("variant") or {}
        quantities = level.get("quantities") or []
        available = next((x["quantity"] for x in quantities if x.get("name") == "available"), 0)
        return m.InventoryRow(
            location_id=location_id,
            location=location,
            inventory_item_id=item.get("id", ""),
            sku=item.get("sku"),
            product=(variant.get("product") or {}).get("title"),
            variant=variant.get("title"),
            available=available,
            low=available <= threshold,
        )
    except (AttributeError, KeyError, TypeError, ValidationError) as exc:
        raise ConnectorError(
            ErrorKind.UPSTREAM_ERROR,
            "Shopify sent an inventory level in an unexpected shape; this breaks its contract. Retry later.",
        ) from exc


def _mask(value: str | None, keep: int = 1) -> str | None:
    if not value:
        return value
    if "@" in value:
        local, _, domain = value.partition("@")
        return f"{local[:keep]}***@{domain}"
    return value[:keep] + "***"


def customer(node: dict[str, Any], *, expose: bool) -> m.Customer:
    """A customer; names, e-mail and phone masked unless ``expose``."""
    address = node.get("defaultAddress") or {}
    first, last, email, phone = (
        node.get("firstName"),
        node.get("lastName"),
        node.get("email"),
        node.get("phone"),
    )
    if not expose:
        first, last, email = _mask(first), _mask(last), _mask(email)
        phone = "***" if phone else None
    return m.Customer(
        id=node["id"],
        first_name=first,
        last_name=last,
        email=email,
        phone=phone,
        city=address.get("city"),
        country=address.get("countryCodeV2"),
        orders_count=int(node.get("numberOfOrders") or 0),
        amount_spent=money(node.get("amountSpent")),
        currency=currency_code(node.get("amountSpent")),
        created_at=node["createdAt"],
        pii_masked=not expose,
    )


class DayTotals:
    """One day's (or a range's) order count, units and money, summed from order nodes."""

    __slots__ = ("discounts", "gross", "orders", "refunds", "units")

    def __init__(self) -> None:
        self.orders = 0
        self.units = 0
        self.gross = Decimal("0")
        self.discounts = Decimal("0")
        self.refunds = Decimal("0")

    def add(self, node: dict[str, Any]) -> None:
        discounts = money(node.get("totalDiscountsSet"))
        self.orders += 1
        self.units += int(node.get("subtotalLineItemsQuantity") or 0)
        self.gross += money(node.get("subtotalPriceSet")) + discounts
        self.discounts += discounts
        self.refunds += money(node.get("totalRefundedSet"))

    def merge(self, other: DayTotals) -> None:
        self.orders += other.orders
        self.units += other.units
        self.gross += other.gross
        self.discounts += other.discounts
        self.refunds += other.refunds

    def day(self, date: dt.date) -> m.DaySales:
        return m.DaySales(
            date=date,
            orders=self.orders,
            units=self.units,
            gross=self.gross,
            discounts=self.discounts,
            refunds=self.refunds,
            net=self.gross - self.discounts - self.refunds,
        )
