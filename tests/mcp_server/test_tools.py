"""Every tool over the in-memory SDK client in mock mode: results match their output schemas,
errors come back as `is_error` with the kind, inputs are schemas strict clients accept."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs: types-jsonschema is not a dev dependency
import pytest
from mcp import Client

from storelink.connectors.registry import builtin_connectors
from storelink.fakes.faults import Fault, FaultPlan
from storelink.mcp_server.server import build_server, select_tools
from storelink.runtime import OneStore, Runtime, open_runtime
from storelink.store import EmbeddedStore
from tests.conftest import make_settings
from tests.support.tool_results import answer, first_text, output_schema


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    # Site-knowledge tools are tested in test_knowledge.py (they ingest the demo site first).
    settings = make_settings(tmp_path, mcp_tools="*,-search,-fetch,-site_answer,-insights_*")
    async with open_runtime(settings, store=EmbeddedStore(None)) as rt:
        yield rt


@asynccontextmanager
async def connect(runtime: Runtime) -> AsyncIterator[Client]:
    """The in-memory SDK client. (Not a fixture: the SDK's task group must close in the task that
    opened it.)"""
    server = build_server(runtime.settings, lambda: OneStore(runtime), builtin_connectors())
    async with Client(server) as c:
        yield c


def examples() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {
        "storelink_capabilities": {},
        "storelink_output_schema": {"tool": "shopify_list_orders"},
        "connector_health": {},
        "connector_metrics": {},
        "stores_sales_and_traffic": {"days": 7},
        "stores_low_stock": {"limit": 3},
        "stores_health": {},
    }
    for cls in builtin_connectors():
        for spec in cls.operations.values():
            found[f"{cls.name}_{spec.name}"] = spec.example or {}
    return found


@pytest.mark.slow
async def test_every_tool_answers_within_its_output_schema(runtime: Runtime) -> None:
    async with connect(runtime) as client:
        listed = {t.name: t for t in (await client.list_tools()).tools}
        calls = examples()
        assert set(calls) <= set(listed) | {n for n in calls if "send" in n or "submit" in n}
        for name, tool in listed.items():
            result = await client.call_tool(name, calls[name])
            assert not result.is_error, (name, result.content)
            assert tool.output_schema is None, name  # tools/list stays small: schemas on request
            assert result.structured_content is None, name  # one representation of the answer
            text = first_text(result)
            assert json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False) == text  # compact
            jsonschema.validate(json.loads(text), await output_schema(client, name))
            if "meta" in answer(result):
                assert answer(result)["meta"]["mode"] == "mock"


async def test_capabilities_describe_modes_and_tools(runtime: Runtime) -> None:
    async with connect(runtime) as client:
        caps = answer(await client.call_tool("storelink_capabilities", {}))
        shopify = next(c for c in caps["connectors"] if c["name"] == "shopify")
        assert shopify["mode"] == "mock"
        assert "SHOPIFY_SHOP" in shopify["missing"]
        assert "shopify_list_products" in shopify["tools"]


async def test_error_paths_carry_the_kind(runtime: Runtime) -> None:
    async with connect(runtime) as client:
        missing = await client.call_tool("shopify_get_order", {"id": "#424242424"})
        assert missing.is_error
        assert "[not_found]" in first_text(missing)
        runtime.fakes["shopify"].faults = FaultPlan(rates={Fault.SERVER_ERROR: 1.0})
        down = await client.call_tool("shopify_shop_info", {})
        assert down.is_error
        assert "[unavailable]" in first_text(down)


async def test_invalid_arguments_get_a_validation_message(runtime: Runtime) -> None:
    async with connect(runtime) as client:
        bad = await client.call_tool("shopify_list_products", {"limit": 0})
        assert bad.is_error
        assert "limit" in first_text(bad)
        bad_range = await client.call_tool("shopify_sales_summary", {"start": "2026-02-01", "end": "2026-01-01"})
        assert bad_range.is_error
        assert "[invalid_request]" in first_text(bad_range)


async def test_json_strings_are_accepted_where_structures_are_expected(runtime: Runtime) -> None:
    async with connect(runtime) as client:
        # Some clients send numbers and booleans as JSON text.
        result = await client.call_tool("shopify_inventory_levels", {"only_low": "true", "limit": "3"})
        assert not result.is_error
        assert len(answer(result)["data"]["rows"]) <= 3


async def test_progress_is_reported_for_bulk_exports(runtime: Runtime) -> None:
    async with connect(runtime) as client:
        messages: list[str] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            messages.append(message or "")

        result = await client.call_tool(
            "shopify_bulk_export",
            {"resource": "orders", "sample": 1, "poll_interval_s": 0.01},
            progress_callback=on_progress,
        )
        assert not result.is_error
        assert any("bulk operation" in m for m in messages)


async def test_input_schemas_suit_strict_clients(runtime: Runtime) -> None:
    async with connect(runtime) as client:
        for tool in (await client.list_tools()).tools:
            text = json.dumps(tool.input_schema)
            assert '"type": "null"' not in text, tool.name
            assert tool.input_schema["additionalProperties"] is False, tool.name
            assert "required" in tool.input_schema, tool.name
            assert tool.description, tool.name


async def test_annotations_say_read_only(runtime: Runtime) -> None:
    async with connect(runtime) as client:
        for tool in (await client.list_tools()).tools:
            assert tool.annotations is not None
            assert tool.annotations.read_only_hint is True, tool.name  # no writes are allowed by default


def test_tool_selection_globs() -> None:
    names = ["storelink_capabilities", "shopify_list_products", "shopify_get_order", "zoho_send_message"]
    assert select_tools(names, "*") == names
    assert select_tools(names, "shopify_*") == ["shopify_list_products", "shopify_get_order"]
    assert select_tools(names, "*,-shopify_get_*,-zoho_*") == ["storelink_capabilities", "shopify_list_products"]


async def test_selected_tools_only(runtime: Runtime, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, mcp_tools="storelink_*,shopify_list_*")
    server = build_server(settings, lambda: OneStore(runtime), builtin_connectors())
    async with Client(server) as c:
        names = {t.name for t in (await c.list_tools()).tools}
    assert names == {
        "storelink_capabilities",
        "storelink_output_schema",
        "shopify_list_products",
        "shopify_list_orders",
        "shopify_list_customers",
    }
