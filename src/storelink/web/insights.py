"""The insight pages under ``/app/stores/<store>/insights`` (``/app/insights``: the first store's):
the same results the CLI and MCP tools return.

Each page renders 200 even when a source fails: the error (kind and message, redacted) is shown
in place of the table, and optional sources that were skipped appear in the notes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from storelink.errors import ConnectorError
from storelink.insights import tools
from storelink.insights.models import InventoryParams, RecommendationParams, SeoParams
from storelink.observability.logs import redact
from storelink.runtime import Runtime
from storelink.web.dashboard import page, render, store_routes, store_state

VIEWS = (
    ("seo", "SEO opportunities", "Striking-distance queries, low CTR, losing pages, cannibalisation."),
    ("inventory", "Inventory signals", "Stock-out risk within the lead time, dead stock, over-stock."),
    ("recommendations", "Product recommendations", "Top sellers, rising, bought together, viewed not bought."),
)


def _limit(request: Request) -> dict[str, Any]:
    """``?limit=N`` (rows per kind), clamped to what every view accepts."""
    raw = request.query_params.get("limit", "")
    return {"limit": max(1, min(int(raw), 100))} if raw.isdigit() else {}


async def _view(
    request: Request, template: str, title: str, build: Callable[[Runtime], Awaitable[BaseModel]]
) -> Response:
    runtime = (await store_state(request)).runtime
    context: dict[str, Any] = {"nav": "insights", "title": title, "result": None, "error": None}
    try:
        context["result"] = await build(runtime)
    except ConnectorError as exc:
        secrets = [*runtime.settings.secret_values(), *runtime.config.secret_values()]
        context["error"] = {"kind": exc.kind.value, "message": redact(exc.message, secrets)}
    return render(request, template, context)


@page
async def index(request: Request) -> Response:
    await store_state(request)
    return render(request, "insights.html", {"nav": "insights", "views": VIEWS})


@page
async def seo_page(request: Request) -> Response:
    params = SeoParams(**_limit(request))
    return await _view(
        request, "insights_seo.html", "SEO opportunities", lambda rt: tools.seo_opportunities(rt, params)
    )


@page
async def inventory_page(request: Request) -> Response:
    params = InventoryParams(**_limit(request))
    return await _view(
        request, "insights_inventory.html", "Inventory signals", lambda rt: tools.inventory_signals(rt, params)
    )


@page
async def recommendations_page(request: Request) -> Response:
    params = RecommendationParams(**_limit(request))
    return await _view(
        request,
        "insights_recommendations.html",
        "Product recommendations",
        lambda rt: tools.product_recommendations(rt, params),
    )


def insights_routes() -> list[BaseRoute]:
    """Add these to create_app before the final ``Mount("/")``."""
    return [
        *store_routes("insights", index, ["GET"]),
        *store_routes("insights/seo", seo_page, ["GET"]),
        *store_routes("insights/inventory", inventory_page, ["GET"]),
        *store_routes("insights/recommendations", recommendations_page, ["GET"]),
    ]
