"""storelink as an OAuth resource server, and the client that refreshes its own tokens, against a
fake authorization server that mints real RS256 JWTs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from storelink.fakes.oauth import FakeAuthorizationServer
from storelink.mcp_server.client import RefreshingAuth, TokenStore, connect, discover, login
from storelink.store import EmbeddedStore
from tests.conftest import make_settings
from tests.support.servers import storelink_serve

pytestmark = pytest.mark.slow

LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def server(issuer: FakeAuthorizationServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {"MCP_OAUTH_ISSUER": issuer.issuer, "MCP_FORCE_MOCKS": "true"}
    with storelink_serve(tmp_path_factory.mktemp("oauth"), env) as url:
        yield url


def post(server: str, token: str | None) -> httpx2.Response:
    headers = {**HEADERS, **({"Authorization": f"Bearer {token}"} if token else {})}
    return httpx2.post(f"{server}/mcp", json=LIST, headers=headers)


def test_protected_resource_metadata(server: str, issuer: FakeAuthorizationServer) -> None:
    meta = httpx2.get(f"{server}/.well-known/oauth-protected-resource/mcp").json()
    assert meta["resource"] == f"{server}/mcp"
    assert [s.rstrip("/") for s in meta["authorization_servers"]] == [issuer.issuer]


def test_tokens_are_checked(server: str, issuer: FakeAuthorizationServer) -> None:
    resource = f"{server}/mcp"
    missing = post(server, None)
    assert missing.status_code == 401
    assert "resource_metadata" in missing.headers["www-authenticate"]
    assert post(server, "not-a-jwt").status_code == 401
    other_audience = issuer.mint(client_id="a", scope="storelink:read", resource="http://elsewhere/mcp")
    assert post(server, other_audience).status_code == 401
    expired = issuer.mint(client_id="a", scope="storelink:read", resource=resource, lifetime_s=-120)
    assert post(server, expired).status_code == 401
    no_scope = issuer.mint(client_id="a", scope="profile", resource=resource)
    assert post(server, no_scope).status_code == 403
    forged = FakeAuthorizationServer(issuer=issuer.issuer).mint(
        client_id="a", scope="storelink:read", resource=resource
    )
    assert post(server, forged).status_code == 401  # right claims, wrong key
    good = issuer.mint(client_id="a", scope="storelink:read", resource=resource)
    assert post(server, good).status_code == 200


async def test_client_connects_with_a_refresh_token_and_keeps_the_rotation(
    server: str, issuer: FakeAuthorizationServer, tmp_path: Path
) -> None:
    resource = f"{server}/mcp"
    refresh = issuer.issue_refresh_token(client_id="storelink-agent", scope="storelink:read", resource=resource)
    settings = make_settings(tmp_path, mcp_api_url=resource, mcp_client_id="storelink-agent", mcp_refresh_token=refresh)
    store = EmbeddedStore(None)
    async with connect(settings, store=store) as client:
        result = await client.call_tool("shopify_shop_info", {})
    assert not result.is_error
    rotated = TokenStore(store).load(resource, "storelink-agent")
    assert rotated is not None
    assert rotated != refresh  # the issuer rotated it; the old one is spent


async def test_access_token_is_refreshed_ahead_of_expiry(server: str, issuer: FakeAuthorizationServer) -> None:
    resource = f"{server}/mcp"
    now = [1000.0]
    async with httpx2.AsyncClient() as side:
        auth = RefreshingAuth(
            endpoints=await discover(side, resource),
            client_id="storelink-agent",
            refresh_token=issuer.issue_refresh_token(
                client_id="storelink-agent", scope="storelink:read", resource=resource
            ),
            http=side,
            clock=lambda: now[0],
            margin_s=60.0,
        )
        first = await auth.token()
        now[0] += issuer.lifetime - 61  # more than a minute left: the same token
        assert await auth.token() == first
        now[0] += 2  # under a minute left: refreshed before anyone meets a 401
        second = await auth.token()
    assert second != first
    assert auth.refreshes == 2


async def test_mcp_login_mints_a_working_refresh_token(server: str, issuer: FakeAuthorizationServer) -> None:
    async def browser(url: str) -> None:  # the person approving: the fake approves at once
        async with httpx2.AsyncClient(follow_redirects=True) as http:
            await http.get(url)

    token = await login(f"{server}/mcp", "storelink-agent", open_url=browser)
    assert token
    async with httpx2.AsyncClient() as side:
        auth = RefreshingAuth(
            endpoints=await discover(side, f"{server}/mcp"), client_id="storelink-agent", refresh_token=token, http=side
        )
        assert await auth.token()
