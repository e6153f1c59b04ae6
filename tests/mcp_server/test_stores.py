"""Many stores behind one MCP server: every store-bound tool takes `store`, a caller reaches only
its own stores (every tool, generated from the server's own tools/list; hostile values too), in
memory with an injected token, over streamable HTTP with a keys file and with OAuth scopes; the
cross-store tools mark a failing store and let the others answer."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx2
import jsonschema  # type: ignore[import-untyped]  # no stubs: types-jsonschema is not a dev dependency
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.auth.middleware.auth_context import auth_context_var
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.types import CallToolResult, Tool

from storelink.audit import embedded_trail
from storelink.connectors.registry import builtin_connectors
from storelink.connectors.writes import scoped_key
from storelink.fakes.faults import Fault, FaultPlan
from storelink.fakes.oauth import FakeAuthorizationServer
from storelink.keys import KEYS_ISSUER
from storelink.mcp_server.auth import READ_SCOPE, WRITE_SCOPE
from storelink.mcp_server.server import MAX_LISTED_STORES, build_server
from storelink.mcp_server.tools import STORE_DESCRIPTION, STORES_DESCRIPTION
from storelink.runtime import Fleet, open_fleet
from storelink.settings import Settings
from storelink.store import EmbeddedStore
from tests.conftest import make_settings
from tests.mcp_server.test_http import PORT, endpoint_client
from tests.support.keys import sha
from tests.support.tool_results import answer, first_text, output_schema

A, B, C = "demo-1", "demo-2", "demo-3"
SHOPS = {A: "Apex Performance Parts", B: "Northline Motorsport", C: "Redline Garage Supply"}

# Values a caller scoped to A might try for `store`: none of them is A.
HOSTILE = [
    "",
    " ",
    B,
    "demo-404",
    "default",
    "*",
    "store:*",
    "../demo-2",
    "demo-1/../demo-2",
    "DEMO-1",
    "demo-1 ",
    " demo-1",
    "demo-1\x00",
    "demo-1\n",
    "démo-1",
    "\uff44\uff45\uff4d\uff4f-1",  # "demo-1" in fullwidth letters
    "demo\u20101",
    "🛒",
    "x" * 10_000,
]
# Values an error message must never repeat (the caller's text).
NOT_ECHOED = [v for v in HOSTILE if len(v) > 6 and A not in v]

KEY_A = "key-for-store-a-7c1e0b"
KEY_ALL = "key-for-every-store-19ad"
OPERATOR_KEY = "operator-key-5f2b88"
MAIL = {"to": ["buyer@example.com"], "subject": "Your order", "content": "It ships today."}


def fleet_settings(tmp_path: Path, **overrides: Any) -> Settings:
    return make_settings(
        tmp_path,
        demo_stores=overrides.pop("demo_stores", 3),
        demo_today="2026-11-20",
        shopify={"max_retries": 0},
        ga4={"max_retries": 0},
        **overrides,
    )


@asynccontextmanager
async def fleet_of(settings: Settings) -> AsyncIterator[Fleet]:
    async with open_fleet(settings, store=EmbeddedStore(None)) as fleet:
        yield fleet


@asynccontextmanager
async def connect(fleet: Fleet) -> AsyncIterator[Client]:
    """The in-memory SDK client (stdio's reach: every store, unless a test injects a token)."""
    async with Client(build_server(fleet.settings, lambda: fleet, builtin_connectors())) as client:
        yield client


@contextmanager
def reaching(*stores: str) -> Iterator[None]:
    """What the HTTP auth does for a keys-file key that reaches ``stores``, for the in-memory client."""
    token = AccessToken(
        token="key:store-a-bot",
        client_id="store-a-bot",
        scopes=[READ_SCOPE, WRITE_SCOPE, *(f"store:{s}" for s in stores)],
        claims={"iss": KEYS_ISSUER},
    )
    reset = auth_context_var.set(AuthenticatedUser(token))
    try:
        yield
    finally:
        auth_context_var.reset(reset)


# -- arguments for any tool, from its own schema -----------------------------------------------------

EXAMPLES = {f"{c.name}_{s.name}": s.example or {} for c in builtin_connectors() for s in c.operations.values()}


def sample(schema: dict[str, Any]) -> Any:
    """A value the schema accepts, for the shapes tool schemas use."""
    if "enum" in schema:
        return schema["enum"][0]
    if "anyOf" in schema:
        return sample(schema["anyOf"][0])
    kind = schema.get("type")
    if kind == "string":
        return "2026-11-01" if schema.get("format") == "date" else "x" * schema.get("minLength", 1)
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "boolean":
        return False
    if kind == "array":
        return [sample(schema.get("items", {}))] * max(1, schema.get("minItems", 1))
    return {}


def valid_arguments(tool: Tool) -> dict[str, Any]:
    arguments = dict(EXAMPLES.get(tool.name, {}))
    for name in tool.input_schema.get("required", []):
        arguments.setdefault(name, sample(tool.input_schema["properties"][name]))
    return arguments


def store_bound(tools: list[Tool]) -> list[Tool]:
    """Every tool but ``storelink_output_schema``, which answers the same for every store."""
    return [t for t in tools if t.name != "storelink_output_schema"]


def aimed_at(tool: Tool, store: str) -> dict[str, Any]:
    """Valid arguments for ``tool`` that ask for ``store``: every tool takes `store` or `stores`."""
    properties = tool.input_schema["properties"]
    if "store" in properties:
        return {**valid_arguments(tool), "store": store}
    assert "stores" in properties, f"{tool.name} takes neither `store` nor `stores`"
    return {**valid_arguments(tool), "stores": [store]}


def assert_forbidden(result: CallToolResult, tool: str, value: str = B) -> None:
    assert result.is_error, (tool, repr(value[:20]), result.content)
    text = first_text(result)
    assert text.startswith("[forbidden] "), (tool, repr(value[:20]), text)
    assert len(text) < 1000
    for echoed in NOT_ECHOED:
        assert echoed not in text, (tool, text)


async def call(client: Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, (tool, result.content)
    content: dict[str, Any] = answer(result)
    return content


# -- in memory, with an injected reach ---------------------------------------------------------------


async def test_every_tool_takes_a_store_and_publishes_it(tmp_path: Path) -> None:
    async with fleet_of(fleet_settings(tmp_path, allow_writes="*")) as fleet, connect(fleet) as client:
        tools = (await client.list_tools()).tools
        again = (await client.list_tools()).tools
    assert [t.model_dump() for t in tools] == [t.model_dump() for t in again]
    for tool in tools:
        properties = tool.input_schema["properties"]
        if tool.name == "storelink_output_schema":
            assert set(properties) == {"tool"}  # a tool's answer has one shape, whatever the store
            continue
        if tool.name.startswith("stores_"):
            assert properties["stores"]["description"] == STORES_DESCRIPTION, tool.name
            assert properties["stores"]["type"] == "array", tool.name
        else:
            assert properties["store"] == {"type": "string", "description": STORE_DESCRIPTION}
        assert "store" not in tool.input_schema["required"], tool.name
        assert '"type": "null"' not in json.dumps(tool.input_schema), tool.name
    assert {"stores_sales_and_traffic", "stores_low_stock", "stores_health", "zoho_send_message"} <= {
        t.name for t in tools
    }


async def test_a_caller_of_store_a_is_refused_every_tool_of_any_other_store(tmp_path: Path) -> None:
    async with fleet_of(fleet_settings(tmp_path, allow_writes="*")) as fleet:
        with reaching(A):
            async with connect(fleet) as client:
                tools = (await client.list_tools()).tools
                assert len(tools) > 40
                for tool in store_bound(tools):
                    for value in HOSTILE:
                        assert_forbidden(await client.call_tool(tool.name, aimed_at(tool, value)), tool.name, value)
                # Asking for A by name, or for nothing, gets A's own data.
                for arguments in ({}, {"store": A}):
                    shop = await call(client, "shopify_shop_info", arguments)
                    assert shop["data"]["name"] == SHOPS[A]
                caps = await call(client, "storelink_capabilities", {})
                assert [s["id"] for s in caps["stores"]] == [A] and caps["store"] == A
                health = await call(client, "stores_health", {})
                assert [s["store"] for s in health["stores"]] == [A]
        # Nothing was opened for a refused call.
        assert fleet.opened() == [A]


async def test_every_store_is_reachable_without_a_token_but_must_be_named(tmp_path: Path) -> None:
    async with fleet_of(fleet_settings(tmp_path)) as fleet, connect(fleet) as client:
        unnamed = await client.call_tool("shopify_shop_info", {})
        assert unnamed.is_error and first_text(unnamed).startswith("[invalid_request] Say which store")
        for store, shop in SHOPS.items():
            assert (await call(client, "shopify_shop_info", {"store": store}))["data"]["name"] == shop
        missing = await client.call_tool("shopify_shop_info", {"store": "demo-404"})
        assert first_text(missing).startswith("[invalid_request] There is no such store")
        assert "demo-404" not in first_text(missing)
        not_a_string = await client.call_tool("shopify_shop_info", {"store": 2})
        assert first_text(not_a_string).startswith("[invalid_request]")


async def test_a_token_without_store_scopes_reaches_only_the_default_store(tmp_path: Path) -> None:
    async with fleet_of(fleet_settings(tmp_path)) as fleet:
        with reaching():  # an OAuth token with no store: scope: `default` only, which this fleet lacks
            async with connect(fleet) as client:
                refused = await client.call_tool("shopify_shop_info", {})
                assert first_text(refused).startswith("[forbidden] This credential reaches none")
                refused_all = await client.call_tool("stores_health", {})
                assert first_text(refused_all).startswith("[forbidden]")
                caps = await call(client, "storelink_capabilities", {})
                assert caps["stores"] == [] and caps["connectors"] == []
                assert caps["stores_note"] == "This credential reaches none of this deployment's stores."


# -- capabilities ------------------------------------------------------------------------------------


async def test_capabilities_list_stores_without_opening_them(tmp_path: Path) -> None:
    async with fleet_of(fleet_settings(tmp_path, demo_stores=60)) as fleet, connect(fleet) as client:
        caps = await call(client, "storelink_capabilities", {})
        assert len(caps["stores"]) == MAX_LISTED_STORES
        assert caps["stores"][0] == {
            "id": A,
            "name": SHOPS[A],
            "opened": False,
            "modes": {"shopify": "mock", "ga4": "mock", "gsc": "mock", "bing": "mock", "zoho": "mock"},
            "breakers": {},
        }
        assert f"Showing {MAX_LISTED_STORES} of 60 stores" in caps["stores_note"]
        assert "`match`" in caps["stores_note"] and "`store`" in caps["stores_note"]
        assert caps["store"] is None and caps["connectors"] == []
        assert fleet.opened() == []  # listing 60 stores opened none of them

        narrowed = await call(client, "storelink_capabilities", {"match": "DEMO-5"})
        assert [s["id"] for s in narrowed["stores"]] == ["demo-5", *(f"demo-5{i}" for i in range(10))]
        assert narrowed["stores_note"] == "Pass `store` for one store's sources in detail."

        one = await call(client, "storelink_capabilities", {"store": "demo-7", "match": "demo-7"})
        assert one["store"] == "demo-7"
        shopify = next(c for c in one["connectors"] if c["name"] == "shopify")
        assert shopify["mode"] == "mock" and "shopify_list_products" in shopify["tools"]
        assert one["stores"] == [
            {
                "id": "demo-7",
                "name": one["stores"][0]["name"],
                "opened": True,
                "modes": {c["name"]: c["mode"] for c in one["connectors"]},
                "breakers": {c["name"]: "closed" for c in one["connectors"]},
            }
        ]
        assert fleet.opened() == ["demo-7"]


# -- across stores -----------------------------------------------------------------------------------


async def test_cross_store_tools_mark_a_failing_store_and_the_others_answer(tmp_path: Path) -> None:
    async with fleet_of(fleet_settings(tmp_path)) as fleet, connect(fleet) as client:
        schemas = {
            t: await output_schema(client, t) for t in ("stores_low_stock", "stores_health", "stores_sales_and_traffic")
        }
        broken = await fleet.runtime(B)
        broken.fakes["shopify"].faults = FaultPlan(rates={Fault.SERVER_ERROR: 1.0})

        low = await call(client, "stores_low_stock", {"limit": 5})
        jsonschema.validate(low, schemas["stores_low_stock"])
        assert [(f["store"], f["name"], f["kind"]) for f in low["failed"]] == [(B, SHOPS[B], "unavailable")]
        assert low["rows"] and {r["store"] for r in low["rows"]} <= {A, C}

        health = await call(client, "stores_health", {})
        jsonschema.validate(health, schemas["stores_health"])
        assert [h["store"] for h in health["stores"]] == [A, B, C]
        status = {h["store"]: {c["connector"]: c["status"] for c in h["connectors"]} for h in health["stores"]}
        assert status[B]["shopify"] != "ok" and status[B]["ga4"] == "ok"
        assert all(s == "ok" for s in (*status[A].values(), *status[C].values()))

        broken.fakes["ga4"].faults = FaultPlan(rates={Fault.SERVER_ERROR: 1.0})
        sales = await call(client, "stores_sales_and_traffic", {"days": 7})
        jsonschema.validate(sales, schemas["stores_sales_and_traffic"])
        assert [row["store"] for row in sales["stores"]] == [A, C]
        assert all(row["orders"] and row["sessions"] for row in sales["stores"])
        ((failed),) = sales["failed"]
        assert (failed["store"], failed["kind"]) == (B, "unavailable")

        bad_days = await client.call_tool("stores_sales_and_traffic", {"days": 0})
        assert first_text(bad_days).startswith("[invalid_request]")


async def test_cross_store_tools_answer_only_for_stores_within_reach(tmp_path: Path) -> None:
    async with fleet_of(fleet_settings(tmp_path)) as fleet:
        with reaching(A, C):
            async with connect(fleet) as client:
                health = await call(client, "stores_health", {})
                assert [h["store"] for h in health["stores"]] == [A, C]
                ordered = await call(client, "stores_health", {"stores": [C, C, A]})
                assert [h["store"] for h in ordered["stores"]] == [C, A]
                for stores in ([A, B], [B], [A, "demo-404"], [A, "*"]):
                    assert_forbidden(await client.call_tool("stores_health", {"stores": stores}), "stores_health")
                empty = await client.call_tool("stores_low_stock", {"stores": []})
                assert first_text(empty).startswith("[invalid_request] `stores` is empty")
                several = await client.call_tool("shopify_shop_info", {})
                assert first_text(several).startswith("[invalid_request] Say which store")
                assert (await call(client, "shopify_shop_info", {"store": C}))["data"]["name"] == SHOPS[C]
        assert B not in fleet.opened()


# -- over streamable HTTP ----------------------------------------------------------------------------


def keys_file(tmp_path: Path) -> Path:
    path = tmp_path / "mcp-keys.toml"
    path.write_text(
        f"""
[[keys]]
name = "store-a-bot"
sha256 = "{sha(KEY_A)}"
stores = ["{A}"]

[[keys]]
name = "agency-bot"
sha256 = "{sha(KEY_ALL)}"
stores = ["*"]
writes = true
"""
    )
    return path


@asynccontextmanager
async def over_http(http: httpx2.AsyncClient, key: str) -> AsyncIterator[Client]:
    http.headers["Authorization"] = f"Bearer {key}"
    async with Client(streamable_http_client(f"http://127.0.0.1:{PORT}/mcp", http_client=http)) as client:
        yield client


@pytest.mark.parametrize("operator_key", [None, OPERATOR_KEY], ids=["keys-file-only", "with-MCP_API_KEY"])
async def test_a_keys_file_key_reaches_only_its_stores_over_http(tmp_path: Path, operator_key: str | None) -> None:
    settings = fleet_settings(
        tmp_path, mcp_keys_file=keys_file(tmp_path), mcp_api_key=operator_key, allow_writes="zoho.send_message"
    )
    async with fleet_of(settings) as fleet, endpoint_client(settings, stores=lambda: fleet) as http:
        async with over_http(http, KEY_A) as client:
            tools = (await client.list_tools()).tools
            for tool in store_bound(tools):
                assert_forbidden(await client.call_tool(tool.name, aimed_at(tool, B)), tool.name)
            for value in HOSTILE:
                for tool in store_bound(tools):
                    if tool.name in ("shopify_shop_info", "stores_health", "storelink_capabilities"):
                        assert_forbidden(await client.call_tool(tool.name, aimed_at(tool, value)), tool.name, value)
            assert (await call(client, "shopify_shop_info", {}))["data"]["name"] == SHOPS[A]
            # The entry does not say `writes = true`: no write tool, in its own store either.
            no_write = await client.call_tool("zoho_send_message", MAIL)
            assert first_text(no_write).startswith("[forbidden] This tool writes")
        async with over_http(http, KEY_ALL) as client:
            assert (await call(client, "shopify_shop_info", {"store": B}))["data"]["name"] == SHOPS[B]
            sent = await call(client, "zoho_send_message", {**MAIL, "store": C, "idempotency_key": "order-1042-reply"})
            assert sent["data"]["replayed"] is False
        if operator_key is not None:
            async with over_http(http, operator_key) as client:
                assert (await call(client, "shopify_shop_info", {"store": C}))["data"]["name"] == SHOPS[C]
        for wrong in ("nope", sha(KEY_A), KEY_A + " x"):
            http.headers["Authorization"] = f"Bearer {wrong}"
            refused = await http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}})
            assert refused.status_code == 401
            assert KEY_A not in refused.text and sha(KEY_A) not in refused.text
        # The audit log names the key's entry, never the key.
        audit = embedded_trail(fleet.platform.store)
        assert await audit.call(f"{C}|" + scoped_key("key:agency-bot", "order-1042-reply")) is not None


async def test_an_oauth_token_scoped_to_store_a_is_refused_store_b(
    tmp_path: Path, issuer: FakeAuthorizationServer
) -> None:
    settings = fleet_settings(
        tmp_path, mcp_oauth_issuer=issuer.issuer, mcp_api_key=OPERATOR_KEY, mcp_keys_file=keys_file(tmp_path)
    )
    resource = f"http://127.0.0.1:{PORT}/mcp"
    scoped = issuer.mint(client_id="agent", scope=f"{READ_SCOPE} store:{A}", resource=resource)
    every = issuer.mint(client_id="agent", scope=f"{READ_SCOPE} store:*", resource=resource)
    unscoped = issuer.mint(client_id="agent", scope=READ_SCOPE, resource=resource)
    async with fleet_of(settings) as fleet, endpoint_client(settings, stores=lambda: fleet) as http:
        async with over_http(http, scoped) as client:
            for tool in store_bound((await client.list_tools()).tools):
                assert_forbidden(await client.call_tool(tool.name, aimed_at(tool, B)), tool.name)
            assert (await call(client, "shopify_shop_info", {}))["data"]["name"] == SHOPS[A]
        async with over_http(http, every) as client:
            assert (await call(client, "shopify_shop_info", {"store": B}))["data"]["name"] == SHOPS[B]
        async with over_http(http, unscoped) as client:  # no store scope: `default` only
            assert first_text(await client.call_tool("shopify_shop_info", {})).startswith("[forbidden]")
        # With OAuth on, the keys file's keys and the operator's key still work, with their own reach.
        async with over_http(http, KEY_A) as client:
            assert_forbidden(await client.call_tool("shopify_shop_info", {"store": B}), "shopify_shop_info")
            assert (await call(client, "shopify_shop_info", {}))["data"]["name"] == SHOPS[A]
        async with over_http(http, OPERATOR_KEY) as client:
            assert (await call(client, "shopify_shop_info", {"store": B}))["data"]["name"] == SHOPS[B]
