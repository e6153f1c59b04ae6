"""Reading MCP tool results in tests."""

from __future__ import annotations

from mcp.types import CallToolResult, TextContent


def first_text(result: CallToolResult) -> str:
    """The text of a tool result's first content block: storelink's tools answer in text (errors
    as ``[kind] message``), so any other kind of block is a failure of the test."""
    block = result.content[0]
    assert isinstance(block, TextContent), block
    return block.text
