"""The MCP surface's weight: bytes of ``tools/list`` and of each tool's default answer, in mock
mode over the in-memory client (``bench/mcp_surface.py`` prints it; a test holds it to the goals).

A tool's default answer is the call with only what it requires (a value from its declared example)
and nothing that sizes it: the first thing an agent gets. Bytes are the compact JSON text a client
hands the model; ``wire`` is the whole ``tools/call`` result as sent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mcp import Client
from mcp.types import ListToolsResult, TextContent

from storelink.connectors.registry import builtin_connectors
from storelink.mcp_server.server import build_server
from storelink.mcp_server.tools import DEFAULT_OUTPUT_BYTES
from storelink.runtime import OneStore, open_runtime
from storelink.settings import Settings
from storelink.store import EmbeddedStore

__all__ = ["ANSWER_GOAL", "TOOLS_LIST_GOAL", "Answer", "Surface", "default_calls", "measure_surface"]

TOOLS_LIST_GOAL = 40_000
ANSWER_GOAL = DEFAULT_OUTPUT_BYTES
SHIPPING_PAGE = "https://www.apexperformanceparts.example/pages/shipping"

# Required arguments of the tools that are not a connector's operation, and the calls an agent
# makes first where "nothing but the required" would be a trivially small answer.
_CALLS: dict[str, dict[str, Any]] = {
    "storelink_output_schema": {"tool": "gsc_search_analytics"},
    "search": {"query": "return policy"},
    "site_answer": {"question": "How long do I have to return a part?"},
    "stores_sales_and_traffic": {},
    "ga4_run_report": {"metrics": "sessions,totalUsers", "dimensions": "date,sessionSource"},
    "gsc_search_analytics": {"days": 28, "dimensions": "query"},
    "zoho_search_messages": {"text": "order"},
}


@dataclass(frozen=True, slots=True)
class Answer:
    tool: str
    bytes: int  # the compact JSON text a model reads
    wire: int  # the whole tools/call result as sent
    error: str | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Surface:
    tools: int
    tools_list_bytes: int
    answers: list[Answer]


def default_calls() -> dict[str, dict[str, Any]]:
    """Each tool's default call: its required arguments (from the operation's example), or ``_CALLS``."""
    calls: dict[str, dict[str, Any]] = {}
    for cls in builtin_connectors():
        for spec in cls.operations.values():
            required = [name for name, field in spec.params.model_fields.items() if field.is_required()]
            calls[f"{cls.name}_{spec.name}"] = {k: v for k, v in (spec.example or {}).items() if k in required}
    return {**calls, **_CALLS}


async def measure_surface(settings: Settings, *, site: bool = True) -> Surface:
    """Open one mock store, list the tools and call each with its default call. ``site``: also the
    site-knowledge tools (their index is built lexically first, a few seconds)."""
    async with open_runtime(settings, store=EmbeddedStore(None)) as runtime:
        if site:
            from storelink.rag.knowledge import SiteKnowledge

            runtime._knowledge = await SiteKnowledge.open(
                settings,
                store=runtime.store,
                metrics=runtime.metrics,
                cache=runtime.cache,
                registry=runtime.registry,
                dense=False,
            )
        server = build_server(settings, lambda: OneStore(runtime), builtin_connectors())
        async with Client(server) as client:
            listed = await client.list_tools()
            calls = default_calls()
            answers: list[Answer] = []
            page = SHIPPING_PAGE  # what `fetch` reads: the first page `search` finds
            for tool in listed.tools:
                if not site and tool.name in ("search", "fetch", "site_answer"):
                    continue
                arguments = {"id": page} if tool.name == "fetch" else calls.get(tool.name, {})
                answer, data = await _answer(client, tool.name, arguments)
                if tool.name == "search" and data and data.get("results"):
                    page = str(data["results"][0]["id"])
                answers.append(answer)
    return Surface(tools=len(listed.tools), tools_list_bytes=tools_list_bytes(listed), answers=answers)


def tools_list_bytes(listed: ListToolsResult) -> int:
    return len(listed.model_dump_json(by_alias=True, exclude_none=True).encode())


async def _answer(client: Client, name: str, arguments: Mapping[str, Any]) -> tuple[Answer, dict[str, Any] | None]:
    """The answer's sizes, and its JSON when it is one."""
    result = await client.call_tool(name, dict(arguments))
    block = result.content[0] if result.content else None
    text = block.text if isinstance(block, TextContent) else ""
    wire = len(result.model_dump_json(by_alias=True, exclude_none=True).encode())
    if result.is_error:
        return Answer(name, len(text.encode()), wire, error=text), None
    data = json.loads(text)
    note = data.get("note") if isinstance(data, dict) else None
    return Answer(name, len(text.encode()), wire, note=note), data if isinstance(data, dict) else None
