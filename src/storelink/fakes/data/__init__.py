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

The package: :mod:`.entities` (the model), :mod:`.catalogue` (the fixed tables), :mod:`.builder`
(the seeded generation, with :mod:`.orders`, :mod:`.drafts` and :mod:`.helpers`) and :mod:`.current` (which store
is served).
"""

from storelink.fakes.data.builder import build_demo_store
from storelink.fakes.data.current import current_demo_store, demo_store, demo_wall
from storelink.fakes.data.entities import (
    DEFAULT_SEED,
    DEFAULT_SHOP_NAME,
    DEFAULT_TODAY,
    DEMO_TIMEZONE,
    Address,
    Customer,
    DemoStore,
    FinancialStatus,
    FulfillmentStatus,
    InventoryLevel,
    LineItem,
    Location,
    Order,
    Product,
    ProductStatus,
    Refund,
    Shop,
    Signals,
    Variant,
)

__all__ = [
    "DEFAULT_SEED",
    "DEFAULT_SHOP_NAME",
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
