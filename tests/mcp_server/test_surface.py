"""The MCP surface stays sized for a model's context (bench/mcp_surface.py prints the figures):
tools/list and every tool's default answer within their goals, cut answers that say how to get
the rest in the tool's own parameter names, short titles, numeric ids accepted."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client

from storelink.connectors.registry import builtin_connectors
from storelink.mcp_server.server import build_server
from storelink.mcp_server.surface import ANSWER_GOAL, TOOLS_LIST_GOAL, measure_surface
from storelink.runtime import OneStore, open_runtime
from storelink.store import EmbeddedStore
from tests.conftest import make_settings
from tests.support.tool_results import answer

pytestmark = pytest.mark.slow


async def test_tools_list_and_every_default_answer_stay_within_the_goals(tmp_path: Path) -> None:
    surface = await measure_surface(make_settings(tmp_path), site=True)
    assert surface.tools > 40
    assert surface.tools_list_bytes <= TOOLS_LIST_GOAL, surface.tools_list_bytes
    assert [a.tool for a in surface.answers if a.error] == []
    over = {a.tool: a.bytes for a in surface.answers if a.bytes > ANSWER_GOAL}
    assert over == {}


async def test_a_cut_answer_says_how_to_continue_in_the_tools_own_parameters(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, mcp_tools="gsc_*,shopify_list_*,zoho_list_*")
    async with open_runtime(settings, store=EmbeddedStore(None)) as rt:
        async with Client(build_server(settings, lambda: OneStore(rt), builtin_connectors())) as client:
            # 1,000 rows asked for explicitly: cut at 100 kB, continued with start_row.
            first = answer(
                await client.call_tool("gsc_search_analytics", {"dimensions": "query,page", "row_limit": 1000})
            )
            kept = len(first["data"]["rows"])
            assert kept < 1000 and first["data"]["truncated"]
            assert f"`start_row`={kept}" in first["note"] and "limit/cursor" not in first["note"]
            assert first["data"]["next_start_row"] == kept
            # Positions line up: the row before the continuation is the last one kept.
            before = {"dimensions": "query,page", "row_limit": 2, "start_row": kept - 1}
            around = answer(await client.call_tool("gsc_search_analytics", before))["data"]["rows"]
            assert around[0] == first["data"]["rows"][-1]
            # A cursor tool cut short points at no cursor that would skip what was cut.
            products = answer(await client.call_tool("shopify_list_products", {"limit": 250}))
            if products.get("note"):
                assert products["data"]["next_cursor"] is None
                assert "`limit`=" in products["note"]


async def test_titles_are_short_names_not_sentences(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with open_runtime(settings, store=EmbeddedStore(None)) as rt:
        async with Client(build_server(settings, lambda: OneStore(rt), builtin_connectors())) as client:
            tools = (await client.list_tools()).tools
    for tool in tools:
        assert tool.title and len(tool.title) <= 40 and not tool.title.endswith("."), (tool.name, tool.title)
        assert tool.annotations is None or tool.annotations.title is None, tool.name  # said once
    titles = {t.name: t.title for t in tools}
    assert titles["shopify_shop_info"] == "Shopify: shop info"


async def test_numeric_ids_are_taken_as_text(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, mcp_tools="shopify_get_order,zoho_*")
    async with open_runtime(settings, store=EmbeddedStore(None)) as rt:
        async with Client(build_server(settings, lambda: OneStore(rt), builtin_connectors())) as client:
            order = await client.call_tool("shopify_get_order", {"id": 1001})
            assert not order.is_error, order.content
            assert answer(order)["data"]["name"] == "#1001"
            listed = answer(await client.call_tool("zoho_list_messages", {"limit": 1}))["data"]["items"][0]
            message = await client.call_tool(
                "zoho_get_message", {"message_id": int(listed["message_id"]), "folder_id": int(listed["folder_id"])}
            )
            assert not message.is_error, message.content
            assert answer(message)["data"]["message_id"] == listed["message_id"]
