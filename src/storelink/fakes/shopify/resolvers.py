"""The request context and the resolvers of every field that is not a plain view key (``_RESOLVERS``).

Connections search and sort through listings, nodes are found by global id, relations render the
entity behind a view; bulk operations and the shop's plan are asked of the fake itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, cast

from graphql import GraphQLError

from storelink.fakes.data import Customer, DemoStore, InventoryLevel, LineItem, Location, Order, Product, Variant
from storelink.fakes.shopify.formats import Json, _parse_gid
from storelink.fakes.shopify.listings import (
    _CUSTOMER_SORT,
    _ORDER_SORT,
    _PRODUCT_SORT,
    _VARIANT_SORT,
    _Connection,
    _Listing,
    _listing,
    _page,
)
from storelink.fakes.shopify.search import (
    _CUSTOMER_SEARCH,
    _ORDER_SEARCH,
    _PRODUCT_SEARCH,
    _VARIANT_SEARCH,
    _compile_search,
    _SearchField,
)
from storelink.fakes.shopify.views import _Views

if TYPE_CHECKING:  # the fake builds the context; resolvers only call back into it
    from storelink.fakes.shopify.app import ShopifyFake

__all__ = ["Resolver"]


_QUANTITY_NAMES = frozenset(
    {"available", "committed", "damaged", "incoming", "on_hand", "quality_control", "reserved", "safety_stock"}
)


class _ResolveInfo(Protocol):
    """What resolvers read from ``info``; graphql-core's GraphQLResolveInfo and :class:`_Info` both fit."""

    @property
    def context(self) -> Any: ...

    @property
    def field_name(self) -> str: ...


Resolver = Callable[..., Any]


@dataclass(slots=True)
class _Context:
    fake: ShopifyFake
    app: str
    base_url: str
    bulk: bool = False
    search: list[Json] = field(default_factory=list)

    @property
    def views(self) -> _Views:
        return self.fake.views

    @property
    def store(self) -> DemoStore:
        return self.fake.store


def _ctx(info: _ResolveInfo) -> _Context:
    return cast(_Context, info.context)


def _obj(source: Json) -> Any:
    return source["_obj"]


class _Resource(NamedTuple):
    """How one searchable resource filters (search fields, free text) and sorts."""

    name: str
    search: Mapping[str, _SearchField]
    free_text: Callable[[Any], Iterable[str]]
    sorts: Mapping[str, Callable[[Any], Any]]
    default_sort: str


_PRODUCTS = _Resource(
    "products", _PRODUCT_SEARCH, lambda p: (p.title, p.vendor, p.product_type, *p.tags), _PRODUCT_SORT, "ID"
)
_VARIANTS = _Resource("productVariants", _VARIANT_SEARCH, lambda v: (v.sku, v.title), _VARIANT_SORT, "ID")
_ORDERS = _Resource("orders", _ORDER_SEARCH, lambda o: (o.name, o.email), _ORDER_SORT, "PROCESSED_AT")
_CUSTOMER_ORDERS = _ORDERS._replace(name="customer.orders", default_sort="ID")
_CUSTOMERS = _Resource("customers", _CUSTOMER_SEARCH, lambda c: (c.display_name, c.email), _CUSTOMER_SORT, "ID")


def _searched(
    info: _ResolveInfo,
    resource: _Resource,
    items: Callable[[], Iterable[Any]],
    args: Mapping[str, Any],
    scope: object = None,
) -> _Listing:
    """The listing for one connection call, from the fake's listing cache when it was asked before."""
    ctx = _ctx(info)
    query, reverse = args.get("query"), bool(args.get("reverse"))
    sort_key = args.get("sortKey") or resource.default_sort
    key = (resource.name, scope, query, sort_key, reverse)
    listing = ctx.fake.listing_cache.get(key)
    if listing is None:
        predicate, warnings = _compile_search(query, resource.search, resource.free_text)
        listing = _listing(items(), resource.sorts[sort_key], reverse, predicate, warnings)
        ctx.fake.remember_listing(key, listing)
    if listing.warnings and not ctx.bulk:
        ctx.search.append({"path": [info.field_name], "query": query, "warnings": list(listing.warnings)})
    return listing


def _resolve_products(_: Any, info: _ResolveInfo, **args: Any) -> _Connection:
    ctx = _ctx(info)
    listing = _searched(info, _PRODUCTS, lambda: ctx.store.products, args)
    return _page(listing, args, ctx.views.product, bulk=ctx.bulk)


def _resolve_product_variants_root(_: Any, info: _ResolveInfo, **args: Any) -> _Connection:
    ctx = _ctx(info)
    listing = _searched(info, _VARIANTS, lambda: ctx.store.variants, args)
    return _page(listing, args, ctx.views.variant, bulk=ctx.bulk)


def _resolve_orders(_: Any, info: _ResolveInfo, **args: Any) -> _Connection:
    ctx = _ctx(info)
    listing = _searched(info, _ORDERS, lambda: ctx.store.orders, args)
    return _page(listing, args, ctx.views.order, bulk=ctx.bulk)


def _resolve_customers(_: Any, info: _ResolveInfo, **args: Any) -> _Connection:
    ctx = _ctx(info)
    listing = _searched(info, _CUSTOMERS, lambda: ctx.store.customers, args)
    return _page(listing, args, ctx.views.customer, bulk=ctx.bulk)


def _resolve_customer_orders(source: Json, info: _ResolveInfo, **args: Any) -> _Connection:
    ctx, customer = _ctx(info), cast(Customer, _obj(source))
    listing = _searched(
        info, _CUSTOMER_ORDERS, lambda: ctx.views.orders_by_customer.get(customer.id, ()), args, scope=customer.id
    )
    return _page(listing, args, ctx.views.order, bulk=ctx.bulk)


def _resolve_locations(_: Any, info: _ResolveInfo, **args: Any) -> _Connection:
    ctx = _ctx(info)
    sorts: Mapping[str, Callable[[Location], Any]] = {"ID": lambda loc: loc.id, "NAME": lambda loc: loc.name.lower()}
    listing = _listing(ctx.store.locations, sorts[args.get("sortKey") or "NAME"], bool(args.get("reverse")), None)
    return _page(listing, args, ctx.views.location, bulk=ctx.bulk)


def _count(total: int, limit: int | None) -> Json:
    if limit is not None and total > limit:
        return {"count": limit, "precision": "AT_LEAST"}
    return {"count": total, "precision": "EXACT"}


def _counter(resource: str) -> Resolver:
    """``productsCount`` and friends: the size of the same listing the connection would page."""
    resolvers = {"products": _resolve_products, "orders": _resolve_orders, "customers": _resolve_customers}

    def resolve(_: Any, info: _ResolveInfo, query: str | None = None, limit: int | None = 10000) -> Json:
        connection = resolvers[resource](None, info, query=query, first=0)
        return _count(connection.total, limit)

    return resolve


class _LevelRow(NamedTuple):
    """An inventory level with the id a cursor needs (one row per variant and location)."""

    id: int
    variant: Variant
    level: InventoryLevel


def _level_rows(variants: Iterable[Variant], location_id: int | None) -> list[_LevelRow]:
    return [
        _LevelRow(v.inventory_item_id * 10 + lv.location_id % 10, v, lv)
        for v in variants
        for lv in v.levels
        if location_id is None or lv.location_id == location_id
    ]


def _resolve_location_levels(source: Json, info: _ResolveInfo, **args: Any) -> _Connection:
    ctx, location = _ctx(info), cast(Location, _obj(source))
    key = ("location.inventoryLevels", location.id, None, "ID", bool(args.get("reverse")))
    listing = ctx.fake.listing_cache.get(key)
    if listing is None:
        listing = _listing(
            _level_rows(ctx.store.variants, location.id), lambda r: r.id, bool(args.get("reverse")), None
        )
        ctx.fake.remember_listing(key, listing)
    return _page(listing, args, lambda r: ctx.views.level(r.variant, r.level), bulk=ctx.bulk)


def _resolve_item_levels(source: Json, info: _ResolveInfo, **args: Any) -> _Connection:
    ctx, variant = _ctx(info), cast(Variant, _obj(source))
    listing = _listing(_level_rows([variant], None), lambda r: r.id, bool(args.get("reverse")), None)
    return _page(listing, args, lambda r: ctx.views.level(r.variant, r.level), bulk=ctx.bulk)


def _resolve_variants(source: Json, info: _ResolveInfo, **args: Any) -> _Connection:
    ctx, product = _ctx(info), cast(Product, _obj(source))
    sort = _VARIANT_SORT[args.get("sortKey") or "POSITION"]
    listing = _listing(product.variants, sort, bool(args.get("reverse")), None)
    return _page(listing, args, ctx.views.variant, bulk=ctx.bulk)


def _resolve_line_items(source: Json, info: _ResolveInfo, **args: Any) -> _Connection:
    ctx, order = _ctx(info), cast(Order, _obj(source))
    listing = _listing(order.line_items, lambda li: li.id, bool(args.get("reverse")), None)
    return _page(listing, args, ctx.views.line_item, bulk=ctx.bulk)


def _resolve_refunds(source: Json, info: _ResolveInfo, first: int | None = None) -> list[Json]:
    refunds = cast(Order, _obj(source)).refunds
    return [_ctx(info).views.refund(r) for r in refunds[:first]]


def _resolve_quantities(source: Json, info: _ResolveInfo, names: list[str]) -> list[Json]:
    unknown = [n for n in names if n not in _QUANTITY_NAMES]
    if unknown:
        raise GraphQLError(
            f"Invalid quantity name(s): {', '.join(unknown)}. Valid: {', '.join(sorted(_QUANTITY_NAMES))}."
        )
    variant, level = _obj(source)
    return _ctx(info).views.quantities(variant, level, names)


def _find_node(ctx: _Context, gid: str) -> Json | None:
    """Any node by global id; an unknown type or id is null, a malformed id an error, as on Shopify."""
    parsed = _parse_gid(gid)
    if parsed is None:
        raise GraphQLError(f"Invalid global id '{gid}'")
    kind, number, params = parsed
    finder = _FINDERS.get(kind)
    return finder(ctx, number, params) if finder else None


def _view_of(entity: Any, view: Callable[[Any], Json]) -> Json | None:
    return None if entity is None else view(entity)


def _line_item_node(ctx: _Context, line_id: int) -> Json | None:
    owner = ctx.views.order_of_line.get(line_id)
    return ctx.views.line_item(next(li for li in owner.line_items if li.id == line_id)) if owner else None


_Finder = Callable[[_Context, int, Mapping[str, str]], Json | None]
_FINDERS: Mapping[str, _Finder] = {
    "Product": lambda ctx, n, _: _view_of(ctx.store.product(n), ctx.views.product),
    "ProductVariant": lambda ctx, n, _: _view_of(ctx.store.variant(n), ctx.views.variant),
    "InventoryItem": lambda ctx, n, _: _view_of(ctx.store.variant_by_inventory_item(n), ctx.views.item),
    "InventoryLevel": lambda ctx, n, params: _find_level(ctx, n, params),
    "Location": lambda ctx, n, _: _view_of(ctx.store.location(n), ctx.views.location),
    "Order": lambda ctx, n, _: _view_of(ctx.store.order(n), ctx.views.order),
    "LineItem": lambda ctx, n, _: _line_item_node(ctx, n),
    "Customer": lambda ctx, n, _: _view_of(ctx.store.customer(n), ctx.views.customer),
    "BulkOperation": lambda ctx, n, _: ctx.fake.bulk_view(ctx, n, observe=True),
    "Shop": lambda ctx, n, _: ctx.views.shop if n == ctx.store.shop.id else None,
}


def _find_level(ctx: _Context, location_id: int, params: Mapping[str, str]) -> Json | None:
    item = params.get("inventory_item_id", "")
    variant = ctx.store.variant_by_inventory_item(int(item)) if item.isdigit() else None
    level = next((lv for lv in variant.levels if lv.location_id == location_id), None) if variant else None
    return ctx.views.level(variant, level) if variant and level else None


def _by_gid(kind: str) -> Resolver:
    """Root lookups such as ``product(id:)``: the node if it exists and has the right type."""

    def resolve(_: Any, info: _ResolveInfo, id: str | None = None) -> Json | None:
        ctx = _ctx(info)
        if id is None:  # location() without an id: the primary location
            return ctx.views.location(ctx.store.locations[0]) if kind == "Location" else None
        parsed = _parse_gid(id)
        if parsed is not None and parsed[0] != kind:
            return None
        return _find_node(ctx, id)

    return resolve


def _related(getter: Callable[[_Context, Any], Json | None]) -> Resolver:
    """A to-one relation: read the entity behind the source view and render the target."""

    def resolve(source: Json, info: _ResolveInfo) -> Json | None:
        return getter(_ctx(info), _obj(source))

    return resolve


def _variant_product(ctx: _Context, v: Variant) -> Json | None:
    product = ctx.store.product(v.product_id)
    return ctx.views.product(product) if product else None


def _line_variant(ctx: _Context, li: LineItem) -> Json | None:
    variant = ctx.store.variant(li.variant_id)
    return ctx.views.variant(variant) if variant else None


def _line_product(ctx: _Context, li: LineItem) -> Json | None:
    product = ctx.store.product(li.product_id)
    return ctx.views.product(product) if product else None


def _order_customer(ctx: _Context, o: Order) -> Json | None:
    customer = ctx.store.customer(o.customer_id) if o.customer_id else None
    return ctx.views.customer(customer) if customer else None


def _last_order(ctx: _Context, c: Customer) -> Json | None:
    orders = ctx.views.orders_by_customer.get(c.id)
    return ctx.views.order(orders[-1]) if orders else None


def _level_location(ctx: _Context, row: tuple[Variant, InventoryLevel]) -> Json | None:
    location = ctx.store.location(row[1].location_id)
    return ctx.views.location(location) if location else None


def _item_level(source: Json, info: _ResolveInfo, locationId: str) -> Json | None:
    parsed = _parse_gid(locationId)
    variant = cast(Variant, _obj(source))
    if parsed is None:
        return None
    return _find_level(_ctx(info), parsed[1], {"inventory_item_id": str(variant.inventory_item_id)})


def _location_level(source: Json, info: _ResolveInfo, inventoryItemId: str) -> Json | None:
    parsed = _parse_gid(inventoryItemId)
    if parsed is None:
        return None
    return _find_level(_ctx(info), cast(Location, _obj(source)).id, {"inventory_item_id": str(parsed[1])})


def _resolve_shop(_: Any, info: _ResolveInfo) -> Json:
    ctx = _ctx(info)
    return {**ctx.views.shop, "plan": ctx.fake.plan_view}


def _resolve_node(_: Any, info: _ResolveInfo, id: str) -> Json | None:
    return _find_node(_ctx(info), id)


def _resolve_nodes(_: Any, info: _ResolveInfo, ids: list[str]) -> list[Json | None]:
    return [_find_node(_ctx(info), gid) for gid in ids]


def _product_by_handle(_: Any, info: _ResolveInfo, handle: str) -> Json | None:
    ctx = _ctx(info)
    product = next((p for p in ctx.store.products if p.handle == handle), None)
    return ctx.views.product(product) if product else None


def _current_bulk(_: Any, info: _ResolveInfo, type: str = "QUERY") -> Json | None:
    ctx = _ctx(info)
    return ctx.fake.current_bulk_view(ctx, type)


def _run_bulk(_: Any, info: _ResolveInfo, query: str, groupObjects: bool = False) -> Json:
    return _ctx(info).fake.start_bulk(_ctx(info), query)


def _cancel_bulk(_: Any, info: _ResolveInfo, id: str) -> Json:
    return _ctx(info).fake.cancel_bulk(_ctx(info), id)


_RESOLVERS: Mapping[tuple[str, str], Resolver] = {
    ("QueryRoot", "shop"): _resolve_shop,
    ("QueryRoot", "node"): _resolve_node,
    ("QueryRoot", "nodes"): _resolve_nodes,
    ("QueryRoot", "product"): _by_gid("Product"),
    ("QueryRoot", "productByHandle"): _product_by_handle,
    ("QueryRoot", "products"): _resolve_products,
    ("QueryRoot", "productsCount"): _counter("products"),
    ("QueryRoot", "productVariant"): _by_gid("ProductVariant"),
    ("QueryRoot", "productVariants"): _resolve_product_variants_root,
    ("QueryRoot", "inventoryItem"): _by_gid("InventoryItem"),
    ("QueryRoot", "order"): _by_gid("Order"),
    ("QueryRoot", "orders"): _resolve_orders,
    ("QueryRoot", "ordersCount"): _counter("orders"),
    ("QueryRoot", "customer"): _by_gid("Customer"),
    ("QueryRoot", "customers"): _resolve_customers,
    ("QueryRoot", "customersCount"): _counter("customers"),
    ("QueryRoot", "location"): _by_gid("Location"),
    ("QueryRoot", "locations"): _resolve_locations,
    ("QueryRoot", "bulkOperation"): _by_gid("BulkOperation"),
    ("QueryRoot", "currentBulkOperation"): _current_bulk,
    ("Mutation", "bulkOperationRunQuery"): _run_bulk,
    ("Mutation", "bulkOperationCancel"): _cancel_bulk,
    ("Product", "variants"): _resolve_variants,
    ("ProductVariant", "product"): _related(_variant_product),
    ("ProductVariant", "inventoryItem"): _related(lambda ctx, v: ctx.views.item(v)),
    ("InventoryItem", "variant"): _related(lambda ctx, v: ctx.views.variant(v)),
    ("InventoryItem", "inventoryLevels"): _resolve_item_levels,
    ("InventoryItem", "inventoryLevel"): _item_level,
    ("InventoryLevel", "item"): _related(lambda ctx, row: ctx.views.item(row[0])),
    ("InventoryLevel", "location"): _related(_level_location),
    ("InventoryLevel", "quantities"): _resolve_quantities,
    ("Location", "inventoryLevels"): _resolve_location_levels,
    ("Location", "inventoryLevel"): _location_level,
    ("Customer", "orders"): _resolve_customer_orders,
    ("Customer", "lastOrder"): _related(_last_order),
    ("Order", "customer"): _related(_order_customer),
    ("Order", "lineItems"): _resolve_line_items,
    ("Order", "refunds"): _resolve_refunds,
    ("LineItem", "variant"): _related(_line_variant),
    ("LineItem", "product"): _related(_line_product),
}
