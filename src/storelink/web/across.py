"""The all-stores page, ``/app/stores``: every store at a glance, and figures across stores.

A deployment may hold a hundred stores, and opening one builds its connectors, so this page opens
none just to render. A store not opened yet shows the modes its connectors would run in (read
from its settings) and a link that opens it; an opened store shows each connector's breaker and
last health probe, and its last five minutes from the metrics (calls, error rate, worst p95).
Stores are listed :data:`PAGE_SIZE` to a page (``?page=``), filtered by ``?q=`` (id or name);
a keys-file key sees and compares only the stores within its reach (web/stores.py).

Sales and traffic side by side and low stock across stores (:mod:`storelink.insights.across`) are
computed on request for the stores picked (``?compare=<id>``, at most :data:`COMPARE_MAX`), by
default the page's opened stores. Each store answers within :data:`STORE_BUDGET_S` or is marked
as not answering; a failing store is marked in the answer and the others still answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from storelink.connectors.registry import builtin_connectors
from storelink.insights.across import (
    LowStockAcross,
    SalesAndTraffic,
    low_stock_across,
    sales_and_traffic,
)
from storelink.runtime import StoreDirectory, decide_mode
from storelink.settings import Settings
from storelink.stores import StoreConfig
from storelink.stores_file import STORE_ID
from storelink.web.dashboard import page, render
from storelink.web.state import Dashboards, DashboardState, dashboards_for
from storelink.web.stores import STORES_PATH, reachable_stores, store_access, store_url

__all__ = [
    "COMPARE_MAX",
    "PAGE_SIZE",
    "STORE_BUDGET_S",
    "Across",
    "ConnectorState",
    "StoreRow",
    "across_routes",
    "store_rows",
]

PAGE_SIZE = 50  # stores listed on one page
COMPARE_MAX = 10  # stores whose sales, traffic and stock one request may compute (each is opened)
STORE_BUDGET_S = 10.0  # how long the page waits for one store's figures
LOW_STOCK_ROWS = 20
_QUERY_MAX = 64

M = TypeVar("M")


@dataclass(frozen=True, slots=True)
class ConnectorState:
    name: str
    mode: str
    breaker: str | None = None  # None: the store is not opened, so there is no breaker yet
    health: str | None = None  # the last background probe's verdict, when there was one


@dataclass(slots=True)
class StoreRow:
    id: str
    name: str
    href: str
    opened: bool
    connectors: list[ConnectorState]
    calls_5m: int = 0
    errors_5m: int = 0
    worst_p95_ms: float | None = None
    worst_p95_connector: str = ""
    picked: bool = False

    @property
    def error_rate_5m(self) -> float | None:
        return self.errors_5m / self.calls_5m if self.calls_5m else None


@dataclass(slots=True)
class Across:
    """What the page shows about the stores picked for comparison."""

    picked: list[str]
    days: int
    budget_s: float
    sales: SalesAndTraffic
    low_stock: LowStockAcross
    ignored: int = 0  # picks that named no store, or were over the limit


@dataclass(slots=True)
class Listing:
    rows: list[StoreRow]
    total: int  # stores matching the filter
    configured: int
    page: int
    pages: int
    query: str
    opened: int
    notes: list[str] = field(default_factory=list)


def _planned(config: StoreConfig, settings: Settings) -> list[ConnectorState]:
    """The modes a store's connectors will run in once it is opened (nothing is built)."""
    found = []
    for cls in builtin_connectors():
        if cls.name in config.connectors:
            mode, _ = decide_mode(cls, config.connector(cls.name), force_mocks=settings.mcp_force_mocks)
            found.append(ConnectorState(cls.name, mode))
    return found


def _opened_row(row: StoreRow, state: DashboardState) -> None:
    for connector in state.runtime.registry:
        report = state.board.latest(connector.name)
        row.connectors.append(
            ConnectorState(
                connector.name,
                connector.mode,
                connector.breaker.state.value.replace("_", "-"),
                report.health.status if report else None,
            )
        )
        window = state.runtime.metrics.connector_window(connector.name, "5m")
        row.calls_5m += window.count
        row.errors_5m += window.errors
        if window.p95_ms is not None and (row.worst_p95_ms is None or window.p95_ms > row.worst_p95_ms):
            row.worst_p95_ms, row.worst_p95_connector = window.p95_ms, connector.name


def store_rows(dashboards: Dashboards, configs: Sequence[StoreConfig], settings: Settings) -> list[StoreRow]:
    """A row per store; opened stores with their live figures. Opens nothing."""
    opened = set(dashboards.directory.opened())
    rows = []
    for config in configs:
        row = StoreRow(config.id, config.name, store_url(config.id), config.id in opened, [])
        state = dashboards.get(config.id)
        if state is not None:
            _opened_row(row, state)
        else:
            row.connectors = _planned(config, settings)
        rows.append(row)
    return rows


def _int(raw: str | None, default: int, low: int, high: int) -> int:
    return max(low, min(int(raw), high)) if raw and raw.isdigit() and len(raw) < 6 else default


def _listing(request: Request, dashboards: Dashboards, settings: Settings) -> Listing:
    directory = dashboards.directory
    stores = reachable_stores(directory, store_access(request))
    query = request.query_params.get("q", "").strip().lower()[:_QUERY_MAX]
    matching = [s for s in stores if query in s.id or query in s.name.lower()] if query else stores
    pages = max(1, -(-len(matching) // PAGE_SIZE))
    number = _int(request.query_params.get("page"), 1, 1, pages)
    shown = matching[(number - 1) * PAGE_SIZE : number * PAGE_SIZE]
    return Listing(
        rows=store_rows(dashboards, shown, settings),
        total=len(matching),
        configured=len(stores),
        page=number,
        pages=pages,
        query=query,
        opened=len(store_access(request).reachable(directory.opened())),
    )


def _picks(request: Request, directory: StoreDirectory, listing: Listing) -> tuple[list[str], int]:
    """The stores to compare: ``?compare=`` ids that name stores (at most :data:`COMPARE_MAX`),
    else the listed stores already open. Also how many picks were dropped."""
    asked = request.query_params.getlist("compare")
    if not asked:
        return [r.id for r in listing.rows if r.opened][:COMPARE_MAX], 0
    known = set(store_access(request).reachable(directory.ids()))
    valid = list(dict.fromkeys(a for a in asked if STORE_ID.fullmatch(a) and a in known))
    return valid[:COMPARE_MAX], len(asked) - len(valid[:COMPARE_MAX])


async def compare(directory: StoreDirectory, picked: list[str], *, days: int, budget_s: float) -> Across:
    """Sales and traffic, and low stock, of each picked store, concurrently, each store within
    ``budget_s``: a slow or failing store is a line in ``failed``, never the page's failure."""
    sales, low_stock = await asyncio.gather(
        sales_and_traffic(directory, picked, days=days, timeout_s=budget_s),
        low_stock_across(directory, picked, limit=LOW_STOCK_ROWS, timeout_s=budget_s),
    )
    return Across(picked=picked, days=days, budget_s=budget_s, sales=sales, low_stock=low_stock)


def _settings(request: Request) -> Settings:
    found = getattr(request.app.state, "settings", None)
    if not isinstance(found, Settings):
        raise RuntimeError("The app has no settings: the all-stores page must run inside create_app.")
    return found


@page
async def stores_page(request: Request) -> Response:
    dashboards = dashboards_for(request.app.state)
    await dashboards.adopt()  # stores opened elsewhere show as opened, with their figures
    listing = _listing(request, dashboards, _settings(request))
    picked, ignored = _picks(request, dashboards.directory, listing)
    days = _int(request.query_params.get("days"), 7, 1, 90)
    across = await compare(dashboards.directory, picked, days=days, budget_s=STORE_BUDGET_S) if picked else None
    if across is not None:
        across.ignored = ignored
        await dashboards.adopt()  # the stores just opened get their sampler and probes
        listing.opened = len(store_access(request).reachable(dashboards.directory.opened()))
        for row in listing.rows:
            state = dashboards.get(row.id)
            if not row.opened and state is not None:
                row.opened, row.connectors = True, []
                _opened_row(row, state)
    for row in listing.rows:
        row.picked = row.id in picked
    context: dict[str, Any] = {
        "listing": listing,
        "across": across,
        "nav": "stores",
        "compare_max": COMPARE_MAX,
        "page_size": PAGE_SIZE,
        "stores_path": STORES_PATH,
    }
    return render(request, "stores.html", context)


def across_routes() -> list[BaseRoute]:
    return [Route(STORES_PATH, stores_page, methods=["GET"])]
