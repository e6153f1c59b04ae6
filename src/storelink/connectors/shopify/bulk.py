"""Shopify bulk operations: start one, poll it until it is done, stream its JSONL result.

A bulk query has no query-cost limit, so reads too big for paging (a year of orders, every
inventory level) run here. Shopify gives an app few bulk slots; a refusal because they are taken
carries one of ``BULK_BUSY_CODES``, so a caller can fall back to paging."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, Protocol

from storelink.clock import Clock
from storelink.connectors.http import Upstream
from storelink.connectors.progress import report_progress
from storelink.connectors.shopify import models as m
from storelink.connectors.shopify import queries as q
from storelink.connectors.shopify.rows import inventory_row
from storelink.errors import ConnectorError, ErrorKind

__all__ = [
    "BULK_BUSY_CODES",
    "BULK_POLL_FIRST_S",
    "BULK_POLL_MAX_S",
    "GraphQLApi",
    "export_document",
    "inventory_by_location",
    "query_rows",
]

BULK_BUSY_CODES = frozenset({"OPERATION_IN_PROGRESS", "LIMIT_REACHED"})  # the app's bulk slots are taken
BULK_POLL_FIRST_S = 0.1  # small bulk queries finish in about a second: poll early, then back off
BULK_POLL_MAX_S = 2.0


class GraphQLApi(Protocol):
    """What a bulk operation needs of the connector: its paced GraphQL call, its upstream for the
    result file, and its clock for the waits between polls."""

    http: Upstream
    clock: Clock

    async def graphql(
        self, document: str, variables: dict[str, Any], *, operation: str, cache_ttl_s: float | None = 0.0
    ) -> dict[str, Any]: ...


def export_document(resource: str, search: str | None) -> str:
    """The bulk query exporting all products or orders, optionally filtered by ``search``."""
    template = q.BULK_PRODUCTS if resource == "products" else q.BULK_ORDERS
    args = f'query: "{search}"' if search else ""
    return template.replace("(QUERY)", f"({args})" if args else "")


async def query_rows(
    api: GraphQLApi,
    document: str,
    *,
    operation: str,
    poll_interval_s: float = 2.0,
    first_poll_s: float | None = None,
    info: dict[str, Any] | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """Run one bulk query and yield the JSONL rows of its result as they are read.

    Polls every ``poll_interval_s``; with ``first_poll_s`` the waits start there and double up
    to ``poll_interval_s``, so a small operation is seen as soon as it completes. ``info``, when
    given, is kept up to date with the operation's id, status and object counts."""
    info = info if info is not None else {}
    info["id"] = await _start(api, document, operation=operation)
    await report_progress(0, None, "bulk operation started")
    url = await _completed(api, info, operation=operation, poll_interval_s=poll_interval_s, first_wait_s=first_poll_s)
    if not url:
        return  # an empty result has no file
    response = await api.http.request("GET", url, operation=f"{operation}_download", cache_ttl_s=0.0)
    for line in response.content.splitlines():
        if line.strip():
            yield _row(line, request_id=response.report.request_id)


async def _start(api: GraphQLApi, document: str, *, operation: str) -> str:
    """Start the bulk query; its operation's id."""
    started = await api.graphql(q.BULK_RUN, {"query": document}, operation=operation)
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
    return str(result["bulkOperation"]["id"])


async def _completed(
    api: GraphQLApi, info: dict[str, Any], *, operation: str, poll_interval_s: float, first_wait_s: float | None
) -> str | None:
    """Poll the operation ``info["id"]`` until it completes; the URL of its result file (None when
    the result is empty)."""
    wait = first_wait_s if first_wait_s is not None else poll_interval_s
    while True:
        answer = await api.graphql(q.BULK_OPERATION, {"id": info["id"]}, operation=operation)
        node = answer.get("node") or {}
        status = node.get("status", "")
        info.update(
            status=status,
            objects=int(node.get("objectCount") or 0),
            roots=int(node.get("rootObjectCount") or 0),
        )
        await report_progress(info["objects"], None, f"bulk operation {status.lower()}: {info['objects']} objects")
        if status == "COMPLETED":
            return node.get("url")
        if status in ("FAILED", "CANCELED", "EXPIRED"):
            raise ConnectorError(
                ErrorKind.UPSTREAM_ERROR,
                f"Shopify's bulk operation ended {status} ({node.get('errorCode') or 'no code'}); retry later.",
            )
        await api.clock.sleep(wait)
        wait = min(poll_interval_s, wait * 2)


def _row(line: bytes, *, request_id: str | None) -> dict[str, Any]:
    """One line of the result file as an object."""
    try:
        row = json.loads(line)
    except ValueError as exc:
        raise ConnectorError(
            ErrorKind.UPSTREAM_ERROR,
            "Shopify's bulk result file holds a line that is not JSON; run the operation again.",
            request_id=request_id,
        ) from exc
    if not isinstance(row, dict):
        raise ConnectorError(
            ErrorKind.UPSTREAM_ERROR,
            "Shopify's bulk result file holds a line that is not an object; run the operation again.",
            request_id=request_id,
        )
    return row


async def inventory_by_location(
    api: GraphQLApi, locations: list[dict[str, Any]], params: m.InventoryParams
) -> dict[str, list[m.InventoryRow]]:
    """Each wanted location's first ``limit + 1`` rows that pass the filter, from one bulk query.

    Level lines are matched to their location by ``__parentId``, so the file's grouping does
    not matter; their order within a location is Shopify's, as in the paged read. Keeping at
    most ``limit + 1`` per location bounds memory however big the store is."""
    names = {loc["id"]: loc["name"] for loc in locations}
    kept: dict[str, list[m.InventoryRow]] = {loc_id: [] for loc_id in names}
    info: dict[str, Any] = {}
    lines = 0
    async for line in query_rows(
        api,
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
        row = inventory_row(parent, names[parent], line, params.low_stock_threshold)
        bucket = kept[parent]
        if (row.low or not params.only_low) and len(bucket) <= params.limit:
            bucket.append(row)
    return kept
