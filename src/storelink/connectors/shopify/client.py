"""Shopify Admin GraphQL connector, paced to the store's cost bucket.

Pacing: every query's requested cost is estimated (then learned) before it is sent and reserved
from a bucket model that every response re-synchronises from ``extensions.cost.throttleStatus``;
callers wait for refill instead of being refused. Many concurrent callers share one model, so
they queue in order with exact waits rather than stampeding into ``THROTTLED``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import defaultdict
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx2
from pydantic import SecretStr, ValidationError

from storelink.connectors.base import Connector, NoParams, operation
from storelink.connectors.http import SharedTransport
from storelink.connectors.progress import report_progress
from storelink.connectors.shopify import models as m
from storelink.connectors.shopify import queries as q
from storelink.connectors.shopify.auth import ClientCredentialsAuth, StaticTokenAuth
from storelink.connectors.shopify.errors import ShopifyClassifier, throttle_hint
from storelink.errors import ConnectorError, ErrorKind
from storelink.resilience.classify import Classifier
from storelink.resilience.limiter import RateLimiter, TokenBucketLimiter
from storelink.resilience.pipeline import Authenticator
from storelink.settings import Settings
from storelink.store_calendar import StoreCalendar, zone_named

__all__ = ["MAX_QUERY_COST", "ShopifyConnector"]

MAX_QUERY_COST = 1000  # Shopify's single-query ceiling, whatever the plan
MAX_PAGE = 250
DEMO_SHOP = "demo-performance.myshopify.com"
PAGED_SALES_MAX_DAYS = 31  # longer ranges go through a bulk operation, which has no cost limit
PAGED_INVENTORY_MAX_COST = MAX_QUERY_COST  # inventory reads that may request more run as a bulk operation
BULK_BUSY_CODES = frozenset({"OPERATION_IN_PROGRESS", "LIMIT_REACHED"})  # the app's bulk slots are taken
BULK_POLL_FIRST_S = 0.1  # small bulk queries finish in about a second: poll early, then back off
BULK_POLL_MAX_S = 2.0


def normalise_shop(shop: str) -> str:
    shop = shop.strip().removeprefix("https://").removeprefix("http://").strip("/")
    return shop if "." in shop else f"{shop}.myshopify.com"


def _gid(kind: str, value: str) -> str:
    value = value.strip()
    return value if value.startswith("gid://") else f"gid://shopify/{kind}/{value.lstrip('#')}"


def _money(bag: dict[str, Any] | None) -> Decimal:
    if not bag:
        return Decimal("0")
    return Decimal(str((bag.get("shopMoney") or bag).get("amount") or "0"))


def _currency(bag: dict[str, Any] | None, default: str = "USD") -> str:
    if not bag:
        return default
    return str((bag.get("shopMoney") or bag).get("currencyCode") or default)


def _search(*terms: str | None) -> str | None:
    joined = " ".join(t for t in terms if t)
    return joined or None


def _quoted(value: str) -> str:
    return f"'{value}'" if " " in value else value


class ShopifyConnector(Connector):
    name = "shopify"
    title = "Shopify"
    credential_hint = "SHOPIFY_ACCESS_TOKEN"
    probe = ("shop_info", {})
    _zone: dt.tzinfo | None = None  # the shop's time zone, once asked

    # -- the upstream --------------------------------------------------------------------------
    @classmethod
    def missing_settings(cls, settings: Settings) -> list[str]:
        missing = [] if settings.shopify_shop else ["SHOPIFY_SHOP"]
        has_client = settings.shopify_client_id and settings.shopify_client_secret
        if not settings.shopify_access_token and not has_client:
            missing.append("SHOPIFY_ACCESS_TOKEN (or SHOPIFY_CLIENT_ID + SHOPIFY_CLIENT_SECRET)")
        return missing

    @classmethod
    def live_base_url(cls, settings: Settings) -> str:
        return f"https://{normalise_shop(settings.shopify_shop or DEMO_SHOP)}"

    @classmethod
    def fake_base_url(cls, settings: Settings) -> str:
        return f"https://{DEMO_SHOP}"

    @property
    def shop_host(self) -> str:
        return httpx2.URL(self.ctx.base_url).host

    def make_classifier(self) -> Classifier:
        return ShopifyClassifier(title=self.title, connector=self.name, credential_hint=self.credential_hint)

    def make_limiter(self) -> RateLimiter:
        # Starts from the plan the knobs assume (Standard: 100 pts/s, 2000 bucket) and becomes
        # whatever Shopify reports after the first response.
        return TokenBucketLimiter(
            rate=self.knobs.rate_limit, capacity=self.knobs.rate_burst, clock=self.clock, unit="points"
        )

    def make_auth(self) -> Authenticator:
        s = self.settings
        if self.mode == "mock" and not self.ctx.base_url.startswith("http://"):
            return StaticTokenAuth(SecretStr(self.ctx.demo.access_token), shop_host=self.shop_host)
        if s.shopify_access_token:
            return StaticTokenAuth(s.shopify_access_token, shop_host=self.shop_host)
        if s.shopify_client_id and s.shopify_client_secret:
            wire = SharedTransport(self.ctx.inner)
            self.token_client = httpx2.AsyncClient(transport=wire, timeout=self.knobs.timeout)
            return ClientCredentialsAuth(
                client_id=s.shopify_client_id,
                client_secret=s.shopify_client_secret,
                shop_host=self.shop_host,
                client=self.token_client,
                clock=self.clock.now,
            )
        return StaticTokenAuth(SecretStr(self.ctx.demo.access_token), shop_host=self.shop_host)

    def credential_partition(self) -> str:
        s = self.settings
        identity = (
            "demo"
            if self.mode == "mock"
            else (s.shopify_access_token.get_secret_value() if s.shopify_access_token else s.shopify_client_id or "")
        )
        return hashlib.sha256(f"{self.shop_host}|{identity}".encode()).hexdigest()[:16]

    def __init__(self, ctx: Any) -> None:
        self.costs = q.CostBook()
        super().__init__(ctx)

    @property
    def graphql_path(self) -> str:
        return f"/admin/api/{self.settings.shopify.api_version}/graphql.json"

    # -- the one request ------------------------------------------------------------------------
    async def graphql(
        self, document: str, variables: dict[str, Any], *, operation: str, cache_ttl_s: float | None = 0.0
    ) -> dict[str, Any]:
        """Send one GraphQL document, paced by its cost; return ``data``."""
        cost = self.costs.cost(document, variables)
        if cost > MAX_QUERY_COST:
            raise ConnectorError(
                ErrorKind.INVALID_REQUEST,
                f"This query would cost {cost:.0f} points, over Shopify's single-query maximum of "
                f"{MAX_QUERY_COST}; lower `first` (the page size) or ask for fewer nested items. "
                "Nothing was sent.",
                operation=operation,
            )
        response = await self.http.request(
            "POST",
            self.graphql_path,
            operation=operation,
            json={"query": document, "variables": variables},
            cost=cost,
            cache_ttl_s=cache_ttl_s,
        )
        body = response.json()
        _, requested = throttle_hint(body)
        if requested is not None:
            self.costs.learn(document, variables, requested)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise ConnectorError(
                ErrorKind.UPSTREAM_ERROR,
                "Shopify answered without `data`; this breaks its contract. Retry later.",
                request_id=response.report.request_id,
            )
        return data

    async def paginate(
        self,
        document: str,
        root: str,
        *,
        operation: str,
        limit: int,
        variables: dict[str, Any] | None = None,
        cursor: str | None = None,
        cache_ttl_s: float | None = 0.0,
    ) -> AsyncIterator[tuple[dict[str, Any], str, bool]]:
        """Yield ``(node, its_cursor, more_after_it)`` for up to ``limit`` nodes.

        Documents ask for ``edges { cursor node }``, so every node carries its own cursor and a
        caller can stop anywhere and resume exactly there. Pages are sized to the smaller of what
        is left and what fits under the single-query cost ceiling."""
        per_node = max(1, q.node_cost(document))
        page_cap = max(1, min(MAX_PAGE, (MAX_QUERY_COST - 2) // per_node))
        remaining = limit
        after = cursor
        pages = 0
        while remaining > 0:
            first = min(page_cap, remaining)
            data = await self.graphql(
                document,
                {**(variables or {}), "first": first, "after": after},
                operation=operation,
                cache_ttl_s=cache_ttl_s,
            )
            connection = data.get(root) or {}
            edges = connection.get("edges") or []
            has_next = bool((connection.get("pageInfo") or {}).get("hasNextPage"))
            pages += 1
            done = limit - remaining + min(len(edges), remaining)
            await report_progress(done, limit if has_next else done, f"{root}: page {pages}, {done} read")
            for index, edge in enumerate(edges[:remaining]):
                yield edge["node"], edge["cursor"], has_next or index < len(edges) - 1
            remaining -= len(edges)
            if not has_next or not edges:
                return
            after = edges[-1]["cursor"]

    async def _collect(
        self,
        document: str,
        root: str,
        *,
        operation: str,
        limit: int,
        variables: dict[str, Any],
        cursor: str | None,
    ) -> tuple[list[dict[str, Any]], str | None, bool, str | None]:
        """Up to ``limit`` nodes, the cursor to continue from (None at the end), whether more
        exist, and a note when the pages stopped early.

        The operation's deadline covers every page. When it runs out (or the cost bucket would
        hold the next page past it) after some nodes were read, those are returned with the cursor
        after the last one, so the caller continues exactly there; with none read, the error stands."""
        nodes: list[dict[str, Any]] = []
        last_cursor: str | None = cursor
        more = False
        try:
            async for node, node_cursor, more_after in self.paginate(
                document, root, operation=operation, limit=limit, variables=variables, cursor=cursor
            ):
                nodes.append(node)
                last_cursor, more = node_cursor, more_after
        except ConnectorError as err:
            if not nodes or err.kind not in (ErrorKind.TIMEOUT, ErrorKind.RATE_LIMITED):
                raise
            note = (
                f"Stopped after {len(nodes)} of {limit} items: {err.message} Pass `next_cursor` back as "
                "`cursor` for the rest."
            )
            return nodes, last_cursor, True, note
        return nodes, (last_cursor if more else None), more, None

    # -- operations --------------------------------------------------------------------------------
    @operation()
    async def shop_info(self, params: NoParams) -> m.Shop:
        """The shop's name, domain, currency and plan. Needs no scope beyond API access."""
        data = await self.graphql(q.SHOP, {}, operation="shop_info", cache_ttl_s=None)
        shop = data["shop"]
        return m.Shop(
            name=shop["name"],
            domain=shop["myshopifyDomain"],
            primary_url=(shop.get("primaryDomain") or {}).get("url"),
            currency=shop["currencyCode"],
            plan=(shop.get("plan") or {}).get("displayName"),
            timezone=shop.get("ianaTimezone"),
        )

    async def calendar(self) -> StoreCalendar:
        """The shop's own days: its ``ianaTimezone`` read on the connector's wall clock (asked once;
        UTC if the shop does not say)."""
        if self._zone is None:
            data = await self.graphql(q.SHOP, {}, operation="shop_info", cache_ttl_s=None)
            self._zone = zone_named((data.get("shop") or {}).get("ianaTimezone"))
        return StoreCalendar(self.wall, self._zone)

    @operation(example={"query": "title:*brake*", "status": "active", "limit": 5})
    async def list_products(self, params: m.ListProductsParams) -> m.ProductPage:
        """Products in id order, filtered by search text, status, vendor or type.

        `query` takes Shopify search syntax (`title:*brake*`, `tag:race`); `limit` caps the
        result (default 50, at most 250); pass `next_cursor` back as `cursor` to continue. Scope:
        read_products."""
        search = _search(
            params.query,
            f"status:{params.status}" if params.status else None,
            f"vendor:{_quoted(params.vendor)}" if params.vendor else None,
            f"product_type:{_quoted(params.product_type)}" if params.product_type else None,
        )
        nodes, cursor, more, note = await self._collect(
            q.PRODUCTS,
            "products",
            operation="list_products",
            limit=params.limit,
            variables={"query": search},
            cursor=params.cursor,
        )
        return m.ProductPage(items=[_product_summary(n) for n in nodes], next_cursor=cursor, truncated=more, note=note)

    async def iter_products(self, search: str | None = None, *, limit: int = 10_000) -> AsyncIterator[m.ProductSummary]:
        """Every product matching ``search``, page by page (for library callers)."""
        async for node, _, _ in self.paginate(
            q.PRODUCTS, "products", operation="list_products", limit=limit, variables={"query": search}
        ):
            yield _product_summary(node)

    @operation(example={"id": "gid://shopify/Product/8512000000000"})
    async def get_product(self, params: m.GetProductParams) -> m.Product:
        """One product with its variants, prices, unit costs and stock per location. Scopes:
        read_products, read_inventory."""
        data = await self.graphql(q.PRODUCT, {"id": _gid("Product", params.id)}, operation="get_product")
        node = data.get("product")
        if node is None:
            raise ConnectorError(ErrorKind.NOT_FOUND, f"Shopify has no product {params.id!r}.")
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
        summary = _product_summary(node)
        return m.Product(**summary.model_dump(), variants=variants)

    @operation(example={"created_from": "2026-11-01", "created_to": "2026-11-07", "limit": 5})
    async def list_orders(self, params: m.ListOrdersParams) -> m.OrderPage:
        """Orders, oldest first, filtered by created/updated day range (the shop's days) and financial
        or fulfillment status. Scope: read_orders (orders older than 60 days: read_all_orders)."""
        dated = params.created_from or params.created_to or params.updated_from or params.updated_to
        search = _order_search(params, await self.calendar() if dated else None)
        nodes, cursor, more, note = await self._collect(
            q.ORDERS,
            "orders",
            operation="list_orders",
            limit=params.limit,
            variables={"query": search},
            cursor=params.cursor,
        )
        return m.OrderPage(items=[_order_summary(n) for n in nodes], next_cursor=cursor, truncated=more, note=note)

    @operation(example={"id": "#1001"})
    async def get_order(self, params: m.GetOrderParams) -> m.Order:
        """One order with its line items. `id` may be a gid, a number, or a name like `#1001`."""
        if params.id.strip().startswith("#"):
            found = await self.graphql(
                q.ORDERS,
                {"first": 1, "after": None, "query": f"name:{params.id.strip()}"},
                operation="get_order",
            )
            edges = (found.get("orders") or {}).get("edges") or []
            if not edges:
                raise ConnectorError(ErrorKind.NOT_FOUND, f"Shopify has no order named {params.id!r}.")
            order_id = edges[0]["node"]["id"]
        else:
            order_id = _gid("Order", params.id)
        data = await self.graphql(q.ORDER, {"id": order_id}, operation="get_order")
        node = data.get("order")
        if node is None:
            raise ConnectorError(ErrorKind.NOT_FOUND, f"Shopify has no order {params.id!r}.")
        items = [
            m.LineItem(
                title=li["title"],
                sku=li.get("sku"),
                quantity=li["quantity"],
                unit_price=_money(li.get("originalUnitPriceSet")),
                product_id=(li.get("product") or {}).get("id"),
                variant_id=(li.get("variant") or {}).get("id"),
            )
            for li in (node.get("lineItems") or {}).get("nodes", [])
        ]
        return m.Order(**_order_summary(node).model_dump(), line_items=items)

    @operation(example={"location": "Main Warehouse", "only_low": True, "limit": 10})
    async def inventory_levels(self, params: m.InventoryParams) -> m.InventoryReport:
        """Available stock per item and location, flagging rows at or below the threshold.

        Small reads page through each location; reads that could cost more than one query's worth
        of points (large `limit`, `only_low`, many locations) run as a bulk operation, which has no
        cost limit. Both give the same rows. Scopes: read_inventory, read_locations."""
        return await self.read_inventory(params)

    async def read_inventory(self, params: m.InventoryParams, *, bulk: bool | None = None) -> m.InventoryReport:
        """What ``inventory_levels`` returns; ``bulk`` forces a path (None: the cheaper one)."""
        locations = await self._inventory_locations(params.location)
        if bulk is None:
            bulk = self._inventory_needs_bulk(params, len(locations))
        per_location: dict[str, list[m.InventoryRow]] | None = None
        if bulk:
            try:
                per_location = await self._bulk_inventory(locations, params)
            except ConnectorError as exc:
                if exc.upstream_code not in BULK_BUSY_CODES:
                    raise
                # Other bulk queries of this app fill Shopify's slots: the paged read gives the
                # same rows, only paced by the cost bucket.
        # Rows in location order, then Shopify's order within a location; one row past `limit`
        # says that more exist.
        rows: list[m.InventoryRow] = []
        for loc in locations:
            if per_location is not None:
                rows += per_location.get(loc["id"], [])
            else:
                rows += await self._paged_location_rows(loc, params, need=params.limit - len(rows) + 1)
            if len(rows) > params.limit:
                break
        truncated = len(rows) > params.limit
        rows = rows[: params.limit]
        rows.sort(key=lambda r: (r.available, r.location, r.sku or "", r.inventory_item_id))
        return m.InventoryReport(
            threshold=params.low_stock_threshold,
            rows=rows,
            low_count=sum(r.low for r in rows),
            truncated=truncated,
        )

    async def _inventory_locations(self, location: str | None) -> list[dict[str, Any]]:
        """Every location (a shop may have hundreds), page by page."""
        locations: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            data = await self.graphql(q.LOCATIONS, {"after": after}, operation="inventory_levels", cache_ttl_s=None)
            connection = data.get("locations") or {}
            locations += connection.get("nodes") or []
            info = connection.get("pageInfo") or {}
            if not info.get("hasNextPage") or not info.get("endCursor"):
                break
            after = info["endCursor"]
        if location:
            wanted = location.strip().lower()
            locations = [
                loc for loc in locations if loc["name"].lower() == wanted or loc["id"] == _gid("Location", wanted)
            ]
            if not locations:
                raise ConnectorError(ErrorKind.NOT_FOUND, f"Shopify has no location {location!r}.")
        return locations

    def _inventory_page_cap(self) -> int:
        return max(1, min(MAX_PAGE, (MAX_QUERY_COST - 4) // max(1, q.node_cost(q.LOCATION_INVENTORY))))

    def _inventory_needs_bulk(self, params: m.InventoryParams, locations: int) -> bool:
        """Page only when even the worst case (one page per location) requests at most one
        query's worth of points, which a full bucket pays without waiting."""
        if params.only_low:
            return True  # how many rows the filter skips, so how many pages, is unknown
        need = params.limit + 1
        if need > self._inventory_page_cap():
            return True
        page = self.costs.cost(q.LOCATION_INVENTORY, {"id": "", "first": need, "after": None})
        return locations * page > PAGED_INVENTORY_MAX_COST

    async def _paged_location_rows(
        self, loc: dict[str, Any], params: m.InventoryParams, *, need: int
    ) -> list[m.InventoryRow]:
        """Up to ``need`` rows of one location that pass the filter, page by page."""
        cap = self._inventory_page_cap()
        rows: list[m.InventoryRow] = []
        after: str | None = None
        pages = 0
        while len(rows) < need:
            # Without a filter every node is a row, so a page needs no more than what is missing.
            first = cap if params.only_low else min(cap, need - len(rows))
            data = await self.graphql(
                q.LOCATION_INVENTORY, {"id": loc["id"], "first": first, "after": after}, operation="inventory_levels"
            )
            connection = (data.get("location") or {}).get("inventoryLevels") or {}
            for level in connection.get("nodes") or []:
                row = _inventory_row(loc["id"], loc["name"], level, params.low_stock_threshold)
                if (row.low or not params.only_low) and len(rows) < need:
                    rows.append(row)
            pages += 1
            await report_progress(len(rows), None, f"{loc['name']}: page {pages}, {len(rows)} rows")
            info = connection.get("pageInfo") or {}
            if not info.get("hasNextPage") or not info.get("endCursor"):
                break
            after = info["endCursor"]
        return rows

    async def _bulk_inventory(
        self, locations: list[dict[str, Any]], params: m.InventoryParams
    ) -> dict[str, list[m.InventoryRow]]:
        """Each wanted location's first ``limit + 1`` rows that pass the filter, from one bulk query.

        Level lines are matched to their location by ``__parentId``, so the file's grouping does
        not matter; their order within a location is Shopify's, as in the paged read. Keeping at
        most ``limit + 1`` per location bounds memory however big the store is."""
        names = {loc["id"]: loc["name"] for loc in locations}
        kept: dict[str, list[m.InventoryRow]] = {loc_id: [] for loc_id in names}
        info: dict[str, Any] = {}
        lines = 0
        async for line in self.bulk_query_rows(
            q.BULK_INVENTORY,
            operation="inventory_levels",
            poll_interval_s=BULK_POLL_MAX_S,
            first_poll_s=BULK_POLL_FIRST_S,
            info=info,
        ):
            lines += 1
            if lines % 1000 == 0:
                await report_progress(lines, info.get("objects"), f"{lines} of {info.get('objects')} lines read")
            parent = line.get("__parentId")
            if not isinstance(parent, str) or parent not in names:
                continue  # a location line, or a level of a location not asked for
            row = _inventory_row(parent, names[parent], line, params.low_stock_threshold)
            bucket = kept[parent]
            if (row.low or not params.only_low) and len(bucket) <= params.limit:
                bucket.append(row)
        return kept

    @operation(example={"limit": 5})
    async def list_customers(self, params: m.ListCustomersParams) -> m.CustomerPage:
        """Customers with order count and spend. Names, e-mails and phones are masked unless
        STORELINK_SHOPIFY_EXPOSE_PII=true. Scope: read_customers."""
        nodes, cursor, more, note = await self._collect(
            q.CUSTOMERS,
            "customers",
            operation="list_customers",
            limit=params.limit,
            variables={"query": params.query},
            cursor=params.cursor,
        )
        expose = self.settings.shopify.expose_pii
        return m.CustomerPage(
            items=[_customer(n, expose=expose) for n in nodes], next_cursor=cursor, truncated=more, note=note
        )

    @operation(example={"days": 7})
    async def sales_summary(self, params: m.SalesSummaryParams) -> m.SalesSummary:
        """Orders, units, gross and net revenue per day over `days` (ending yesterday) or
        `start`..`end`, days as the shop counts them (its own time zone). Ranges over a month run as a
        bulk operation. Scope: read_orders."""
        calendar = await self.calendar()
        today = calendar.today()
        start, end = _sales_range(params, today=today)
        # The days' bounds as instants: Shopify would read a bare date in its own way, not the shop's day.
        since, until = calendar.start_of(start), calendar.start_of(end + dt.timedelta(days=1))
        search = f"created_at:>={_utc_stamp(since)} created_at:<{_utc_stamp(until)}"
        per_day: dict[dt.date, _DayTotals] = defaultdict(_DayTotals)
        currency = "USD"
        span = (end - start).days + 1
        if span <= PAGED_SALES_MAX_DAYS:
            async for node, _, _ in self.paginate(
                q.ORDER_TOTALS,
                "orders",
                operation="sales_summary",
                limit=100_000,
                variables={"query": search},
                cache_ttl_s=None if end < today else 0.0,
            ):
                currency = _currency(node.get("subtotalPriceSet"), currency)
                per_day[calendar.day_of(_instant(node["createdAt"]))].add(node)
        else:
            async for row in self.bulk_rows("orders", search, operation="sales_summary"):
                if "__parentId" in row:
                    continue  # line-item rows: units already come from the order row
                currency = _currency(row.get("subtotalPriceSet"), currency)
                per_day[calendar.day_of(_instant(row["createdAt"]))].add(row)
        days = [per_day[start + dt.timedelta(days=i)].day(start + dt.timedelta(days=i)) for i in range(span)]
        totals = _DayTotals()
        for d in per_day.values():
            totals.merge(d)
        return m.SalesSummary(start=start, end=end, currency=currency, days=days, totals=totals.day(end))

    @operation(example={"resource": "products", "sample": 3})
    async def bulk_export(self, params: m.BulkExportParams) -> m.BulkExport:
        """Export all products or orders through a bulk operation (no cost limit): start it, poll
        until done, stream the JSONL result. Returns counts and a sample of rows. Scopes as for
        list_products / list_orders."""
        sample: list[dict[str, object]] = []
        rows = 0
        info: dict[str, Any] = {}
        async for row in self.bulk_rows(
            params.resource,
            params.query,
            operation="bulk_export",
            poll_interval_s=params.poll_interval_s,
            info=info,
        ):
            rows += 1
            if len(sample) < params.sample:
                sample.append(row)
            if rows % 1000 == 0:
                await report_progress(rows, info.get("objects"), f"{rows} rows read")
        return m.BulkExport(
            operation_id=str(info.get("id", "")),
            status=str(info.get("status", "")),
            object_count=int(info.get("objects", 0)),
            root_object_count=int(info.get("roots", 0)),
            rows_read=rows,
            sample=sample,
        )

    async def bulk_rows(
        self,
        resource: str,
        search: str | None,
        *,
        operation: str,
        poll_interval_s: float = 2.0,
        info: dict[str, Any] | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Export products or orders (optionally filtered by ``search``) through a bulk query."""
        template = q.BULK_PRODUCTS if resource == "products" else q.BULK_ORDERS
        args = f'query: "{search}"' if search else ""
        document = template.replace("(QUERY)", f"({args})" if args else "")
        async for row in self.bulk_query_rows(
            document, operation=operation, poll_interval_s=poll_interval_s, info=info
        ):
            yield row

    async def bulk_query_rows(
        self,
        document: str,
        *,
        operation: str,
        poll_interval_s: float = 2.0,
        first_poll_s: float | None = None,
        info: dict[str, Any] | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Run one bulk query and yield the JSONL rows of its result as they are read.

        Polls every ``poll_interval_s``; with ``first_poll_s`` the waits start there and double up
        to ``poll_interval_s``, so a small operation is seen as soon as it completes."""
        started = await self.graphql(q.BULK_RUN, {"query": document}, operation=operation)
        result = started.get("bulkOperationRunQuery") or {}
        errors = result.get("userErrors") or []
        if errors or not (result.get("bulkOperation") or {}).get("id"):
            code = errors[0].get("code") if errors else None
            why = errors[0].get("message") if errors else "it returned no operation"
            raise ConnectorError(
                ErrorKind.RATE_LIMITED if code in BULK_BUSY_CODES else ErrorKind.INVALID_REQUEST,
                f"Shopify refused the bulk operation: {why}",
                retryable=False,
                upstream_code=code,
            )
        op_id = result["bulkOperation"]["id"]
        info = info if info is not None else {}
        info["id"] = op_id
        await report_progress(0, None, "bulk operation started")
        wait = first_poll_s if first_poll_s is not None else poll_interval_s
        while True:
            node = (await self.graphql(q.BULK_OPERATION, {"id": op_id}, operation=operation)).get("node") or {}
            status = node.get("status", "")
            info.update(
                status=status,
                objects=int(node.get("objectCount") or 0),
                roots=int(node.get("rootObjectCount") or 0),
            )
            await report_progress(info["objects"], None, f"bulk operation {status.lower()}: {info['objects']} objects")
            if status == "COMPLETED":
                break
            if status in ("FAILED", "CANCELED", "EXPIRED"):
                raise ConnectorError(
                    ErrorKind.UPSTREAM_ERROR,
                    f"Shopify's bulk operation ended {status} ({node.get('errorCode') or 'no code'}); retry later.",
                )
            await self.clock.sleep(wait)
            wait = min(poll_interval_s, wait * 2)
        url = node.get("url")
        if not url:
            return  # an empty result has no file
        response = await self.http.request("GET", url, operation=f"{operation}_download", cache_ttl_s=0.0)
        for line in response.content.splitlines():
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise ConnectorError(
                    ErrorKind.UPSTREAM_ERROR,
                    "Shopify's bulk result file holds a line that is not JSON; run the operation again.",
                    request_id=response.report.request_id,
                ) from exc
            if not isinstance(row, dict):
                raise ConnectorError(
                    ErrorKind.UPSTREAM_ERROR,
                    "Shopify's bulk result file holds a line that is not an object; run the operation again.",
                    request_id=response.report.request_id,
                )
            yield row


def _inventory_row(location_id: str, location: str, level: dict[str, Any], threshold: int) -> m.InventoryRow:
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


class _DayTotals:
    __slots__ = ("discounts", "gross", "orders", "refunds", "units")

    def __init__(self) -> None:
        self.orders = 0
        self.units = 0
        self.gross = Decimal("0")
        self.discounts = Decimal("0")
        self.refunds = Decimal("0")

    def add(self, node: dict[str, Any]) -> None:
        discounts = _money(node.get("totalDiscountsSet"))
        self.orders += 1
        self.units += int(node.get("subtotalLineItemsQuantity") or 0)
        self.gross += _money(node.get("subtotalPriceSet")) + discounts
        self.discounts += discounts
        self.refunds += _money(node.get("totalRefundedSet"))

    def merge(self, other: _DayTotals) -> None:
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


def _instant(timestamp: str) -> dt.datetime:
    return dt.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


def _utc_stamp(instant: dt.datetime) -> str:
    return instant.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sales_range(params: m.SalesSummaryParams, *, today: dt.date) -> tuple[dt.date, dt.date]:
    if params.start and params.end:
        return params.start, params.end
    end = today - dt.timedelta(days=1)
    return end - dt.timedelta(days=(params.days or 7) - 1), end


def _order_search(p: m.ListOrdersParams, calendar: StoreCalendar | None) -> str | None:
    """Shopify's search syntax; a day range becomes the instants where the shop's days begin."""

    def on_or_after(field: str, day: dt.date | None) -> str | None:
        return f"{field}:>={_utc_stamp(calendar.start_of(day))}" if day and calendar else None

    def on_or_before(field: str, day: dt.date | None) -> str | None:
        return f"{field}:<{_utc_stamp(calendar.start_of(day + dt.timedelta(days=1)))}" if day and calendar else None

    return _search(
        on_or_after("created_at", p.created_from),
        on_or_before("created_at", p.created_to),
        on_or_after("updated_at", p.updated_from),
        on_or_before("updated_at", p.updated_to),
        f"financial_status:{p.financial_status}" if p.financial_status else None,
        f"fulfillment_status:{p.fulfillment_status}" if p.fulfillment_status else None,
    )


def _product_summary(node: dict[str, Any]) -> m.ProductSummary:
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


def _order_summary(node: dict[str, Any]) -> m.OrderSummary:
    return m.OrderSummary(
        id=node["id"],
        name=node["name"],
        created_at=node["createdAt"],
        updated_at=node["updatedAt"],
        financial_status=node.get("displayFinancialStatus"),
        fulfillment_status=node.get("displayFulfillmentStatus"),
        currency=_currency(node.get("totalPriceSet")),
        subtotal=_money(node.get("subtotalPriceSet")),
        total=_money(node.get("totalPriceSet")),
        discounts=_money(node.get("totalDiscountsSet")),
        refunded=_money(node.get("totalRefundedSet")),
        customer_id=(node.get("customer") or {}).get("id"),
    )


def _mask(value: str | None, keep: int = 1) -> str | None:
    if not value:
        return value
    if "@" in value:
        local, _, domain = value.partition("@")
        return f"{local[:keep]}***@{domain}"
    return value[:keep] + "***"


def _customer(node: dict[str, Any], *, expose: bool) -> m.Customer:
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
        amount_spent=_money(node.get("amountSpent")),
        currency=_currency(node.get("amountSpent")),
        created_at=node["createdAt"],
        pii_masked=not expose,
    )
