"""Hostile and mistaken arguments over the in-memory SDK client, against the real server in mock
mode with writes on: never a crash, always `[kind] message`, unknown arguments refused by name,
short errors whatever the size of the input, and idempotency keys that belong to their caller."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.server.auth.middleware.auth_context import auth_context_var
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken

from storelink.audit import embedded_trail
from storelink.connectors.registry import builtin_connectors
from storelink.fakes.bing import BingFake
from storelink.fakes.zoho import ZohoFake
from storelink.mcp_server.auth import READ_SCOPE, WRITE_SCOPE
from storelink.mcp_server.server import build_server
from storelink.runtime import OneStore, Runtime, open_runtime
from storelink.store import EmbeddedStore
from tests.conftest import make_settings
from tests.support.tool_results import answer, first_text

# Short enough to read, long enough to say what is wrong and what is allowed.
MAX_ERROR_CHARS = 1000
KIND_FIRST = re.compile(r"^\[[a-z_]+\] \S")
BIG = "x" * 500_000
MAIL = {"to": ["buyer@example.com"], "subject": "Your order", "content": "It ships today."}


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    settings = make_settings(tmp_path, mcp_tools="*,-search,-fetch,-site_answer,-insights_*", allow_writes="*")
    async with open_runtime(settings, store=EmbeddedStore(None)) as rt:
        yield rt


@asynccontextmanager
async def connect(runtime: Runtime) -> AsyncIterator[Client]:
    server = build_server(runtime.settings, lambda: OneStore(runtime), builtin_connectors())
    async with Client(server) as c:
        yield c


def zoho_fake(runtime: Runtime) -> ZohoFake:
    fake = runtime.fakes["zoho"]
    assert isinstance(fake, ZohoFake)
    return fake


def bing_fake(runtime: Runtime) -> BingFake:
    fake = runtime.fakes["bing"]
    assert isinstance(fake, BingFake)
    return fake


async def error_text(client: Client, tool: str, arguments: dict[str, Any]) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error, (tool, result.content)
    return first_text(result)


@pytest.mark.parametrize(
    ("tool", "arguments", "field"),
    [
        ("zoho_send_message", {**MAIL, "to": None}, "to"),
        ("zoho_send_message", {**MAIL, "cc": None}, "cc"),
        ("bing_submit_urls", {"urls": ["http://[oops"]}, "urls"),
        (
            "bing_submit_urls",
            {"urls": ["https://www.apexperformanceparts.example/a"], "site_url": "http://[oops"},
            "site_url",
        ),
    ],
)
async def test_inputs_that_crashed_are_invalid_requests(
    runtime: Runtime, tool: str, arguments: dict[str, Any], field: str
) -> None:
    async with connect(runtime) as client:
        text = await error_text(client, tool, arguments)
    assert text.startswith("[invalid_request] "), text
    assert field in text
    assert zoho_fake(runtime).deliveries == []
    assert bing_fake(runtime).submitted == []


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("shopify_list_products", {"limit": 0}),  # the SDK's own argument check
        ("shopify_list_products", {"limit": "ten"}),
        ("shopify_sales_summary", {"start": "2026-02-01", "end": "2026-01-01"}),  # the params model's check
        ("shopify_get_order", {"id": "#424242424"}),  # the connector's answer
        ("connector_health", {"connector": "nowhere"}),
        ("zoho_send_message", {**MAIL, "format": "rtf"}),
        ("no_such_tool", {}),
    ],
)
async def test_every_error_reads_kind_then_message(runtime: Runtime, tool: str, arguments: dict[str, Any]) -> None:
    async with connect(runtime) as client:
        text = await error_text(client, tool, arguments)
    assert KIND_FIRST.match(text), text
    assert "Error executing tool" not in text
    assert "validation error for" not in text and "pydantic.dev" not in text and "[type=" not in text


async def test_validation_errors_name_the_field_and_what_is_allowed(runtime: Runtime) -> None:
    async with connect(runtime) as client:
        text = await error_text(client, "shopify_list_products", {"limit": 0})
        assert text.startswith("[invalid_request] ") and "limit" in text and "greater than or equal to 1" in text
        text = await error_text(client, "zoho_send_message", {**MAIL, "format": "rtf"})
        assert "format" in text and "'plaintext' or 'html'" in text


@pytest.mark.parametrize(
    ("tool", "arguments", "typo", "valid"),
    [
        ("zoho_send_message", {**MAIL, "idempotency_kye": "order-1042-reply"}, "idempotency_kye", "idempotency_key"),
        ("shopify_list_products", {"limt": 5}, "limt", "limit"),
        ("storelink_capabilities", {"verbose": True}, "verbose", ""),
        ("connector_health", {"conector": "shopify"}, "conector", "connector"),
    ],
)
async def test_unknown_arguments_are_refused_naming_the_valid_ones(
    runtime: Runtime, tool: str, arguments: dict[str, Any], typo: str, valid: str
) -> None:
    async with connect(runtime) as client:
        text = await error_text(client, tool, arguments)
    assert text.startswith("[invalid_request] "), text
    assert typo in text and valid in text
    assert zoho_fake(runtime).deliveries == []  # a typo in the key does not send a mail


async def test_a_typo_in_the_key_does_not_send_a_second_mail(runtime: Runtime) -> None:
    async with connect(runtime) as client:
        first = await client.call_tool("zoho_send_message", {**MAIL, "idempotency_key": "order-1042-reply"})
        assert not first.is_error, first.content
        again = await client.call_tool("zoho_send_message", {**MAIL, "idempotency_kye": "order-1042-reply"})
        assert again.is_error
    assert len(zoho_fake(runtime).deliveries) == 1


@pytest.mark.parametrize(
    ("tool", "arguments", "field"),
    [
        ("shopify_list_products", {"limit": BIG}, "limit"),
        ("shopify_list_products", {"limit": "9" * 500_000}, "limit"),
        ("shopify_list_products", {"limit": "[" * 500_000}, "limit"),
        ("zoho_send_message", {**MAIL, "to": [BIG]}, "to"),
        ("zoho_send_message", {**MAIL, "to": [f"{BIG}{i}" for i in range(60)]}, "to"),
        ("zoho_send_message", {**MAIL, "to": ",".join(["not-an-address"] * 40_000)}, "to"),
        ("zoho_send_message", {**MAIL, "subject": BIG}, "subject"),
        ("zoho_send_message", {**MAIL, "idempotency_key": BIG}, "idempotency_key"),
        ("bing_submit_urls", {"urls": [BIG]}, "urls"),
        ("bing_submit_urls", {"urls": [f"https://elsewhere.example/{BIG}"] * 3}, "URL"),
        ("bing_submit_urls", {"urls": [f"ftp://{i}.example/{'y' * 1000}" for i in range(500)]}, "urls"),
        ("shopify_list_products", {BIG: 1}, "limit"),
        ("connector_health", {"connector": BIG}, "connector"),
    ],
)
async def test_large_inputs_give_short_errors(
    runtime: Runtime, tool: str, arguments: dict[str, Any], field: str
) -> None:
    async with connect(runtime) as client:
        text = await error_text(client, tool, arguments)
    assert len(text) <= MAX_ERROR_CHARS, (len(text), text[:300])
    assert KIND_FIRST.match(text), text[:300]
    assert field in text, text
    assert "x" * 100 not in text  # an echoed value is cut


# -- idempotency keys belong to their caller -------------------------------------------------------
@contextmanager
def signed_in(client_id: str, subject: str) -> Iterator[None]:
    """What the HTTP auth middleware does for a verified bearer token, for the in-memory client."""
    token = AccessToken(
        token=f"token-of-{subject}",
        client_id=client_id,
        scopes=[READ_SCOPE, WRITE_SCOPE],
        subject=subject,
        claims={"iss": "https://issuer.example"},
    )
    reset = auth_context_var.set(AuthenticatedUser(token))
    try:
        yield
    finally:
        auth_context_var.reset(reset)


async def test_one_caller_cannot_squat_anothers_key(runtime: Runtime) -> None:
    key = {"idempotency_key": "order-1042-reply"}
    with signed_in("agent-app", "mallory"):
        async with connect(runtime) as client:
            squat = await client.call_tool("zoho_send_message", {**MAIL, "content": "Click here", **key})
            assert not squat.is_error, squat.content
    with signed_in("agent-app", "alice"):
        async with connect(runtime) as client:
            mine = await client.call_tool("zoho_send_message", {**MAIL, **key})
            assert not mine.is_error, mine.content  # not "first used for a different call"
            assert answer(mine)["data"]["replayed"] is False
            assert answer(mine)["data"]["idempotency_key"] == key["idempotency_key"]
            again = await client.call_tool("zoho_send_message", {**MAIL, **key})
            assert answer(again)["data"]["replayed"] is True  # her own key still replays
    with signed_in("agent-app", "mallory"):
        async with connect(runtime) as client:
            # Alice's outcome is not Mallory's to read: the same arguments are a new call for her.
            peek = await client.call_tool("zoho_send_message", {**MAIL, **key})
            assert peek.is_error and "different call" in first_text(peek)  # her own earlier use
    assert [d["content"] for d in zoho_fake(runtime).deliveries] == ["Click here", MAIL["content"]]


async def test_keys_of_the_local_user_are_stored_as_given(runtime: Runtime) -> None:
    # Over stdio (here: in memory) the caller is the local user, as on the CLI, so
    # `storelink audit --key` finds the key it used.
    async with connect(runtime) as client:
        sent = await client.call_tool("zoho_send_message", {**MAIL, "idempotency_key": "order-1042-reply"})
        assert not sent.is_error, sent.content
    call = await embedded_trail(runtime.store).call("order-1042-reply")
    assert call is not None and call.outcome == "ok"
