"""`storelink insights seo|inventory|recommendations`: the three cross-source views.

Wired under the main app as ``app.add_typer(insights_app, name="insights")``. ``--json`` prints the
result model (or the error envelope) exactly as the MCP tools return it; without it, a table."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from pydantic import BaseModel

from storelink.cli.common import StoreOption, cli_settings, store_runtime
from storelink.cli.output import Table, console, period, tally
from storelink.errors import ConfigurationError, ConnectorError
from storelink.insights import tools
from storelink.insights.inventory import cover_words, money
from storelink.insights.models import (
    InventoryParams,
    InventoryResult,
    RecommendationParams,
    RecommendationResult,
    SeoParams,
    SeoResult,
)
from storelink.runtime import Runtime

insights_app = typer.Typer(help="Insights across sources: SEO, inventory, recommendations.", no_args_is_help=True)
out = console()
err = console(stderr=True)

R = TypeVar("R", bound=BaseModel)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
LimitOpt = Annotated[int, typer.Option("--limit", min=1, max=100, help="Rows per kind (per list).")]


def _run(view: Callable[[Runtime], Awaitable[R]], as_json: bool, store: str | None = None) -> R:
    async def go() -> R:
        async with store_runtime(cli_settings(), store) as rt:
            return await view(rt)

    try:
        return asyncio.run(go())
    except ConnectorError as exc:
        if as_json:
            print(json.dumps(exc.envelope().model_dump(mode="json"), indent=2))
        else:
            err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    except ConfigurationError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


def _notes(notes: list[str]) -> None:
    for note in notes:
        err.print(f"[dim]note: {note}[/dim]")


@insights_app.command("seo")
def seo(as_json: JsonOpt = False, limit: LimitOpt = 10, days: int = 28, store: StoreOption = None) -> None:
    """Striking-distance queries, low CTR, losing pages and cannibalisation, by click upside."""
    result: SeoResult = _run(lambda rt: tools.seo_opportunities(rt, SeoParams(days=days, limit=limit)), as_json, store)
    if as_json:
        print(result.model_dump_json(indent=2))
        return
    when = f", {period(*result.current_period)}" if result.current_period else ""
    table = Table(title=f"SEO opportunities{when} ({tally(result.counts)})")
    for col in ("kind", "source", "query / pages", "position", "impr.", "clicks", "upside"):
        table.add_column(col)
    for row in result.rows:
        target = row.query or ", ".join(row.pages)
        pos = f"{row.current.position:.1f}" if row.current.position is not None else "-"
        table.add_row(
            row.kind,
            row.source,
            target,
            pos,
            str(row.current.impressions),
            str(row.current.clicks),
            f"{row.upside_clicks:.0f}",
        )
    out.print(table)
    _notes(result.notes)


@insights_app.command("inventory")
def inventory(as_json: JsonOpt = False, limit: LimitOpt = 10, window_days: int = 30, store: StoreOption = None) -> None:
    """Stock-out risk, dead stock and over-stock per variant and location, by revenue at risk."""
    params = InventoryParams(window_days=window_days, limit=limit)
    result: InventoryResult = _run(lambda rt: tools.inventory_signals(rt, params), as_json, store)
    if as_json:
        print(result.model_dump_json(indent=2))
        return
    table = Table(title=f"Inventory signals, lead time {result.lead_time_days} d ({tally(result.counts)})")
    for col in ("kind", "sku", "location", "available", "units/day", "cover", "at risk"):
        table.add_column(col)
    for s in result.rows:
        cover = cover_words(s.days_of_cover)
        at_risk = money(s.revenue_at_risk, result.currency)
        table.add_row(s.kind, s.sku, s.location, str(s.available), f"{s.units_per_day:.2f}", cover, at_risk)
    out.print(table)
    _notes(result.notes)


@insights_app.command("recommendations")
def recommendations(as_json: JsonOpt = False, limit: LimitOpt = 10, days: int = 30, store: StoreOption = None) -> None:
    """Top sellers, rising products, bought together, viewed but not bought."""
    params = RecommendationParams(days=days, limit=limit)
    result: RecommendationResult = _run(lambda rt: tools.product_recommendations(rt, params), as_json, store)
    if as_json:
        print(result.model_dump_json(indent=2))
        return
    for title, rows in (("Top sellers", result.top_sellers), ("Rising", result.rising)):
        table = Table(title=title)
        for col in ("product", "units", "previous", "revenue", "growth"):
            table.add_column(col)
        for p in rows:
            table.add_row(p.product, str(p.units), str(p.previous_units), f"{p.revenue:,.2f}", f"{p.growth:+.0%}")
        out.print(table)
    pairs = Table(title="Bought together")
    for col in ("A", "B", "orders", "support", "confidence", "lift"):
        pairs.add_column(col)
    for pair in result.bought_together:
        pairs.add_row(
            pair.product_a,
            pair.product_b,
            str(pair.orders_together),
            f"{pair.support:.2%}",
            f"{pair.confidence:.0%}",
            f"{pair.lift:.1f}",
        )
    out.print(pairs)
    cold = Table(title="Viewed, not bought")
    for col in ("product", "views", "orders", "expected"):
        cold.add_column(col)
    for c in result.viewed_not_bought:
        cold.add_row(c.product, str(c.views), str(c.orders), f"{c.expected_orders:.1f}")
    out.print(cold)
    _notes(result.notes)
