"""Idempotency keys over HTTP belong to the token's principal: a real `storelink serve` with OAuth,
two people's tokens, one key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from storelink.fakes.oauth import FakeAuthorizationServer
from tests.support.servers import free_port, serve_in_thread, storelink_serve

pytestmark = pytest.mark.slow

MAIL = {
    "to": ["buyer@example.com"],
    "subject": "Your order",
    "content": "It ships today.",
    "idempotency_key": "order-1042-reply",
}


@pytest.fixture(scope="module")
def issuer() -> Iterator[FakeAuthorizationServer]:
    port = free_port()
    fake = FakeAuthorizationServer(issuer=f"http://127.0.0.1:{port}")
    with serve_in_thread(fake.app, port):
        yield fake


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
    assert mine.structured_content["data"]["replayed"] is False
    again = await send_as(server, issuer, "alice")
    assert again.structured_content["data"]["replayed"] is True
    assert again.structured_content["data"]["message_id"] == mine.structured_content["data"]["message_id"]
