"""The insight views as MCP tools in mock mode (the inventory view is covered in tests/insights:
it pages every inventory level, which takes the Shopify fake's bucket a minute of real time)."""

from __future__ import annotations

from pathlib import Path

import jsonschema  # type: ignore[import-untyped]  # no stubs: types-jsonschema is not a dev dependency
from mcp import Client

from storelink.connectors.registry import builtin_connectors
from storelink.mcp_server.server import build_server
from storelink.runtime import OneStore, open_runtime
from storelink.store import EmbeddedStore
from tests.conftest import make_settings
from tests.support.tool_results import answer


async def test_seo_and_recommendations_tools(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, mcp_tools="insights_*")
    async with open_runtime(settings, store=EmbeddedStore(None)) as rt:
        # Built to advertise output schemas: answers come with structured content that conforms.
        server = build_server(settings, lambda: OneStore(rt), builtin_connectors(), output_schemas=True)
        async with Client(server) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            assert set(tools) == {
                "insights_seo_opportunities",
                "insights_inventory_signals",
                "insights_product_recommendations",
            }
            for name in ("insights_seo_opportunities", "insights_product_recommendations"):
                result = await client.call_tool(name, {"limit": 5})
                assert not result.is_error, result.content
                jsonschema.validate(result.structured_content, tools[name].output_schema)
                assert result.structured_content == answer(result)
            bad = await client.call_tool("insights_seo_opportunities", {"limit": -1})
            assert bad.is_error
