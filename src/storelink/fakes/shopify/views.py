"""Views: the demo store's entities rendered once as the dicts the executor reads.

A view is built on first use and kept (the store is immutable); views are shared by every fake
serving the same store, so a test suite renders them once.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from functools import cached_property
from typing import Any

from storelink.fakes.data import (
    Customer,
    DemoStore,
    FinancialStatus,
    FulfillmentStatus,
    InventoryLevel,
    LineItem,
    Location,
    Order,
    Product,
    Refund,
    Variant,
)
from storelink.fakes.shopify.formats import Json, _gid, _iso, _money, _MoneyBag


class _Views:
    """Dict views of the demo store's entities, built on first use and kept (the store is immutable)."""

    def __init__(self, store: DemoStore) -> None:
        self.store = store
        self.currency = store.shop.currency
        self._cache: dict[tuple[str, int], Json] = {}

    def _cached(self, kind: str, key: int, build: Callable[[], Json]) -> Json:
        view = self._cache.get((kind, key))
        if view is None:
            view = self._cache[(kind, key)] = build()
        return view

    @cached_property
    def shop(self) -> Json:
        shop = self.store.shop
        return {
            "__typename": "Shop",
            "id": _gid("Shop", shop.id),
            "name": shop.name,
            "email": shop.email,
            "myshopifyDomain": shop.myshopify_domain,
            "url": shop.primary_url,
            "currencyCode": shop.currency,
            "ianaTimezone": shop.timezone,
            "primaryDomain": {
                "__typename": "Domain",
                "id": _gid("Domain", shop.id + 1),
                "host": shop.primary_domain,
                "url": shop.primary_url,
                "sslEnabled": True,
            },
        }

    @cached_property
    def committed(self) -> Mapping[int, int]:
        """Units sold but not shipped, per variant (Shopify's ``committed`` quantity)."""
        units: dict[int, int] = {}
        for order in self.store.orders:
            if order.fulfillment_status is FulfillmentStatus.FULFILLED:
                continue
            for li in order.line_items:
                units[li.variant_id] = units.get(li.variant_id, 0) + li.current_quantity
        return units

    @cached_property
    def orders_by_customer(self) -> Mapping[int, tuple[Order, ...]]:
        by_customer: dict[int, list[Order]] = {}
        for order in self.store.orders:
            if order.customer_id is not None:
                by_customer.setdefault(order.customer_id, []).append(order)
        return {cid: tuple(orders) for cid, orders in by_customer.items()}

    @cached_property
    def order_of_line(self) -> Mapping[int, Order]:
        return {li.id: o for o in self.store.orders for li in o.line_items}

    def product(self, p: Product) -> Json:
        return self._cached("Product", p.id, lambda: self._product(p))

    def _product(self, p: Product) -> Json:
        prices = [v.price for v in p.variants]
        url = f"{self.store.shop.primary_url}/products/{p.handle}" if p.status == "ACTIVE" else None
        return {
            "__typename": "Product",
            "_obj": p,
            "id": _gid("Product", p.id),
            "title": p.title,
            "handle": p.handle,
            "description": p.description,
            "productType": p.product_type,
            "vendor": p.vendor,
            "status": p.status.value,
            "tags": list(p.tags),
            "createdAt": _iso(p.created_at),
            "updatedAt": _iso(p.updated_at),
            "publishedAt": _iso(p.published_at),
            "onlineStoreUrl": url,
            "totalInventory": p.total_inventory,
            "tracksInventory": True,
            "hasOnlyDefaultVariant": len(p.variants) == 1 and p.variants[0].title == "Default Title",
            "priceRangeV2": {
                "minVariantPrice": _money(min(prices), self.currency),
                "maxVariantPrice": _money(max(prices), self.currency),
            },
            "variantsCount": {"count": len(p.variants), "precision": "EXACT"},
        }

    def variant(self, v: Variant) -> Json:
        return self._cached("ProductVariant", v.id, lambda: self._variant(v))

    def _variant(self, v: Variant) -> Json:
        product = self.store.product(v.product_id)
        assert product is not None
        return {
            "__typename": "ProductVariant",
            "_obj": v,
            "id": _gid("ProductVariant", v.id),
            "title": v.title,
            "displayName": f"{product.title} - {v.title}",
            "sku": v.sku,
            "position": v.position,
            "price": str(v.price),
            "compareAtPrice": None if v.compare_at_price is None else str(v.compare_at_price),
            "availableForSale": product.status == "ACTIVE" and v.inventory_quantity > 0,
            "inventoryQuantity": v.inventory_quantity,
            "createdAt": _iso(v.created_at),
            "updatedAt": _iso(v.updated_at),
        }

    def item(self, v: Variant) -> Json:
        return self._cached("InventoryItem", v.inventory_item_id, lambda: self._item(v))

    def _item(self, v: Variant) -> Json:
        return {
            "__typename": "InventoryItem",
            "_obj": v,
            "id": _gid("InventoryItem", v.inventory_item_id),
            "sku": v.sku,
            "tracked": True,
            "unitCost": _money(v.cost, self.currency),
            "createdAt": _iso(v.created_at),
            "updatedAt": _iso(v.updated_at),
        }

    def level(self, v: Variant, level: InventoryLevel) -> Json:
        key = v.inventory_item_id * 10 + level.location_id % 10
        return self._cached("InventoryLevel", key, lambda: self._level(v, level))

    def _level(self, v: Variant, level: InventoryLevel) -> Json:
        location = self.store.location(level.location_id)
        assert location is not None
        return {
            "__typename": "InventoryLevel",
            "_obj": (v, level),
            "id": f"{_gid('InventoryLevel', level.location_id)}?inventory_item_id={v.inventory_item_id}",
            "createdAt": _iso(max(v.created_at, location.created_at)),
            "updatedAt": _iso(v.updated_at),
        }

    def quantities(self, v: Variant, level: InventoryLevel, names: Sequence[str]) -> list[Json]:
        committed = self.committed.get(v.id, 0) if level.location_id == self.store.locations[0].id else 0
        amounts = {
            "available": level.available,
            "on_hand": level.available + committed,
            "committed": committed,
            "incoming": level.incoming,
        }
        updated = _iso(v.updated_at)
        return [{"name": n, "quantity": amounts.get(n, 0), "updatedAt": updated} for n in names]

    def location(self, loc: Location) -> Json:
        return self._cached("Location", loc.id, lambda: self._location(loc))

    def _location(self, loc: Location) -> Json:
        a = loc.address
        return {
            "__typename": "Location",
            "_obj": loc,
            "id": _gid("Location", loc.id),
            "name": loc.name,
            "isActive": True,
            "fulfillsOnlineOrders": True,
            "address": {
                "address1": loc.address1,
                "city": a.city,
                "provinceCode": a.province_code,
                "countryCode": a.country_code,
                "zip": a.zip,
                "formatted": [loc.address1, f"{a.city} {a.province_code} {a.zip}", "United States"],
            },
            "createdAt": _iso(loc.created_at),
            "updatedAt": _iso(loc.created_at),
        }

    def customer(self, c: Customer) -> Json:
        return self._cached("Customer", c.id, lambda: self._customer(c))

    def _customer(self, c: Customer) -> Json:
        return {
            "__typename": "Customer",
            "_obj": c,
            "id": _gid("Customer", c.id),
            "firstName": c.first_name,
            "lastName": c.last_name,
            "displayName": c.display_name,
            "email": c.email,
            "phone": c.phone,
            "state": "ENABLED" if c.orders_count else "DISABLED",
            "verifiedEmail": True,
            "tags": list(c.tags),
            "numberOfOrders": str(c.orders_count),
            "amountSpent": _money(c.amount_spent, self.currency),
            "defaultAddress": _address(c.address),
            "createdAt": _iso(c.created_at),
            "updatedAt": _iso(c.updated_at),
        }

    def order(self, o: Order) -> Json:
        return self._cached("Order", o.id, lambda: self._order(o))

    def _order(self, o: Order) -> Json:
        cur = self.currency
        current_subtotal = sum(
            (li.discounted_total / li.quantity * li.current_quantity for li in o.line_items), Decimal(0)
        ).quantize(Decimal("0.01"))
        cancelled = (
            o.financial_status is FinancialStatus.REFUNDED and o.fulfillment_status is FulfillmentStatus.UNFULFILLED
        )
        return {
            "__typename": "Order",
            "_obj": o,
            "id": _gid("Order", o.id),
            "name": o.name,
            "email": o.email,
            "createdAt": _iso(o.created_at),
            "updatedAt": _iso(o.updated_at),
            "processedAt": _iso(o.processed_at),
            "cancelledAt": _iso(o.refunds[0].created_at) if cancelled else None,
            "currencyCode": cur,
            "displayFinancialStatus": o.financial_status.value,
            "displayFulfillmentStatus": o.fulfillment_status.value,
            "fullyPaid": o.financial_status is not FinancialStatus.PENDING,
            "test": False,
            "discountCodes": list(o.discount_codes),
            "subtotalLineItemsQuantity": o.quantity,
            "currentSubtotalLineItemsQuantity": sum(li.current_quantity for li in o.line_items),
            "subtotalPriceSet": _MoneyBag(o.subtotal, cur),
            "currentSubtotalPriceSet": _MoneyBag(current_subtotal, cur),
            "totalPriceSet": _MoneyBag(o.total_price, cur),
            "currentTotalPriceSet": _MoneyBag(o.current_total_price, cur),
            "totalDiscountsSet": _MoneyBag(o.total_discounts, cur),
            "totalRefundedSet": _MoneyBag(o.total_refunded, cur),
            "totalShippingPriceSet": _MoneyBag(o.total_shipping, cur),
            "totalTaxSet": _MoneyBag(o.total_tax, cur),
            "shippingAddress": _address(o.ship_to),
        }

    def line_item(self, li: LineItem) -> Json:
        return self._cached("LineItem", li.id, lambda: self._line_item(li))

    def _line_item(self, li: LineItem) -> Json:
        cur = self.currency
        return {
            "__typename": "LineItem",
            "_obj": li,
            "id": _gid("LineItem", li.id),
            "name": f"{li.title} - {li.variant_title}",
            "title": li.title,
            "variantTitle": li.variant_title,
            "sku": li.sku,
            "vendor": li.vendor,
            "quantity": li.quantity,
            "currentQuantity": li.current_quantity,
            "refundableQuantity": li.current_quantity,
            "originalUnitPriceSet": _MoneyBag(li.unit_price, cur),
            "discountedUnitPriceSet": _MoneyBag((li.discounted_total / li.quantity).quantize(Decimal("0.01")), cur),
            "originalTotalSet": _MoneyBag(li.original_total, cur),
            "discountedTotalSet": _MoneyBag(li.discounted_total, cur),
            "totalDiscountSet": _MoneyBag(li.discount, cur),
        }

    def refund(self, r: Refund) -> Json:
        return {
            "__typename": "Refund",
            "id": _gid("Refund", r.id),
            "createdAt": _iso(r.created_at),
            "note": r.note,
            "totalRefundedSet": _MoneyBag(r.amount, self.currency),
        }


_SHARED_VIEWS: OrderedDict[int, tuple[DemoStore, _Views]] = OrderedDict()


def _views_for(store: DemoStore) -> _Views:
    """Views shared by every fake serving the same (immutable) store, so a test suite renders them once."""
    entry = _SHARED_VIEWS.get(id(store))
    if entry is None or entry[0] is not store:
        entry = _SHARED_VIEWS[id(store)] = (store, _Views(store))
        if len(_SHARED_VIEWS) > 4:
            _SHARED_VIEWS.popitem(last=False)
    return entry[1]


def _address(a: Any) -> Json:
    names = {"US": "United States", "CA": "Canada", "GB": "United Kingdom", "AU": "Australia", "DE": "Germany"}
    return {
        "city": a.city,
        "provinceCode": a.province_code,
        "country": names.get(a.country_code, a.country_code),
        "countryCodeV2": a.country_code,
        "zip": a.zip,
    }
