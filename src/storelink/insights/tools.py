"""The three insight views as the CLI, the MCP server and the pages call them.

Each returns its result model; a failure of a required source (Shopify, or both search engines) is
a :class:`ConnectorError`; an optional source that fails is named in the result's ``notes``."""

from __future__ import annotations

from storelink.insights.inventory import gather_inventory
from storelink.insights.models import (
    InventoryParams,
    InventoryResult,
    RecommendationParams,
    RecommendationResult,
    SeoParams,
    SeoResult,
)
from storelink.insights.recommendations import gather_recommendations
from storelink.insights.seo import gather_seo
from storelink.insights.sources import InsightSources

__all__ = ["inventory_signals", "product_recommendations", "seo_opportunities"]


async def seo_opportunities(sources: InsightSources, params: SeoParams | None = None) -> SeoResult:
    """Striking-distance queries, low CTR for the position, losing pages and cannibalisation,
    ranked by estimated click upside (Search Console and Bing)."""
    return await gather_seo(sources, params or SeoParams())


async def inventory_signals(sources: InsightSources, params: InventoryParams | None = None) -> InventoryResult:
    """Stock-out risk within the lead time, dead stock and over-stock per variant and location:
    stock-outs first, each kind by revenue at risk (Shopify inventory and orders)."""
    return await gather_inventory(sources, params or InventoryParams())


async def product_recommendations(
    sources: InsightSources, params: RecommendationParams | None = None
) -> RecommendationResult:
    """Top sellers, rising products, products bought together and products viewed but not bought
    (Shopify orders; GA4 page views where configured)."""
    return await gather_recommendations(sources, params or RecommendationParams())
