"""Idempotency keys over HTTP belong to the token's principal: a real `storelink serve` with OAuth,
two people's tokens, one key."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from storelink.audit import embedded_trail
from storelink.connectors.writes import scoped_key
from storelink.fakes.oauth import FakeAuthorizationServer
from storelink.store import EmbeddedStore
from tests.support.servers import storelink_serve
from tests.support.tool_results import answer

pytestmark = pytest.mark.slow

KEY = "k" * 32  # the static bearer key of the second server

IDEMPOTENCY_KEY = "order-1042-reply"
MAIL: dict[str, Any] = {
    "to": ["buyer@example.com"],
    "subject": "Your order",
    "content": "It ships today.",
    "idempotency_key": IDEMPOTENCY_KEY,
}


@pytest.fixture(scope="module")
def server(issuer: FakeAuthorizationServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {"MCP_OAUTH_ISSUER": issuer.issuer, "MCP_FORCE_MOCKS": "true", "STORELINK_ALLOW_WRITES": "zoho.send_message"}
    with storelink_serve(tmp_path_factory.mktemp("identity"), env) as url:
        yield url


async def send_as(server: str, issuer: FakeAuthorizationServer, subject: str, **changes: Any) -> Any:
    token = issuer.mint(
        client_id="agent-app", sub=subject, scope="storelink:read storelink:write", resource=f"{server}/mcp"
    )
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
        async with Client(streamable_http_client(f"{server}/mcp", http_client=http)) as client:
            return await client.call_tool("zoho_send_message", {**MAIL, **changes})


async def test_a_key_used_by_one_principal_is_free_for_another(server: str, issuer: FakeAuthorizationServer) -> None:
    squat = await send_as(server, issuer, "mallory", content="Click here")
    assert not squat.is_error, squat.content
    mine = await send_as(server, issuer, "alice")
    assert not mine.is_error, mine.content  # not "first used for a different call"
    assert answer(mine)["data"]["replayed"] is False
    again = await send_as(server, issuer, "alice")
    assert answer(again)["data"]["replayed"] is True
    assert answer(again)["data"]["message_id"] == answer(mine)["data"]["message_id"]


def test_over_http_without_a_token_the_key_holder_is_not_the_local_user(tmp_path: Path) -> None:
    # MCP_API_KEY alone: every holder of the key is one caller, but not the local user of the CLI.
    env = {"MCP_API_KEY": KEY, "MCP_FORCE_MOCKS": "true", "STORELINK_ALLOW_WRITES": "zoho.send_message"}

    async def send(url: str) -> Any:
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {KEY}"}) as http:
            async with Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client:
                return await client.call_tool("zoho_send_message", MAIL)

    with storelink_serve(tmp_path, env) as url:
        sent = asyncio.run(send(url))
        assert not sent.is_error, sent.content
    store = EmbeddedStore(tmp_path / "storelink.db")
    try:
        log = embedded_trail(store)
        assert asyncio.run(log.call(IDEMPOTENCY_KEY)) is None
        assert asyncio.run(log.call(scoped_key("http", IDEMPOTENCY_KEY))) is not None
    finally:
        store.close()
