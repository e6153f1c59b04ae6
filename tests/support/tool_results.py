"""Reading MCP tool results in tests."""

from __future__ import annotations

import json
from typing import Any

from mcp import Client
from mcp.types import CallToolResult, TextContent


def first_text(result: CallToolResult) -> str:
    """The text of a tool result's first content block: storelink's tools answer in text (errors
    as ``[kind] message``), so any other kind of block is a failure of the test."""
    block = result.content[0]
    assert isinstance(block, TextContent), block
    return block.text


def answer(result: CallToolResult) -> Any:
    """A tool's answer: the JSON of its one text block (storelink answers in compact JSON text and
    sends ``structuredContent`` only beside an advertised output schema)."""
    return json.loads(first_text(result))


async def output_schema(client: Client, tool: str) -> dict[str, Any]:
    """A tool's output schema, asked for as an agent would (tools/list leaves them out)."""
    schema: dict[str, Any] = answer(await client.call_tool("storelink_output_schema", {"tool": tool}))["output_schema"]
    return schema
