"""`storelink mcp` over stdio, as a desktop client starts it."""

from __future__ import annotations

import sys
import tempfile

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from tests.support.servers import SRC
from tests.support.tool_results import answer

pytestmark = pytest.mark.slow


async def test_stdio_server_lists_tools_and_answers() -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "storelink.main", "mcp"],
        env={"PYTHONPATH": SRC, "STORELINK_DATA_DIR": tempfile.mkdtemp(), "MCP_FORCE_MOCKS": "true"},
    )
    with tempfile.TemporaryFile("w+") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            result = await client.call_tool("shopify_sales_summary", {"days": 3})
    assert "shopify_list_orders" in names
    assert not result.is_error
    assert len(answer(result)["data"]["days"]) == 3
