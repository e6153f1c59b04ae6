"""Answers for several stores at once: sales and traffic side by side, low stock across stores,
the health of every connector of every store.

Each store is asked concurrently (at most :data:`STORES_AT_ONCE` at a time) within its own time
limit; a store that fails is reported inside the answer (:class:`StoreFailure`, with the error's
kind and message) and the others still answer. Callers pass the stores the caller may reach
(:mod:`storelink.access`); answers are bounded by ``limit``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, Field

from storelink.connectors.base import Health
from storelink.errors import ConnectorError, ErrorKind, clip
from storelink.insights.models import InventoryParams, InventorySignal
from storelink.insights.sources import Stores, StoreSources
from storelink.insights.tools import inventory_signals

__all__ = [
    "MAX_STORES",
    "STORES_AT_ONCE",
    "HealthAcross",
    "LowStockAcross",
    "SalesAndTraffic",
    "StoreFailure",
    "StoreHealth",
    "StoreLowStock",
    "StoreSalesTraffic",
    "health_across",
    "low_stock_across",
    "sales_and_traffic",
]

log = logging.getLogger("storelink")
T = TypeVar("T")

STORES_AT_ONCE = 8  # stores asked concurrently: each has its own limits, the process has two cores
MAX_STORES = 50  # stores in one answer; more are named in `more` for the caller to ask next
STORE_TIMEOUT_S = 45.0  # a store's share of the answer; its own connectors' deadlines are shorter


class StoreFailure(BaseModel):
    store: str
    name: str
    kind: str = Field(description="The error kind (as in every tool error), e.g. unavailable, timeout.")
    message: str


class StoreSalesTraffic(BaseModel):
    store: str
    name: str
    currency: str | None = None
    orders: int | None = Field(None, description="Shopify orders in the window (None: Shopify failed or is off).")
    units: int | None = None
    gross: Decimal | None = Field(None, description="Line items at their original prices.")
    sessions: int | None = Field(None, description="GA4 sessions in the window (None: GA4 failed or is off).")
    users: int | None = None
    conversions: int | None = None
    problems: list[str] = Field(
        default_factory=list, description="A source of this store that did not answer, and why."
    )


class SalesAndTraffic(BaseModel):
    days: int
    stores: list[StoreSalesTraffic]
    failed: list[StoreFailure] = Field(default_factory=list, description="Stores that did not answer at all.")
    more: list[str] = Field(default_factory=list, description=f"Stores left out (over {MAX_STORES}); ask for them.")


class StoreLowStock(InventorySignal):
    store: str
    store_name: str
    currency: str = Field("USD", description="The store's currency (revenue at risk is in it).")


class LowStockAcross(BaseModel):
    rows: list[StoreLowStock] = Field(description="Stock-out risks of every store, largest revenue at risk first.")
    truncated: bool = Field(description="More rows than `limit`.")
    failed: list[StoreFailure] = Field(default_factory=list)
    more: list[str] = Field(default_factory=list)


class StoreHealth(BaseModel):
    store: str
    name: str
    connectors: list[Health]


class HealthAcross(BaseModel):
    stores: list[StoreHealth]
    failed: list[StoreFailure] = Field(default_factory=list)
    more: list[str] = Field(default_factory=list)


async def _each(
    directory: Stores,
    store_ids: Sequence[str],
    work: Callable[[StoreSources], Awaitable[T]],
    *,
    timeout_s: float = STORE_TIMEOUT_S,
) -> tuple[list[tuple[str, T]], list[StoreFailure], list[str]]:
    """Run ``work`` for each store (at most :data:`MAX_STORES`), at most :data:`STORES_AT_ONCE` at a
    time; results in the order given, failures reported, never raised."""
    asked, more = list(store_ids[:MAX_STORES]), list(store_ids[MAX_STORES:])
    gate = asyncio.Semaphore(STORES_AT_ONCE)

    async def one(store_id: str) -> T | StoreFailure:
        name = directory.config(store_id).name
        async with gate:
            try:
                async with asyncio.timeout(timeout_s):
                    return await work(await directory.runtime(store_id))
            except ConnectorError as err:
                return StoreFailure(store=store_id, name=name, kind=err.kind.value, message=err.message)
            except TimeoutError:
                message = f"No answer within {timeout_s:g} s; ask for this store alone."
                return StoreFailure(store=store_id, name=name, kind=ErrorKind.TIMEOUT.value, message=message)
            except Exception as exc:  # one store's bug must not sink the others' answers
                log.exception("store %s failed in a cross-store answer", store_id)
                message = f"Failed on an unexpected error ({type(exc).__name__}); it is logged on the server."
                return StoreFailure(store=store_id, name=name, kind="internal_error", message=message)

    done: list[tuple[str, T]] = []
    failed: list[StoreFailure] = []
    for store_id, outcome in zip(asked, await asyncio.gather(*(one(s) for s in asked)), strict=True):
        if isinstance(outcome, StoreFailure):
            failed.append(outcome)
        else:
            done.append((store_id, outcome))
    return done, failed, more


async def _try(runtime: StoreSources, connector: str, operation: str, params: dict[str, Any]) -> tuple[Any, str | None]:
    """One source's answer, or why there is none (a store may lack a source)."""
    if connector not in runtime.registry.names():
        return None, f"{connector}: not configured"
    source = runtime.registry.get(connector)
    if source.mode == "disabled":
        return None, f"{connector}: off"
    try:
        return (await source.call(operation, params)).data, None
    except ConnectorError as err:
        return None, clip(f"{connector}: [{err.kind.value}] {err.message}", 300)


async def sales_and_traffic(
    directory: Stores, store_ids: Sequence[str], *, days: int = 7, timeout_s: float = STORE_TIMEOUT_S
) -> SalesAndTraffic:
    """Each store's sales (Shopify) and traffic (GA4) over its own last ``days`` days, each store
    within ``timeout_s``."""

    async def one(runtime: StoreSources) -> StoreSalesTraffic:
        (sales, sales_problem), (traffic, traffic_problem) = await asyncio.gather(
            _try(runtime, "shopify", "sales_summary", {"days": days}),
            _try(runtime, "ga4", "traffic_overview", {"days": days}),
        )
        row = StoreSalesTraffic(store=runtime.config.id, name=runtime.config.name)
        row.problems = [p for p in (sales_problem, traffic_problem) if p]
        if sales is not None:
            totals = sales.totals
            row.currency, row.orders, row.units, row.gross = sales.currency, totals.orders, totals.units, totals.gross
        if traffic is not None and traffic.totals is not None:
            row.sessions, row.users = traffic.totals.sessions, traffic.totals.users
            row.conversions = traffic.totals.conversions
        if sales is None and traffic is None:
            # Nothing answered: the store failed as a whole.
            raise ConnectorError(ErrorKind.UNAVAILABLE, "; ".join(row.problems) or "no source answered")
        return row

    done, failed, more = await _each(directory, store_ids, one, timeout_s=timeout_s)
    return SalesAndTraffic(days=days, stores=[row for _, row in done], failed=failed, more=more)


async def low_stock_across(
    directory: Stores, store_ids: Sequence[str], *, limit: int = 20, timeout_s: float = STORE_TIMEOUT_S
) -> LowStockAcross:
    """Every store's stock-out risks within its lead time, ranked together by revenue at risk, each
    store within ``timeout_s``."""

    async def one(runtime: StoreSources) -> list[StoreLowStock]:
        result = await inventory_signals(runtime, InventoryParams(limit=limit))
        return [
            StoreLowStock(
                **row.model_dump(), store=runtime.config.id, store_name=runtime.config.name, currency=result.currency
            )
            for row in result.rows
            if row.kind == "stockout_risk"
        ]

    done, failed, more = await _each(directory, store_ids, one, timeout_s=timeout_s)
    rows = sorted((r for _, found in done for r in found), key=lambda r: -r.revenue_at_risk)
    return LowStockAcross(rows=rows[:limit], truncated=len(rows) > limit, failed=failed, more=more)


async def health_across(directory: Stores, store_ids: Sequence[str]) -> HealthAcross:
    """Every connector of every store, probed with its cheap call."""

    async def one(runtime: StoreSources) -> StoreHealth:
        reports = await asyncio.gather(*(c.health() for c in runtime.registry))
        return StoreHealth(store=runtime.config.id, name=runtime.config.name, connectors=list(reports))

    done, failed, more = await _each(directory, store_ids, one)
    return HealthAcross(stores=[h for _, h in done], failed=failed, more=more)
