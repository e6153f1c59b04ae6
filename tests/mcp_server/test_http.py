"""The MCP endpoint over real HTTP on loopback, in `storelink serve` subprocesses."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import cycle
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.support.servers import storelink_serve

pytestmark = pytest.mark.slow

KEY = "mcp-test-key-7f3a9c"
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "tools/list",
    "params": {},
}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {"MCP_API_KEY": KEY, "MCP_FORCE_MOCKS": "true"}
    with storelink_serve(tmp_path_factory.mktemp("a"), env) as url:
        yield url


def test_no_token_and_wrong_token_get_401(server: str) -> None:
    none = httpx2.post(f"{server}/mcp", json=INIT, headers=HEADERS)
    assert none.status_code == 401
    assert none.headers["www-authenticate"].startswith("Bearer")
    wrong = httpx2.post(f"{server}/mcp", json=INIT, headers={**HEADERS, "Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert 'error="invalid_token"' in wrong.headers["www-authenticate"]
    assert KEY not in wrong.text


def test_bad_host_is_refused(server: str) -> None:
    response = httpx2.post(
        f"{server}/mcp", json=INIT, headers={**HEADERS, "Authorization": f"Bearer {KEY}", "Host": "evil.example"}
    )
    assert response.status_code == 421


def test_health_and_metrics_stay_open(server: str) -> None:
    assert httpx2.get(f"{server}/healthz").status_code == 200
    assert httpx2.get(f"{server}/readyz").json()["status"] == "ready"


async def test_right_token_lists_tools_and_calls_one(server: str) -> None:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {KEY}"}) as http:
        async with Client(streamable_http_client(f"{server}/mcp", http_client=http)) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert "shopify_list_products" in names
            result = await client.call_tool("shopify_list_products", {"limit": 3})
    assert not result.is_error
    assert len(result.structured_content["data"]["items"]) == 3
    assert result.structured_content["meta"]["mode"] == "mock"


class RoundRobin(httpx2.AsyncBaseTransport):
    """A load balancer without affinity: each request goes to the next server."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = cycle(ports)
        self.inner = httpx2.AsyncHTTPTransport()
        self.seen: list[int] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        port = next(self.ports)
        self.seen.append(port)
        request.url = request.url.copy_with(port=port)
        request.headers["host"] = f"127.0.0.1:{port}"
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_two_processes_without_affinity_serve_one_client(server: str, tmp_path: Path) -> None:
    env = {"MCP_API_KEY": KEY, "MCP_FORCE_MOCKS": "true"}
    with storelink_serve(tmp_path, env) as other:
        ports = [httpx2.URL(server).port, httpx2.URL(other).port]
        balancer = RoundRobin([p for p in ports if p is not None])
        async with httpx2.AsyncClient(transport=balancer, headers={"Authorization": f"Bearer {KEY}"}) as http:
            async with Client(streamable_http_client(f"{server}/mcp", http_client=http)) as client:
                for _ in range(3):
                    assert (await client.list_tools()).tools
                    result = await client.call_tool("shopify_shop_info", {})
                    assert not result.is_error
    assert set(balancer.seen) == set(ports)
