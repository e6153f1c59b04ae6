"""Shopify's catalogue and orders as plain rows, read through bulk operations.

Bulk operations have no query-cost limit, which matters for a year of orders; Shopify runs one
per app at a time, so callers read the catalogue and the orders one after the other."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from storelink.connectors.shopify.client import ShopifyConnector
from storelink.errors import ConnectorError, ErrorKind
from storelink.insights.sources import InsightSources

LIVE_POLL_S = 2.0
MOCK_POLL_S = 0.05  # the fake completes after a fixed number of polls, not after time
SKIPPED_STATUSES = frozenset({"VOIDED"})  # orders that never were sales


@dataclass(frozen=True)
class Variant:
    sku: str
    product_id: str
    product: str
    variant: str
    price: float


@dataclass
class Catalog:
    variants: dict[str, Variant] = field(default_factory=dict)  # by SKU
    by_handle: dict[str, tuple[str, str]] = field(default_factory=dict)  # handle -> (product id, title)


@dataclass(frozen=True)
class Line:
    order_id: str
    day: dt.date
    sku: str
    quantity: int


def shopify(sources: InsightSources) -> ShopifyConnector:
    """The Shopify connector, or a clear error when it is off."""
    connector = sources.registry.get("shopify")
    if not isinstance(connector, ShopifyConnector):
        raise ConnectorError(ErrorKind.NOT_CONFIGURED, "The Shopify connector is not registered.")
    if connector.mode == "disabled":
        raise ConnectorError(
            ErrorKind.DISABLED, "Shopify is turned off. Set STORELINK_SHOPIFY_ENABLED=true to use this insight."
        )
    return connector


def _poll(connector: ShopifyConnector) -> float:
    return MOCK_POLL_S if connector.mode == "mock" else LIVE_POLL_S


async def read_catalog(connector: ShopifyConnector) -> Catalog:
    catalog = Catalog()
    products: dict[str, dict[str, Any]] = {}
    async for row in connector.bulk_rows("products", None, operation="insights", poll_interval_s=_poll(connector)):
        parent = row.get("__parentId")
        if parent is None:
            products[row["id"]] = row
            catalog.by_handle[str(row.get("handle", ""))] = (row["id"], str(row.get("title", "")))
        elif row.get("sku"):
            product = products.get(parent, {})
            catalog.variants[row["sku"]] = Variant(
                sku=row["sku"],
                product_id=parent,
                product=str(product.get("title", parent)),
                variant=str(row.get("title", "")),
                price=float(row.get("price") or 0.0),
            )
    return catalog


async def read_lines(connector: ShopifyConnector, since: dt.date) -> list[Line]:
    """Order lines created on or after ``since`` (the shop's days), voided orders left out."""
    calendar = await connector.calendar()
    days: dict[str, dt.date] = {}
    lines: list[Line] = []
    search = f"created_at:>={calendar.start_of(since).strftime('%Y-%m-%dT%H:%M:%SZ')}"
    async for row in connector.bulk_rows("orders", search, operation="insights", poll_interval_s=_poll(connector)):
        parent = row.get("__parentId")
        if parent is None:
            if row.get("displayFinancialStatus") not in SKIPPED_STATUSES:
                created = dt.datetime.fromisoformat(str(row["createdAt"]).replace("Z", "+00:00"))
                days[row["id"]] = calendar.day_of(created)
        elif parent in days and row.get("sku"):
            lines.append(
                Line(order_id=parent, day=days[parent], sku=row["sku"], quantity=int(row.get("quantity") or 0))
            )
    return lines
