"""Generated and malformed arguments against every tool's input schema: never an internal error,
always a result or a message that says what was wrong."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client

from storelink.connectors.registry import builtin_connectors
from storelink.mcp_server.server import build_server
from storelink.runtime import OneStore, open_runtime
from storelink.store import EmbeddedStore
from tests.conftest import make_settings
from tests.support.tool_results import first_text

# The site-knowledge tools ingest the demo site on first use; they are fuzzed in test_knowledge.py.
CONNECTOR_TOOLS = "*,-search,-fetch,-site_answer,-insights_*"

# Tools whose valid calls are slow by design (bulk operations poll): their malformed inputs are
# still fuzzed, their valid ones are covered in test_tools.py.
SLOW = {"shopify_bulk_export", "shopify_inventory_levels", "shopify_sales_summary"}


async def _schemas() -> dict[str, dict[str, Any]]:
    async with open_runtime(
        make_settings(Path(tempfile.mkdtemp()), mcp_tools=CONNECTOR_TOOLS), store=EmbeddedStore(None)
    ) as rt:
        async with Client(build_server(rt.settings, lambda: OneStore(rt), builtin_connectors())) as client:
            return {t.name: t.input_schema for t in (await client.list_tools()).tools}


SCHEMAS = asyncio.run(_schemas())

junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=6,
)


def value_for(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values a schema accepts, for the shapes tool schemas use (a small from_schema)."""
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "anyOf" in schema:
        return st.one_of([value_for(option) for option in schema["anyOf"]])
    kind = schema.get("type")
    if kind == "integer":
        return st.integers(schema.get("minimum", -(10**6)), schema.get("maximum", 10**6))
    if kind == "number":
        return st.floats(schema.get("minimum", -1e6), schema.get("maximum", 1e6), allow_nan=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        return st.lists(value_for(schema.get("items", {})), max_size=3)
    if kind == "string" and schema.get("format") == "date":
        return st.dates().map(str)
    if kind == "string":
        return st.text(max_size=20)
    return junk


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    properties = schema.get("properties", {})
    required = set(schema.get("required", []))
    return st.fixed_dictionaries(
        {k: value_for(v) for k, v in properties.items() if k in required},
        optional={k: value_for(v) for k, v in properties.items() if k not in required},
    )


@st.composite
def calls(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    name = draw(st.sampled_from(sorted(SCHEMAS)))
    schema = SCHEMAS[name]
    if name in SLOW or draw(st.booleans()):
        # Malformed: known parameter names with junk values, or unknown names.
        keys = [*schema.get("properties", {}), "unexpected"]
        return name, draw(st.dictionaries(st.sampled_from(keys), junk, min_size=1, max_size=3))
    return name, draw(from_schema(schema))


async def _call(name: str, arguments: dict[str, Any]) -> tuple[bool, str]:
    async with open_runtime(
        make_settings(Path(tempfile.mkdtemp()), mcp_tools=CONNECTOR_TOOLS), store=EmbeddedStore(None)
    ) as rt:
        async with Client(build_server(rt.settings, lambda: OneStore(rt), builtin_connectors())) as client:
            result = await client.call_tool(name, arguments)
    text = first_text(result) if result.content else ""
    return result.is_error, text


@pytest.mark.slow
@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(calls())
def test_no_argument_causes_an_internal_error(call: tuple[str, dict[str, Any]]) -> None:
    name, arguments = call
    is_error, text = asyncio.run(_call(name, arguments))
    if is_error:
        # An unexpected exception reads "[internal_error] …": that must never happen.
        assert not text.startswith("[internal_error]"), arguments
        assert text.startswith("["), text
