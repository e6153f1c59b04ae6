"""The demo store every fake serves: "Apex Performance Parts", a performance-parts shop in USD.

One deterministic data set backs the Shopify fake now and the GA4, Search Console and mailbox
fakes later, so that numbers agree across upstreams (the products a search query lands on are
the products that sell). It is built from ``random.Random(seed)`` and a fixed ``today`` only,
never the wall clock, so two builds with the same arguments are equal to the byte.

What is in it (defaults: ``today = 2026-11-24``, ``seed = DEFAULT_SEED``)
    * 300 products in 15 product types from 15 vendors, 1-4 variants each (SKU, price,
      compare-at price, unit cost, inventory item), statuses mostly ACTIVE, some DRAFT/ARCHIVED.
    * Two locations, "Main Warehouse" and "East Coast Depot", with an available quantity per
      variant per location: some zero, some low, some overstocked.
    * 800 customers (name, email on the reserved ``example.*`` domains, fictional phone ranges,
      city and country); order count and amount spent agree with the orders.
    * One year of orders (365 days ending with ``today``), 2-60 a day with a weekly cycle, a
      spring/summer racing-season peak and a Black Friday / Cyber Monday bump; 1-4 line items,
      discount codes, refunds on a few percent, financial and fulfillment statuses, names
      ``#1001``... in creation order, UTC timestamps.

Signals planted for analytics to find (their ids are in :attr:`DemoStore.signals`)
    * fast movers with low stock (stock-out risk), dead stock (stock, no sale in 90+ days),
      rising products (sales growing over the last 60 days), and pairs bought together
      (brake pads with the rotors of the same line, spark plugs with the matching coils).

Money is :class:`~decimal.Decimal` rounded to cents. Timestamps are aware UTC datetimes; the store
is observed at :attr:`DemoStore.as_of` (the end of ``today``), so nothing happens after it.
Building takes about half a second of CPU on a small machine; :func:`demo_store` caches one
store per ``(today, seed)``, so a process pays it once.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import math
import random
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from functools import cached_property, lru_cache
from time import time as time_now
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

from storelink.resilience.clock import Clock, MonotonicClock
from storelink.store_calendar import WallClock, noon_on

__all__ = [
    "DEFAULT_SEED",
    "DEFAULT_TODAY",
    "DEMO_TIMEZONE",
    "Address",
    "Customer",
    "DemoStore",
    "FinancialStatus",
    "FulfillmentStatus",
    "InventoryLevel",
    "LineItem",
    "Location",
    "Order",
    "Product",
    "ProductStatus",
    "Refund",
    "Shop",
    "Signals",
    "Variant",
    "build_demo_store",
    "current_demo_store",
    "demo_store",
    "demo_wall",
]

DEFAULT_TODAY = date(2026, 11, 24)
DEMO_TIMEZONE = "America/New_York"  # the demo shop's ianaTimezone: its days, and GA4's property days
DEFAULT_SEED = 20261124
CURRENCY = "USD"
CENT = Decimal("0.01")

# Id bases: Shopify ids are large integers; these keep each kind in its own, realistic range.
_PRODUCT_ID0 = 8_512_000_000_000
_VARIANT_ID0 = 45_310_000_000_000
_ITEM_ID0 = 47_420_000_000_000
_CUSTOMER_ID0 = 7_390_000_000_000
_ORDER_ID0 = 6_120_000_000_000
_LINE_ID0 = 15_880_000_000_000
_REFUND_ID0 = 981_000_000_000


# -- the model --------------------------------------------------------------------------------------


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


# -- public entry points ----------------------------------------------------------------------------


@lru_cache(maxsize=4)
def demo_store(today: date = DEFAULT_TODAY, seed: int = DEFAULT_SEED) -> DemoStore:
    """The demo store for ``today``, built once per ``(today, seed)`` and shared (it is immutable)."""
    return build_demo_store(today=today, seed=seed)


def current_demo_store(today: date | None = None, *, wall: Callable[[], float] | None = None) -> DemoStore:
    """What mock mode serves: the demo store as of ``today`` (``STORELINK_DEMO_TODAY``), else as of
    the shop's own date on ``wall`` (epoch seconds; the system clock when not given), so "the last
    N days" always reach the present. Deterministic for a given day; a process keeps the day it
    started on."""
    if today is not None:
        return demo_store(today)
    now = wall() if wall is not None else time_now()
    return demo_store(datetime.fromtimestamp(now, ZoneInfo(DEMO_TIMEZONE)).date())


def demo_wall(today: date | None = None, clock: Clock | None = None) -> WallClock:
    """Mock mode's wall clock. Pinned (``STORELINK_DEMO_TODAY``), it starts at noon on ``today`` in the
    demo shop's zone and moves on from there, so connectors and fakes agree that it is that day
    whatever the real date (tests pin it so their figures hold on any day); else it is the real time."""
    anchor = noon_on(today, ZoneInfo(DEMO_TIMEZONE)) if today is not None else None
    return WallClock(clock or MonotonicClock(), anchor=anchor)


def build_demo_store(*, today: date = DEFAULT_TODAY, seed: int = DEFAULT_SEED) -> DemoStore:
    """Build a fresh store. Prefer :func:`demo_store`; this exists for tests of determinism."""
    return _Builder(today, seed).build()


# -- catalogue tables -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _TypeSpec:
    """How one product type looks and sells."""

    name: str
    code: str
    count: int
    price: tuple[int, int]
    options: tuple[tuple[str, float], ...]  # variant title and price factor
    lines: tuple[str, ...]
    vendors: tuple[str, ...]
    popularity: float
    max_quantity: int
    universal: bool = False  # consumables: no vehicle fitment in the title


_VENDORS: Mapping[str, str] = {
    "IronClad Brakes": "ICB",
    "Stopline Performance": "SLP",
    "Apex Racing": "APX",
    "Stratos Suspension": "STS",
    "Redline Dynamics": "RLD",
    "Cyclone Intakes": "CYI",
    "Titan Exhaust": "TTX",
    "Vortex Boost": "VXB",
    "Coldfront Cooling": "CFC",
    "Ignis Ignition": "IGN",
    "PureFlow Filtration": "PFF",
    "Gripline Clutch": "GLC",
    "Torque Forge": "TQF",
    "VelocityWorks": "VLW",
    "Summit Lubricants": "SML",
}

_BRAKE_LINES = ("Street Sport", "Track Day", "Ceramic Comfort", "Endurance Race")

_TYPES: tuple[_TypeSpec, ...] = (
    _TypeSpec("Brake Pads", "BP", 36, (49, 189), (("Front", 1.0), ("Rear", 0.85)), _BRAKE_LINES,
              ("IronClad Brakes", "Stopline Performance", "Apex Racing"), 3.0, 2),
    _TypeSpec("Brake Rotors", "BR", 30, (89, 349), (("Front", 1.0), ("Rear", 0.9)), _BRAKE_LINES,
              ("IronClad Brakes", "Stopline Performance", "Apex Racing"), 1.6, 2),
    _TypeSpec("Coilovers", "CO", 24, (899, 3199), (("Street", 1.0), ("Track", 1.25)),
              ("Street Comfort", "Sport", "Clubsport", "Pro Series"),
              ("Stratos Suspension", "Redline Dynamics"), 0.35, 1),
    _TypeSpec("Air Intakes", "AI", 24, (179, 549), (("Polished", 1.0), ("Black", 1.05), ("Carbon", 1.4)),
              ("Cold Air", "Short Ram", "Carbon Series"),
              ("Cyclone Intakes", "PureFlow Filtration", "VelocityWorks", "Apex Racing"), 0.9, 1),
    _TypeSpec("Exhaust Systems", "EX", 26, (449, 2199),
              (("Resonated", 1.0), ("Non-Resonated", 0.95), ("Titanium Tips", 1.15)),
              ("Cat-Back", "Axle-Back", "Turbo-Back"), ("Titan Exhaust", "Torque Forge"), 0.45, 1),
    _TypeSpec("Turbochargers", "TC", 14, (999, 3499), (("Journal Bearing", 1.0), ("Ball Bearing", 1.3)),
              ("Stage 2 Upgrade", "Big Turbo", "Drop-In"), ("Vortex Boost", "Torque Forge"), 0.15, 1),
    _TypeSpec("Intercoolers", "IC", 16, (349, 1399), (("Default Title", 1.0),),
              ("Front Mount", "Top Mount", "Race Core"),
              ("Vortex Boost", "Coldfront Cooling", "VelocityWorks"), 0.3, 1),
    _TypeSpec("Spark Plugs", "SP", 22, (9, 24), (("Set of 4", 4.0), ("Set of 6", 6.0), ("Set of 8", 8.0)),
              ("Iridium Racing", "Platinum Street", "Cold Range"), ("Ignis Ignition", "Apex Racing"), 2.6, 3),
    _TypeSpec("Oil Filters", "OF", 20, (9, 24), (("Single", 1.0), ("6-Pack", 5.4)),
              ("High Flow", "Race", "Long Life"),
              ("PureFlow Filtration", "Summit Lubricants", "Apex Racing"), 2.8, 4),
    _TypeSpec("Clutch Kits", "CK", 22, (349, 1499),
              (("Stage 1", 1.0), ("Stage 2", 1.3), ("Stage 3", 1.7), ("Stage 4", 2.1)),
              ("Street", "Sport", "Twin Disc"), ("Gripline Clutch", "Redline Dynamics"), 0.4, 1),
    _TypeSpec("Ignition Coils", "IG", 16, (59, 289), (("Single", 1.0), ("Set of 4", 3.6)),
              ("Iridium Racing", "Platinum Street", "High Output"), ("Ignis Ignition",), 0.9, 2),
    _TypeSpec("Fuel Injectors", "FI", 14, (249, 899),
              (("550cc", 1.0), ("850cc", 1.1), ("1050cc", 1.2), ("1300cc", 1.3)),
              ("Flow Matched", "E85 Ready"), ("Torque Forge", "VelocityWorks"), 0.25, 1),
    _TypeSpec("Sway Bars", "SB", 16, (199, 599), (("Front", 1.0), ("Rear", 0.9), ("Front & Rear Kit", 1.8)),
              ("Adjustable", "Hollow Race"),
              ("Stratos Suspension", "Redline Dynamics", "Apex Racing"), 0.5, 1),
    _TypeSpec("Engine Oil", "EO", 12, (12, 19), (("1 Quart", 1.0), ("5 Quart Jug", 4.5)),
              ("0W-20 Full Synthetic", "5W-30 Full Synthetic", "5W-40 Full Synthetic", "10W-60 Racing"),
              ("Summit Lubricants",), 2.0, 4, universal=True),
    _TypeSpec("Brake Fluid", "BF", 8, (15, 34), (("500 ml", 1.0), ("1 L", 1.8)),
              ("DOT 4 Racing", "DOT 5.1 High Temp"), ("IronClad Brakes", "Summit Lubricants"), 1.1, 3,
              universal=True),
)  # fmt: skip

_FITMENTS = (
    "Honda Civic Type R (FK8)", "Subaru WRX STI", "Toyota GR86 / Subaru BRZ", "Ford Mustang GT (S550)",
    "VW Golf R (Mk7)", "Nissan 370Z", "Mazda MX-5 Miata (ND)", "Toyota GR Supra (A90)", "BMW M3 (F80)",
    "Chevrolet Camaro SS", "Ford Focus RS", "Mitsubishi Lancer Evolution X", "VW Golf GTI (Mk8)",
    "Hyundai Veloster N", "Toyota GR Corolla",
)  # fmt: skip

_SERIES = ("Street Series", "Track Series", "Euro Series", "Endurance Series")  # consumables fit any car

_FIRST_NAMES = (
    "James", "Maria", "Robert", "Linda", "Michael", "Sarah", "David", "Jessica", "Carlos", "Emily", "Daniel",
    "Ashley", "Kevin", "Megan", "Brian", "Laura", "Jason", "Rachel", "Tyler", "Nicole", "Ryan", "Hannah",
    "Marcus", "Olivia", "Ethan", "Sofia", "Logan", "Chloe", "Noah", "Grace", "Liam", "Ava", "Mateo", "Mia",
    "Hiroshi", "Yuki", "Priya", "Arjun", "Lukas", "Anna", "Oliver", "Isla", "Jack", "Amelia", "Lucas", "Zoe",
    "Andre", "Keisha", "Wei", "Mei", "Diego", "Valentina", "Connor", "Brooke", "Trevor", "Jade", "Dylan",
    "Kayla", "Austin", "Paige",
)  # fmt: skip
_LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez", "Lopez",
    "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee", "Thompson", "White",
    "Harris", "Clark", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Nguyen",
    "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter",
    "Roberts", "Tanaka", "Sato", "Patel", "Schmidt", "Muller", "Fischer", "Evans", "Turner", "Murphy",
    "Cooper", "Reed", "Brooks", "Kelly", "Sanders", "Price", "Bennett", "Wood",
)  # fmt: skip

# (city, province, zip, phone area code) per country; the country weight is the share of customers.
_CITIES: Mapping[str, tuple[float, tuple[tuple[str, str | None, str, str], ...]]] = {
    "US": (0.78, (
        ("Los Angeles", "CA", "90012", "213"), ("San Diego", "CA", "92101", "619"),
        ("Phoenix", "AZ", "85004", "602"), ("Dallas", "TX", "75201", "214"),
        ("Houston", "TX", "77002", "713"),
        ("Austin", "TX", "78701", "512"), ("Denver", "CO", "80202", "303"), ("Seattle", "WA", "98101", "206"),
        ("Portland", "OR", "97204", "503"), ("Chicago", "IL", "60601", "312"),
        ("Detroit", "MI", "48226", "313"), ("Atlanta", "GA", "30303", "404"), ("Miami", "FL", "33130", "305"),
        ("Orlando", "FL", "32801", "407"), ("Charlotte", "NC", "28202", "704"),
        ("New York", "NY", "10007", "212"), ("Boston", "MA", "02108", "617"),
        ("Philadelphia", "PA", "19107", "215"), ("Las Vegas", "NV", "89101", "702"),
        ("Salt Lake City", "UT", "84111", "801"),
    )),
    "CA": (0.09, (
        ("Toronto", "ON", "M5H 2N2", "416"), ("Vancouver", "BC", "V6B 1A1", "604"),
        ("Calgary", "AB", "T2P 1J9", "403"), ("Montreal", "QC", "H2Y 1C6", "514"),
    )),
    "GB": (0.06, (("London", None, "EC1A 1BB", ""), ("Manchester", None, "M1 1AE", ""),
                  ("Birmingham", None, "B1 1AA", ""))),
    "AU": (0.04, (("Sydney", "NSW", "2000", ""), ("Melbourne", "VIC", "3000", ""),
                  ("Brisbane", "QLD", "4000", ""))),
    "DE": (0.03, (("Berlin", None, "10115", ""), ("Munich", None, "80331", ""),
                  ("Stuttgart", None, "70173", ""))),
}  # fmt: skip

_TAX_RATES: Mapping[str, Decimal] = {
    "US": Decimal("0.07"),
    "CA": Decimal("0.13"),
    "GB": Decimal("0.20"),
    "AU": Decimal("0.10"),
    "DE": Decimal("0.19"),
}

_Choice = tuple[tuple[int, ...], tuple[float, ...]]  # values and cumulative weights, for _pick


def _choice(pairs: Iterable[tuple[int, float]]) -> _Choice:
    values, weights = zip(*pairs, strict=True)
    return tuple(values), tuple(itertools.accumulate(weights))


_WEEKDAY_FACTOR = (
    1.2,
    1.1,
    1.0,
    1.0,
    0.95,
    0.75,
    0.85,
)  # Monday first: people order after a weekend of wrenching
# UTC hour weights: US evenings (00-05 UTC) are the busiest, US nights (07-12 UTC) the quietest.
_HOUR = _choice(enumerate((9, 8, 7, 5, 4, 3, 2, 1, 1, 1, 1, 2, 3, 4, 5, 6, 6, 6, 7, 7, 8, 8, 9, 9)))
_LINES_PER_ORDER = _choice(((1, 0.55), (2, 0.28), (3, 0.12), (4, 0.05)))
_VARIANT_POSITION = _choice(((0, 6), (1, 3), (2, 2), (3, 1)))  # the first variant sells best

_FAST_MOVERS = 4
_DEAD_STOCK = 10
_RISING = 2
_BRAKE_PAIRS = 6
_IGNITION_PAIRS = 2
_PAIR_RATE = 0.55


# -- the builder ------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Draft:
    """A product while the catalogue is being assembled (mutable, unlike :class:`Product`)."""

    index: int
    spec: _TypeSpec
    vendor: str
    line: str
    fitment: str
    status: ProductStatus = ProductStatus.ACTIVE
    popularity: float = 1.0
    created_at: datetime = field(default_factory=lambda: datetime(2024, 1, 1, tzinfo=UTC))
    sold_until: datetime | None = None  # archived and dead-stock products stop selling here
    rising: bool = False
    stock: str = "normal"  # normal | low | dead


class _Builder:
    """Assembles the store in dependency order: catalogue, customers, orders, then totals."""

    def __init__(self, today: date, seed: int) -> None:
        self.today = today
        self.seed = seed
        self.rng = random.Random(seed)
        self.start = today - timedelta(days=364)
        self.as_of = _end_of_day(today)
        self.locations = _locations()
        self.titles: dict[int, str] = {}
        self.vendors: dict[int, str] = {}

    # -- catalogue ---------------------------------------------------------------------------------
    def _drafts(self) -> list[_Draft]:
        """One draft per product; the first brake pads and rotors (and plugs and coils) come in pairs."""
        drafts: list[_Draft] = []
        by_type: dict[str, list[_Draft]] = {}
        titles: set[tuple[str, str, str, str]] = set()
        for spec in _TYPES:
            for n in range(spec.count):
                twin = self._twin_of(spec, n, by_type)
                vendor, line, fitment = twin or self._pick_identity(spec, titles)
                titles.add((spec.name, vendor, line, fitment))
                draft = _Draft(len(drafts), spec, vendor, line, fitment)
                drafts.append(draft)
                by_type.setdefault(spec.name, []).append(draft)
        return drafts

    @staticmethod
    def _twin_of(spec: _TypeSpec, n: int, by_type: Mapping[str, list[_Draft]]) -> tuple[str, str, str] | None:
        """Rotors copy the identity of the matching pads, coils of the matching plugs (the pairs)."""
        partner = {
            "Brake Rotors": ("Brake Pads", _BRAKE_PAIRS),
            "Ignition Coils": ("Spark Plugs", _IGNITION_PAIRS),
        }
        if spec.name not in partner:
            return None
        other, count = partner[spec.name]
        if n >= count:
            return None
        src = by_type[other][n]
        vendor = src.vendor if src.vendor in spec.vendors else spec.vendors[0]
        return vendor, src.line, src.fitment

    def _pick_identity(self, spec: _TypeSpec, taken: set[tuple[str, str, str, str]]) -> tuple[str, str, str]:
        rng = self.rng
        for _ in range(1000):
            vendor = rng.choice(spec.vendors)
            line = rng.choice(spec.lines)
            fitment = rng.choice(_SERIES if spec.universal else _FITMENTS)
            if (spec.name, vendor, line, fitment) not in taken:
                return vendor, line, fitment
        raise AssertionError(f"too few vendor/line/fitment combinations for {spec.count} {spec.name}")

    def _plan_catalogue(self, drafts: list[_Draft]) -> Signals:
        """Give every draft a status, popularity and stock profile, planting the signals."""
        rng = self.rng
        pairs = _pairs(drafts)
        paired = {i for pair in pairs for i in pair}
        for d in drafts:
            d.popularity = d.spec.popularity * rng.lognormvariate(0.0, 0.7)
            d.created_at = self._instant(date(2023, 3, 1) + timedelta(days=rng.randrange(900)))
            draw = rng.random()
            if d.index in paired:
                continue
            if draw < 0.05:
                d.status = ProductStatus.ARCHIVED
                d.sold_until = self._instant(self.start + timedelta(days=rng.randrange(60, 240)))
                d.stock = "dead"
            elif draw < 0.12:
                d.status = ProductStatus.DRAFT
                d.created_at = self._instant(self.today - timedelta(days=rng.randrange(5, 60)))
        active = [d for d in drafts if d.status is ProductStatus.ACTIVE and d.index not in paired]
        rng.shuffle(active)
        cheap = [d for d in active if d.spec.name in ("Brake Pads", "Spark Plugs", "Oil Filters")]
        fast = cheap[:_FAST_MOVERS]
        rest = [d for d in active if d not in fast]
        dead, rising = rest[:_DEAD_STOCK], rest[_DEAD_STOCK : _DEAD_STOCK + _RISING]
        for d in fast:
            d.popularity = d.spec.popularity * 6.0
            d.stock = "low"
        for d in dead:
            d.sold_until = self._instant(self.today - timedelta(days=rng.randrange(100, 200)))
            d.stock = "overstock"
        for d in rising:
            d.rising = True
            d.popularity = d.spec.popularity * 1.5
            d.created_at = self._instant(self.today - timedelta(days=150))
        for a, b in pairs:
            drafts[a].popularity = drafts[b].popularity = drafts[a].spec.popularity * 1.8
        return Signals(
            fast_movers_low_stock=tuple(_PRODUCT_ID0 + d.index for d in fast),
            dead_stock=tuple(_PRODUCT_ID0 + d.index for d in dead),
            rising=tuple(_PRODUCT_ID0 + d.index for d in rising),
            bought_together=tuple((_PRODUCT_ID0 + a, _PRODUCT_ID0 + b) for a, b in pairs),
        )

    def _product(self, d: _Draft, handles: set[str], variant_ids: Iterable[int]) -> Product:
        spec, rng = d.spec, self.rng
        title = _title(d)
        handle = _unique_handle(_slug(title), handles)
        base = rng.uniform(*spec.price)
        n_options = len(spec.options)
        n_variants = rng.randint(max(1, n_options - 1), n_options) if n_options > 1 else 1
        updated = max(d.created_at, self._instant(self.start + timedelta(days=rng.randrange(365))))
        if d.sold_until is not None and d.status is ProductStatus.ARCHIVED:
            updated = d.sold_until
        variants = tuple(
            self._variant(d, pos, option, factor * base, vid, updated)
            for pos, ((option, factor), vid) in enumerate(
                zip(spec.options[:n_variants], variant_ids, strict=False), start=1
            )
        )
        tags = _tags(d)
        return Product(
            id=_PRODUCT_ID0 + d.index,
            title=title,
            handle=handle,
            product_type=spec.name,
            vendor=d.vendor,
            line=d.line,
            fitment=d.fitment,
            status=d.status,
            tags=tags,
            description=f"{d.line} {spec.name.lower()} by {d.vendor}"
            + (f", {d.fitment.lower()}." if spec.universal else f", engineered for the {d.fitment}."),
            created_at=d.created_at,
            updated_at=updated,
            published_at=None if d.status is ProductStatus.DRAFT else d.created_at,
            variants=variants,
        )

    def _variant(self, d: _Draft, pos: int, option: str, raw_price: float, vid: int, updated: datetime) -> Variant:
        rng = self.rng
        price = _charm(raw_price)
        compare = _charm(raw_price * rng.uniform(1.1, 1.3)) if rng.random() < 0.3 else None
        cost = _cents(float(price) * rng.uniform(0.45, 0.65))
        code = re.sub(r"[^A-Z0-9]", "", option.upper())[:4] or "STD"
        return Variant(
            id=vid,
            product_id=_PRODUCT_ID0 + d.index,
            inventory_item_id=_ITEM_ID0 + (vid - _VARIANT_ID0),
            position=pos,
            title=option,
            sku=f"{_VENDORS[d.vendor]}-{d.spec.code}-{d.index:04d}-{code}",
            price=price,
            compare_at_price=compare,
            cost=cost,
            levels=self._levels(d.stock),
            created_at=d.created_at,
            updated_at=updated,
        )

    def _levels(self, stock: str) -> tuple[InventoryLevel, ...]:
        """Available units at (Main Warehouse, East Coast Depot) for one variant."""
        rng = self.rng
        main_id, east_id = (loc.id for loc in self.locations)
        if stock == "low":
            return InventoryLevel(main_id, rng.randint(0, 3), incoming=rng.choice((0, 24))), InventoryLevel(east_id, 0)
        if stock == "overstock":
            return InventoryLevel(main_id, rng.randint(40, 180)), InventoryLevel(east_id, rng.randint(10, 60))
        if stock == "dead":
            return InventoryLevel(main_id, 0), InventoryLevel(east_id, 0)
        draw = rng.random()
        if draw < 0.07:
            main = 0
        elif draw < 0.2:
            main = rng.randint(1, 5)
        elif draw < 0.93:
            main = rng.randint(6, 60)
        else:
            main = rng.randint(150, 600)
        east = 0 if rng.random() < 0.35 else rng.randint(0, 25)
        return InventoryLevel(main_id, main), InventoryLevel(east_id, east)

    # -- customers ---------------------------------------------------------------------------------
    def _customer_seeds(self, n: int = 800) -> list[_CustomerSeed]:
        rng = self.rng
        emails: set[str] = set()
        phones: set[str] = set()
        countries = list(_CITIES)
        weights = [_CITIES[c][0] for c in countries]
        seeds: list[_CustomerSeed] = []
        for k in range(n):
            first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
            country = rng.choices(countries, weights)[0]
            city, province, zip_code, area = rng.choice(_CITIES[country][1])
            email = _unique_email(first, last, rng, emails)
            phone = _phone(country, area, rng, phones) if rng.random() < 0.7 else None
            if rng.random() < 0.55:
                created = self._instant(
                    date(2022, 6, 1) + timedelta(days=rng.randrange((self.start - date(2022, 6, 1)).days))
                )
            else:
                created = self._instant(self.start + timedelta(days=rng.randrange(365)))
            seeds.append(
                _CustomerSeed(
                    id=_CUSTOMER_ID0 + k + 1,
                    first=first,
                    last=last,
                    email=email,
                    phone=phone,
                    address=Address(city, province, country, zip_code),
                    created_at=created,
                    accepts_marketing=rng.random() < 0.45,
                    weight=rng.lognormvariate(0.0, 0.7),
                )
            )
        seeds.sort(key=lambda s: (s.created_at, s.id))
        return seeds

    # -- orders ------------------------------------------------------------------------------------
    def _day_count(self, day: date) -> int:
        """Orders on ``day``: Poisson around a mean shaped by trend, week, season and holidays."""
        t = (day - self.start).days / 364
        trend = 1.0 + 0.25 * t
        doy = day.timetuple().tm_yday
        season = 0.75 + 0.8 * math.exp(-(((doy - 170) / 60) ** 2))  # racing season peaks mid-June
        mean = 14.0 * trend * _WEEKDAY_FACTOR[day.weekday()] * season * _holiday_factor(day)
        return max(2, min(60, _poisson(self.rng, mean)))

    def _daily_weights(self, drafts: Sequence[_Draft]) -> Iterator[tuple[date, list[float]]]:
        """Each day with the cumulative sales weights of the products on it.

        A product sells from the day after it is created until ``sold_until``; rising products
        ramp up over the last 60 days. Weights are recomputed only on days where one changes.
        """
        ramp_start = self.today - timedelta(days=60)
        changes = {d.created_at.date() + timedelta(days=1) for d in drafts}
        changes |= {d.sold_until.date() for d in drafts if d.sold_until is not None}
        cum: list[float] = []
        for offset in range(365):
            day = self.start + timedelta(days=offset)
            if not cum or day in changes or day > ramp_start:
                cum = list(itertools.accumulate(_weight_on(d, day, ramp_start) for d in drafts))
            yield day, cum

    def _orders(
        self, drafts: list[_Draft], products: list[Product], customers: list[_CustomerSeed], pairs: Mapping[int, int]
    ) -> list[Order]:
        rng = self.rng
        raw: list[tuple[datetime, _Basket]] = []
        customer_times = [c.created_at for c in customers]
        customer_cum = list(itertools.accumulate(c.weight for c in customers))
        for day, cum in self._daily_weights(drafts):
            for _ in range(self._day_count(day)):
                created = self._moment_in(day)
                basket = self._basket(products, cum, pairs)
                if rng.random() < 0.04:
                    buyer = None
                else:
                    known = bisect.bisect_right(customer_times, created)
                    buyer = customers[_pick_prefix(rng, customer_cum, known)] if known else None
                raw.append((created, _Basket(basket, buyer)))
        raw.sort(key=lambda pair: pair[0])
        return [self._order(n, created, basket) for n, (created, basket) in enumerate(raw)]

    def _basket(self, products: list[Product], cum: list[float], pairs: Mapping[int, int]) -> list[tuple[Variant, int]]:
        """The variants and quantities of one order."""
        rng = self.rng
        n_lines = _pick(rng, _LINES_PER_ORDER)
        chosen: list[int] = []
        while len(chosen) < n_lines:
            index = bisect.bisect_right(cum, rng.random() * cum[-1])
            index = min(index, len(products) - 1)
            if index in chosen:
                break
            chosen.append(index)
            partner = pairs.get(index)
            if partner is not None and partner not in chosen and len(chosen) < 4 and rng.random() < _PAIR_RATE:
                chosen.append(partner)
        lines: list[tuple[Variant, int]] = []
        position = _pick(rng, _VARIANT_POSITION)
        for index in chosen:
            product = products[index]
            variant = product.variants[min(position, len(product.variants) - 1)]
            spec_max = _TYPE_BY_NAME[product.product_type].max_quantity
            quantity = rng.randint(1, spec_max) if spec_max > 1 else (2 if rng.random() < 0.06 else 1)
            lines.append((variant, quantity))
        return lines

    def _order(self, n: int, created: datetime, basket: _Basket) -> Order:
        rng = self.rng
        buyer = basket.buyer
        ship_to = buyer.address if buyer else _guest_address(rng)
        codes, rate = self._discount(created, buyer)
        originals = [variant.price * qty for variant, qty in basket.lines]
        gross = sum(originals, Decimal(0))
        discount_total = (gross * rate).quantize(CENT, ROUND_HALF_UP)
        shares = _allocate(discount_total, originals)
        titles, vendors = self.titles, self.vendors
        line_items = [
            LineItem(
                _LINE_ID0 + n * 4 + i,
                v.product_id,
                v.id,
                titles[v.product_id],
                v.title,
                v.sku,
                vendors[v.product_id],
                qty,
                v.price,
                share,
                0,
            )
            for i, ((v, qty), share) in enumerate(zip(basket.lines, shares, strict=True))
        ]
        subtotal = gross - discount_total
        domestic = ship_to.country_code == "US"
        shipping = Decimal(0) if subtotal >= 149 and domestic else Decimal("9.95" if domestic else "24.95")
        tax = (subtotal * _TAX_RATES[ship_to.country_code]).quantize(CENT, ROUND_HALF_UP)
        draft = _OrderDraft(n, created, buyer, ship_to, line_items, codes, discount_total, shipping, tax)
        return self._settle(draft, subtotal + shipping + tax)

    def _discount(self, created: datetime, buyer: _CustomerSeed | None) -> tuple[tuple[str, ...], Decimal]:
        rng = self.rng
        day = created.date()
        if _is_cyber_weekend(day) and rng.random() < 0.7:
            return ("BFCM25",), Decimal("0.25")
        if day.month in (4, 5) and rng.random() < 0.2:
            return ("SPRING15",), Decimal("0.15")
        if buyer is not None and not buyer.ordered and rng.random() < 0.3:
            buyer.ordered = True
            return ("WELCOME10",), Decimal("0.10")
        if buyer is not None:
            buyer.ordered = True
        if rng.random() < 0.05:
            return ("TRACKDAY",), Decimal("0.12")
        return (), Decimal(0)

    def _settle(self, o: _OrderDraft, total: Decimal) -> Order:
        """Decide payment, fulfilment and refunds, which depend on how old the order is at ``as_of``."""
        rng = self.rng
        lines = o.line_items
        age_days = (self.as_of - o.created).total_seconds() / 86400
        pending = rng.random() < (0.1 if age_days < 3 else 0.004)
        shipped_at = o.created + timedelta(seconds=int(rng.uniform(6 * 3600, 48 * 3600)))
        refunds: list[Refund] = []
        updated = o.created
        if not pending and age_days > 5 and rng.random() < 0.035:
            refund_at = o.created + timedelta(seconds=int(rng.uniform(86400, 20 * 86400)))
            if refund_at <= self.as_of:
                lines, refund = self._refund(o, lines, total, refund_at)
                refunds.append(refund)
                updated = refund_at
        fulfilled = not pending and shipped_at <= self.as_of
        if refunds and refunds[0].amount == total and refunds[0].created_at < shipped_at:
            fulfilled = False  # cancelled and refunded before it shipped
        partial = fulfilled and len(lines) > 1 and age_days < 14 and rng.random() < 0.2
        if fulfilled:
            updated = max(updated, shipped_at)
        return Order(
            id=_ORDER_ID0 + o.n + 1,
            number=1001 + o.n,
            customer_id=o.buyer.id if o.buyer else None,
            email=o.buyer.email if o.buyer else f"guest{o.n + 1001}@example.net",
            created_at=o.created,
            updated_at=updated,
            line_items=tuple(lines),
            discount_codes=o.codes,
            subtotal=total - o.shipping - o.tax,
            total_discounts=o.discount,
            total_shipping=o.shipping,
            total_tax=o.tax,
            total_price=total,
            refunds=tuple(refunds),
            total_refunded=sum((r.amount for r in refunds), Decimal(0)),
            financial_status=_financial_status(pending, refunds, total),
            fulfillment_status=(
                FulfillmentStatus.PARTIALLY_FULFILLED
                if partial
                else FulfillmentStatus.FULFILLED
                if fulfilled
                else FulfillmentStatus.UNFULFILLED
            ),
            ship_to=o.ship_to,
        )

    def _refund(
        self, o: _OrderDraft, lines: list[LineItem], total: Decimal, at: datetime
    ) -> tuple[list[LineItem], Refund]:
        """Refund everything (two in five) or one line (the rest); the refunded lines say so."""
        rng = self.rng
        refund_id = _REFUND_ID0 + o.n
        if rng.random() < 0.4 or (len(lines) == 1 and lines[0].quantity == 1):
            new_lines = [_with_refunded(li, li.quantity) for li in lines]
            return new_lines, Refund(refund_id, at, total, "Customer cancelled", tuple(li.id for li in lines))
        target = rng.randrange(len(lines))
        li = lines[target]
        qty = li.quantity if len(lines) > 1 else li.quantity - 1
        rate = _TAX_RATES[o.ship_to.country_code]
        unit = li.discounted_total / li.quantity
        amount = (unit * qty * (1 + rate)).quantize(CENT, ROUND_HALF_UP)
        new_lines = [_with_refunded(x, qty) if i == target else x for i, x in enumerate(lines)]
        return new_lines, Refund(refund_id, at, amount, "Returned: wrong fitment", (li.id,))

    # -- assembly ----------------------------------------------------------------------------------
    def build(self) -> DemoStore:
        drafts = self._drafts()
        signals = self._plan_catalogue(drafts)
        handles: set[str] = set()
        next_variant = itertools.count(_VARIANT_ID0 + 1)
        products = [self._product(d, handles, next_variant) for d in drafts]
        self.titles = {p.id: p.title for p in products}
        self.vendors = {p.id: p.vendor for p in products}
        pair_index: dict[int, int] = {}
        for a, b in signals.bought_together:
            pair_index[a - _PRODUCT_ID0] = b - _PRODUCT_ID0
            pair_index[b - _PRODUCT_ID0] = a - _PRODUCT_ID0
        seeds = self._customer_seeds()
        orders = self._orders(drafts, products, seeds, pair_index)
        customers = _customers_with_totals(seeds, orders)
        return _assemble(self, products, customers, orders, signals)

    def _instant(self, day: date) -> datetime:
        """A deterministic time of day on ``day`` (for catalogue and customer dates)."""
        return datetime.combine(
            day, time(self.rng.randrange(8, 20), self.rng.randrange(60), self.rng.randrange(60)), UTC
        )

    def _moment_in(self, day: date) -> datetime:
        hour = _pick(self.rng, _HOUR)
        seconds = int(self.rng.random() * 3600)
        return datetime.combine(day, time(hour, seconds // 60, seconds % 60), UTC)


@dataclass(slots=True)
class _CustomerSeed:
    id: int
    first: str
    last: str
    email: str
    phone: str | None
    address: Address
    created_at: datetime
    accepts_marketing: bool
    weight: float
    ordered: bool = False


@dataclass(slots=True)
class _Basket:
    lines: list[tuple[Variant, int]]
    buyer: _CustomerSeed | None


@dataclass(slots=True)
class _OrderDraft:
    n: int
    created: datetime
    buyer: _CustomerSeed | None
    ship_to: Address
    line_items: list[LineItem]
    codes: tuple[str, ...]
    discount: Decimal
    shipping: Decimal
    tax: Decimal


_TYPE_BY_NAME: Mapping[str, _TypeSpec] = {spec.name: spec for spec in _TYPES}


# -- small helpers ----------------------------------------------------------------------------------


def _end_of_day(day: date) -> datetime:
    return datetime.combine(day, time(23, 59, 59), UTC)


def _locations() -> tuple[Location, Location]:
    opened = datetime(2022, 5, 2, 15, 0, tzinfo=UTC)
    return (
        Location(
            71_540_000_001,
            "Main Warehouse",
            "1450 Industrial Way",
            Address("Reno", "NV", "US", "89502"),
            opened,
        ),
        Location(
            71_540_000_002,
            "East Coast Depot",
            "88 Commerce Park Dr",
            Address("Allentown", "PA", "US", "18106"),
            opened + timedelta(days=400),
        ),
    )


def _pairs(drafts: Sequence[_Draft]) -> list[tuple[int, int]]:
    """Index pairs (pads, rotors) and (plugs, coils) that share a vendor line and fitment."""
    pairs: list[tuple[int, int]] = []
    for first, second, count in (
        ("Brake Pads", "Brake Rotors", _BRAKE_PAIRS),
        ("Spark Plugs", "Ignition Coils", _IGNITION_PAIRS),
    ):
        a = [d.index for d in drafts if d.spec.name == first][:count]
        b = [d.index for d in drafts if d.spec.name == second][:count]
        pairs.extend(zip(a, b, strict=True))
    return pairs


def _title(d: _Draft) -> str:
    return f"{d.vendor.split()[0]} {d.line} {d.spec.name} - {d.fitment}"


def _tags(d: _Draft) -> tuple[str, ...]:
    tags = {d.spec.name.lower().replace(" ", "-"), d.line.lower().replace(" ", "-")}
    if not d.spec.universal:
        tags.add(_slug(d.fitment.split(" (")[0]))
    if d.spec.popularity >= 2.0:
        tags.add("consumable")
    if "Track" in d.line or "Race" in d.line or "Racing" in d.line:
        tags.add("track")
    return tuple(sorted(tags))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _unique_handle(handle: str, taken: set[str]) -> str:
    candidate, n = handle, 1
    while candidate in taken:
        n += 1
        candidate = f"{handle}-{n}"
    taken.add(candidate)
    return candidate


def _unique_email(first: str, last: str, rng: random.Random, taken: set[str]) -> str:
    domain = rng.choice(("example.com", "example.net", "example.org"))
    base = f"{first}.{last}".lower()
    candidate, n = f"{base}@{domain}", 1
    while candidate in taken:
        n += 1
        candidate = f"{base}{n}@{domain}"
    taken.add(candidate)
    return candidate


def _phone(country: str, area: str, rng: random.Random, taken: set[str]) -> str | None:
    """A number from a range reserved for fiction (555-01xx, Ofcom 07700 900xxx, ACMA 0491 570xxx)."""
    for _ in range(5):
        if country in ("US", "CA"):
            number = f"+1{area}55501{rng.randrange(100):02d}"
        elif country == "GB":
            number = f"+447700900{rng.randrange(1000):03d}"
        elif country == "AU":
            number = f"+61491570{rng.randrange(1000):03d}"
        else:
            return None
        if number not in taken:
            taken.add(number)
            return number
    return None


def _guest_address(rng: random.Random) -> Address:
    city, province, zip_code, _ = rng.choice(_CITIES["US"][1])
    return Address(city, province, "US", zip_code)


def _cents(value: float) -> Decimal:
    return Decimal(str(round(value, 2))).quantize(CENT)


def _charm(value: float) -> Decimal:
    """Retail price endings: .99 under $100, .95 or .00 above."""
    whole = max(1, int(value))
    if value < 100:
        return Decimal(whole) + Decimal("0.99")
    return Decimal(whole) + (Decimal("0.95") if whole % 2 else Decimal("0.00"))


def _allocate(total: Decimal, parts: Sequence[Decimal]) -> list[Decimal]:
    """Split ``total`` over ``parts`` proportionally, in cents, the remainder on the last part."""
    whole = sum(parts, Decimal(0))
    if not total or not whole:
        return [Decimal("0.00")] * len(parts)
    shares = [(total * p / whole).quantize(CENT, ROUND_HALF_UP) for p in parts[:-1]]
    shares.append(total - sum(shares, Decimal(0)))
    return shares


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method; the means here are small (< 60), so it is fast and exact."""
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _pick(rng: random.Random, choice: _Choice) -> int:
    values, cumulative = choice
    return values[bisect.bisect_right(cumulative, rng.random() * cumulative[-1])]


def _weight_on(d: _Draft, day: date, ramp_start: date) -> float:
    """One product's sales weight on ``day`` (see :meth:`_Builder._daily_weights`)."""
    if d.status is ProductStatus.DRAFT or day <= d.created_at.date():
        return 0.0
    if d.sold_until is not None and day >= d.sold_until.date():
        return 0.0
    if d.rising:
        progress = (day - ramp_start).days / 60
        return d.popularity * (0.25 if progress <= 0 else 0.25 + 7.0 * progress)
    return d.popularity


def _pick_prefix(rng: random.Random, cumulative: Sequence[float], count: int) -> int:
    """Weighted index among the first ``count`` entries of a cumulative weight list."""
    return min(bisect.bisect_right(cumulative, rng.random() * cumulative[count - 1]), count - 1)


@lru_cache(maxsize=8)
def _thanksgiving(year: int) -> date:
    first = date(year, 11, 1)
    return first + timedelta(days=(3 - first.weekday()) % 7 + 21)


def _holiday_factor(day: date) -> float:
    """Black Friday to Cyber Monday is the year's peak; the week before it runs 'early deals'."""
    offset = (day - _thanksgiving(day.year)).days
    return {-7: 1.2, -6: 1.2, -5: 1.25, -4: 1.25, -3: 1.3, -2: 1.3, -1: 1.35,
            0: 1.4, 1: 4.2, 2: 2.6, 3: 2.2, 4: 3.4, 5: 1.5}.get(offset, 1.0)  # fmt: skip


def _is_cyber_weekend(day: date) -> bool:
    return 1 <= (day - _thanksgiving(day.year)).days <= 4


def _with_refunded(li: LineItem, quantity: int) -> LineItem:
    return LineItem(
        li.id,
        li.product_id,
        li.variant_id,
        li.title,
        li.variant_title,
        li.sku,
        li.vendor,
        li.quantity,
        li.unit_price,
        li.discount,
        quantity,
    )


def _financial_status(pending: bool, refunds: Sequence[Refund], total: Decimal) -> FinancialStatus:
    if pending:
        return FinancialStatus.PENDING
    refunded = sum((r.amount for r in refunds), Decimal(0))
    if not refunded:
        return FinancialStatus.PAID
    return FinancialStatus.REFUNDED if refunded >= total else FinancialStatus.PARTIALLY_REFUNDED


def _customers_with_totals(seeds: Sequence[_CustomerSeed], orders: Sequence[Order]) -> list[Customer]:
    """Customers with the order count, spend and last activity their orders imply."""
    counts: dict[int, int] = {}
    spent: dict[int, Decimal] = {}
    last: dict[int, datetime] = {}
    for o in orders:
        if o.customer_id is None:
            continue
        counts[o.customer_id] = counts.get(o.customer_id, 0) + 1
        if o.financial_status is not FinancialStatus.PENDING:
            spent[o.customer_id] = spent.get(o.customer_id, Decimal(0)) + o.current_total_price
        last[o.customer_id] = max(last.get(o.customer_id, o.updated_at), o.updated_at)
    customers = []
    for s in sorted(seeds, key=lambda s: s.id):
        n = counts.get(s.id, 0)
        tags = ("vip",) if n >= 5 else ("repeat",) if n >= 2 else ()
        customers.append(
            Customer(
                id=s.id,
                first_name=s.first,
                last_name=s.last,
                email=s.email,
                phone=s.phone,
                address=s.address,
                accepts_marketing=s.accepts_marketing,
                created_at=s.created_at,
                updated_at=max(s.created_at, last.get(s.id, s.created_at)),
                orders_count=n,
                amount_spent=spent.get(s.id, Decimal("0.00")),
                tags=tags,
            )
        )
    return customers


def _assemble(
    b: _Builder, products: list[Product], customers: list[Customer], orders: list[Order], signals: Signals
) -> DemoStore:
    variants = {v.id: v for p in products for v in p.variants}
    return DemoStore(
        shop=Shop(
            id=68_390_000_001,
            name="Apex Performance Parts",
            email="support@apexperformanceparts.example",
            myshopify_domain="demo-performance.myshopify.com",
            primary_domain="www.apexperformanceparts.example",
            currency=CURRENCY,
            plan_name="Shopify",
            timezone=DEMO_TIMEZONE,
        ),
        today=b.today,
        seed=b.seed,
        locations=b.locations,
        products=tuple(products),
        customers=tuple(customers),
        orders=tuple(orders),
        signals=signals,
        _products=MappingProxyType({p.id: p for p in products}),
        _variants=MappingProxyType(variants),
        _items=MappingProxyType({v.inventory_item_id: v for v in variants.values()}),
        _customers=MappingProxyType({c.id: c for c in customers}),
        _orders=MappingProxyType({o.id: o for o in orders}),
        _handles=MappingProxyType({p.handle: p for p in products}),
        _order_times=tuple(o.created_at for o in orders),
    )
