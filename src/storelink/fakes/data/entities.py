"""The demo store's entities: the shop, its catalogue, customers and orders, and :class:`DemoStore`,
which holds them all and looks them up.

Money is :class:`~decimal.Decimal` rounded to cents; timestamps are aware UTC datetimes. Every
entity is frozen: the store is built once (:mod:`storelink.fakes.data.builder`) and shared.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from enum import StrEnum
from functools import cached_property
from typing import Any

DEFAULT_TODAY = date(2026, 11, 24)
DEMO_TIMEZONE = "America/New_York"  # the demo shop's ianaTimezone: its days, and GA4's property days
DEFAULT_SEED = 20261124
DEFAULT_SHOP_NAME = "Apex Performance Parts"
CURRENCY = "USD"
CENT = Decimal("0.01")


class ProductStatus(StrEnum):
    ACTIVE = "ACTIVE"
    DRAFT = "DRAFT"
    ARCHIVED = "ARCHIVED"


class FinancialStatus(StrEnum):
    PAID = "PAID"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"
    PENDING = "PENDING"


class FulfillmentStatus(StrEnum):
    FULFILLED = "FULFILLED"
    UNFULFILLED = "UNFULFILLED"
    PARTIALLY_FULFILLED = "PARTIALLY_FULFILLED"


@dataclass(frozen=True, slots=True)
class Shop:
    id: int
    name: str
    email: str
    myshopify_domain: str
    primary_domain: str
    currency: str
    plan_name: str
    timezone: str

    @property
    def primary_url(self) -> str:
        return f"https://{self.primary_domain}"


@dataclass(frozen=True, slots=True)
class Address:
    city: str
    province_code: str | None
    country_code: str
    zip: str


@dataclass(frozen=True, slots=True)
class Location:
    id: int
    name: str
    address1: str
    address: Address
    created_at: datetime


@dataclass(frozen=True, slots=True)
class InventoryLevel:
    """Units of one variant at one location. ``incoming`` is stock on a purchase order."""

    location_id: int
    available: int
    incoming: int = 0


@dataclass(frozen=True, slots=True)
class Variant:
    """A sellable option. ``cost`` is the unit cost (for margins); ``levels`` one per location."""

    id: int
    product_id: int
    inventory_item_id: int
    position: int
    title: str
    sku: str
    price: Decimal
    compare_at_price: Decimal | None
    cost: Decimal
    levels: tuple[InventoryLevel, ...]
    created_at: datetime
    updated_at: datetime

    @property
    def inventory_quantity(self) -> int:
        return sum(level.available for level in self.levels)


@dataclass(frozen=True, slots=True)
class Product:
    """A catalogue product. ``line`` is the vendor's product line (pairs bought together share it);
    ``fitment`` the vehicle it fits, or a series name for consumables that fit any car."""

    id: int
    title: str
    handle: str
    product_type: str
    vendor: str
    line: str
    fitment: str
    status: ProductStatus
    tags: tuple[str, ...]
    description: str
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    variants: tuple[Variant, ...]

    @property
    def total_inventory(self) -> int:
        return sum(v.inventory_quantity for v in self.variants)


@dataclass(frozen=True, slots=True)
class Customer:
    """``orders_count`` and ``amount_spent`` (net of refunds, pending orders excluded) agree with the orders."""

    id: int
    first_name: str
    last_name: str
    email: str
    phone: str | None
    address: Address
    accepts_marketing: bool
    created_at: datetime
    updated_at: datetime
    orders_count: int
    amount_spent: Decimal
    tags: tuple[str, ...]

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass(frozen=True, slots=True)
class LineItem:
    """One order line. ``discount`` is this line's share of the order's discount (cents)."""

    id: int
    product_id: int
    variant_id: int
    title: str
    variant_title: str
    sku: str
    vendor: str
    quantity: int
    unit_price: Decimal
    discount: Decimal
    refunded_quantity: int

    @property
    def original_total(self) -> Decimal:
        return self.unit_price * self.quantity

    @property
    def discounted_total(self) -> Decimal:
        return self.original_total - self.discount

    @property
    def current_quantity(self) -> int:
        return self.quantity - self.refunded_quantity


@dataclass(frozen=True, slots=True)
class Refund:
    """Money returned on an order; ``line_item_ids`` are the lines it covered (tax included)."""

    id: int
    created_at: datetime
    amount: Decimal
    note: str
    line_item_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Order:
    """An order; ``customer_id`` is None for a guest checkout. Totals are stored, not recomputed."""

    id: int
    number: int
    customer_id: int | None
    email: str
    created_at: datetime
    updated_at: datetime
    line_items: tuple[LineItem, ...]
    discount_codes: tuple[str, ...]
    subtotal: Decimal  # lines after discounts, before shipping and tax (Shopify's subtotalPrice)
    total_discounts: Decimal
    total_shipping: Decimal
    total_tax: Decimal
    total_price: Decimal  # subtotal + shipping + tax
    refunds: tuple[Refund, ...]
    total_refunded: Decimal
    financial_status: FinancialStatus
    fulfillment_status: FulfillmentStatus
    ship_to: Address

    @property
    def name(self) -> str:
        return f"#{self.number}"

    @property
    def processed_at(self) -> datetime:
        return self.created_at

    @property
    def line_items_subtotal(self) -> Decimal:
        """Sum of the lines before discounts."""
        return self.subtotal + self.total_discounts

    @property
    def current_total_price(self) -> Decimal:
        return self.total_price - self.total_refunded

    @property
    def quantity(self) -> int:
        return sum(li.quantity for li in self.line_items)


@dataclass(frozen=True, slots=True)
class Signals:
    """Ground truth for the patterns planted in the data (product ids)."""

    fast_movers_low_stock: tuple[int, ...]
    dead_stock: tuple[int, ...]
    rising: tuple[int, ...]
    bought_together: tuple[tuple[int, int], ...]


@dataclass(frozen=True, eq=False)
class DemoStore:
    """The whole store. Lists are ordered by id (orders: by creation, which is the same)."""

    shop: Shop
    today: date
    seed: int
    locations: tuple[Location, ...]
    products: tuple[Product, ...]
    customers: tuple[Customer, ...]
    orders: tuple[Order, ...]
    signals: Signals
    _products: Mapping[int, Product] = field(repr=False)
    _variants: Mapping[int, Variant] = field(repr=False)
    _items: Mapping[int, Variant] = field(repr=False)
    _customers: Mapping[int, Customer] = field(repr=False)
    _orders: Mapping[int, Order] = field(repr=False)
    _handles: Mapping[str, Product] = field(repr=False)
    _order_times: tuple[datetime, ...] = field(repr=False)

    @property
    def as_of(self) -> datetime:
        """The moment the store is observed: the last second of ``today`` (UTC)."""
        return _end_of_day(self.today)

    @cached_property
    def variants(self) -> tuple[Variant, ...]:
        """Every variant, product by product."""
        return tuple(v for p in self.products for v in p.variants)

    def product(self, product_id: int) -> Product | None:
        return self._products.get(product_id)

    def product_by_handle(self, handle: str) -> Product | None:
        """The product behind a storefront URL ``/products/{handle}`` (for traffic and search data)."""
        return self._handles.get(handle)

    def variant(self, variant_id: int) -> Variant | None:
        return self._variants.get(variant_id)

    def variant_by_inventory_item(self, item_id: int) -> Variant | None:
        return self._items.get(item_id)

    def customer(self, customer_id: int) -> Customer | None:
        return self._customers.get(customer_id)

    def order(self, order_id: int) -> Order | None:
        return self._orders.get(order_id)

    def location(self, location_id: int) -> Location | None:
        return next((loc for loc in self.locations if loc.id == location_id), None)

    def orders_between(self, start: datetime, end: datetime) -> Sequence[Order]:
        """Orders created in ``[start, end)``, by bisection on the creation times."""
        lo = bisect.bisect_left(self._order_times, start)
        hi = bisect.bisect_left(self._order_times, end)
        return self.orders[lo:hi]

    def summary(self) -> dict[str, Any]:
        """Counts, totals and a digest of every order: equal summaries mean equal stores."""
        digest = hashlib.sha256()
        for o in self.orders:
            lines = ",".join(f"{li.sku}x{li.quantity}" for li in o.line_items)
            digest.update(f"{o.name}|{o.created_at.isoformat()}|{o.current_total_price}|{lines}\n".encode())
        for p in self.products:
            digest.update(f"{p.handle}|{p.status}|{p.total_inventory}\n".encode())
        return {
            "products": len(self.products),
            "variants": sum(len(p.variants) for p in self.products),
            "customers": len(self.customers),
            "orders": len(self.orders),
            "line_items": sum(len(o.line_items) for o in self.orders),
            "revenue": str(sum((o.current_total_price for o in self.orders), Decimal(0))),
            "first_order": (self.orders[0].name, self.orders[0].created_at.isoformat()),
            "last_order": (self.orders[-1].name, self.orders[-1].created_at.isoformat()),
            "digest": digest.hexdigest(),
        }


def _end_of_day(day: date) -> datetime:
    return datetime.combine(day, time(23, 59, 59), UTC)
