"""A live connection to a running storelink MCP endpoint at MCP_API_URL (CI starts one).

Skipped, with the reason, when MCP_API_URL is not set. Read at import: the test environment is
scrubbed of MCP_* variables before each test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from storelink.mcp_server.client import connect
from tests.conftest import make_settings
from tests.support.tool_results import answer

LIVE_URL = os.environ.get("MCP_API_URL")
LIVE_KEY = os.environ.get("MCP_API_KEY")


@pytest.mark.skipif(not LIVE_URL, reason="MCP_API_URL is not set: no live storelink MCP endpoint to connect to")
async def test_live_endpoint_lists_tools_and_answers(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, mcp_api_url=LIVE_URL, mcp_api_key=LIVE_KEY)
    async with connect(settings) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        assert "storelink_capabilities" in tools
        caps = await client.call_tool("storelink_capabilities", {})
    assert not caps.is_error
    assert answer(caps)["connectors"]
