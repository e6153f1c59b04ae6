"""The MCP endpoint: in-process over httpx2's ASGI transport (exposure, Host/Origin, GET streams),
and over real HTTP on loopback in `storelink serve` subprocesses."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from itertools import cycle
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storelink.connectors.registry import builtin_connectors
from storelink.errors import ConfigurationError
from storelink.main import create_app
from storelink.mcp_server.http import GetStreamLimits, check_exposure, is_loopback, mcp_endpoint
from storelink.runtime import StoreDirectory
from storelink.settings import Settings
from tests.conftest import make_settings
from tests.support.servers import storelink_serve
from tests.support.tool_results import answer

KEY = "mcp-test-key-7f3a9c"
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "tools/list",
    "params": {},
}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
SSE = {"Accept": "text/event-stream"}
PORT = 8765


def no_runtime() -> StoreDirectory:
    raise AssertionError("these requests need no store")


class StreamWatch:
    """Sets ``both_open`` once two responses have started streaming (the ASGI transport returns a
    response only when it has ended). ``endpoint_client`` sets ``app``."""

    app: ASGIApp

    def __init__(self) -> None:
        self.started = 0
        self.both_open = anyio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def watching(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.start" and message["status"] == 200:
                self.started += 1
                if self.started == 2:
                    self.both_open.set()

        await self.app(scope, receive, watching)


@asynccontextmanager
async def endpoint_client(
    settings: Settings,
    *,
    watch: StreamWatch | None = None,
    stores: Callable[[], StoreDirectory] = no_runtime,
    **kwargs: Any,
) -> AsyncIterator[httpx2.AsyncClient]:
    """The MCP endpoint as `storelink serve` mounts it on 127.0.0.1:PORT, lifespan running, serving
    ``stores`` (none by default: the request must not need a store)."""
    endpoint = mcp_endpoint(settings, stores, builtin_connectors(), host="127.0.0.1", port=PORT, **kwargs)
    app: ASGIApp = Starlette(routes=endpoint.routes)
    if watch is not None:
        watch.app, app = app, watch
    transport = httpx2.ASGITransport(app=app)
    async with endpoint.lifespan(), httpx2.AsyncClient(transport=transport, base_url=f"http://127.0.0.1:{PORT}") as c:
        yield c


@pytest.mark.parametrize("host", ["", " ", "0.0.0.0", "::", "[::]", "localhost", "not an address", "10.0.0.1"])  # noqa: S104
def test_only_literal_loopback_addresses_are_loopback(host: str, tmp_path: Path) -> None:
    assert not is_loopback(host)
    with pytest.raises(ConfigurationError, match="MCP_API_KEY"):
        check_exposure(make_settings(tmp_path), host)


def test_serve_refuses_an_empty_host_without_a_key(tmp_path: Path) -> None:
    # STORELINK_HOST= binds every interface: the app must not build an open /mcp for it.
    with pytest.raises(ConfigurationError, match="every interface"):
        create_app(make_settings(tmp_path, host=""))
    assert create_app(make_settings(tmp_path, host="", mcp_api_key="k" * 32)) is not None


def test_a_keys_file_is_authentication_enough_beyond_loopback(tmp_path: Path) -> None:
    check_exposure(make_settings(tmp_path, mcp_keys_file=tmp_path / "keys.toml"), "0.0.0.0")  # noqa: S104


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]"])
def test_loopback_addresses_serve_without_a_key(host: str, tmp_path: Path) -> None:
    assert is_loopback(host)
    check_exposure(make_settings(tmp_path), host)


GOOD_HOSTS = (
    f"127.0.0.1:{PORT}",
    "127.0.0.1",
    f"localhost:{PORT}",
    f"[::1]:{PORT}",
    "mcp.example.com",
    f"mcp.example.com:{PORT}",
    "ops.example:9443",
)
BAD_HOSTS = (
    f"127.0.0.1:{PORT}@evil.example",
    f"127.0.0.1:{PORT}.evil.example",
    "127.0.0.1:9999",
    f"localhost:{PORT}0",
    "mcp.example.com.evil.example",
    "ops.example",
    "ops.example:9444",
)
BAD_ORIGINS = (
    f"http://127.0.0.1:{PORT}.evil.example",
    f"http://127.0.0.1:{PORT}@evil.example",
    "http://127.0.0.1:9999",
    "https://mcp.example.com.evil.example",
)


async def test_host_and_origin_match_host_and_port_exactly(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, allowed_hosts="mcp.example.com, ops.example:9443")
    async with endpoint_client(settings) as c:

        async def status(**headers: str) -> int:
            return (await c.post("/mcp", json=INIT, headers={**HEADERS, **headers})).status_code

        for good in GOOD_HOSTS:
            assert await status(host=good) == 200, good
        for bad in BAD_HOSTS:
            assert await status(host=bad) == 421, bad
        assert await status(origin=f"http://127.0.0.1:{PORT}") == 200
        assert await status(origin="https://mcp.example.com") == 200
        for bad in BAD_ORIGINS:
            assert await status(origin=bad) == 403, bad


@pytest.mark.slow
async def test_get_streams_are_capped_and_end_after_their_lifetime(tmp_path: Path) -> None:
    limits = GetStreamLimits(max_streams=2, max_lifetime_s=2.0)
    watch = StreamWatch()
    async with endpoint_client(make_settings(tmp_path), watch=watch, get_streams=limits) as c:
        opened: list[httpx2.Response] = []

        async def hold() -> None:
            opened.append(await c.get("/mcp", headers=SSE))

        with anyio.fail_after(10):  # unbounded streams would hang here
            async with anyio.create_task_group() as tg:
                tg.start_soon(hold)
                tg.start_soon(hold)
                await watch.both_open.wait()
                third = await c.get("/mcp", headers=SSE)
                assert third.status_code == 503
                assert third.headers["retry-after"]
                assert "GET streams" in third.json()["error"]
                # POSTs are not GET streams: they still go through.
                assert (await c.post("/mcp", json=INIT, headers=HEADERS)).status_code == 200
        assert [r.status_code for r in opened] == [200, 200]
        assert all(r.headers["content-type"].startswith("text/event-stream") for r in opened)
        # Once they ended, there is room again.
        with anyio.fail_after(10):
            assert (await c.get("/mcp", headers=SSE)).status_code == 200


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {"MCP_API_KEY": KEY, "MCP_FORCE_MOCKS": "true"}
    with storelink_serve(tmp_path_factory.mktemp("a"), env) as url:
        yield url


@pytest.mark.slow
def test_no_token_and_wrong_token_get_401(server: str) -> None:
    none = httpx2.post(f"{server}/mcp", json=INIT, headers=HEADERS)
    assert none.status_code == 401
    assert none.headers["www-authenticate"].startswith("Bearer")
    wrong = httpx2.post(f"{server}/mcp", json=INIT, headers={**HEADERS, "Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert 'error="invalid_token"' in wrong.headers["www-authenticate"]
    assert KEY not in wrong.text


@pytest.mark.slow
def test_bad_host_is_refused(server: str) -> None:
    response = httpx2.post(
        f"{server}/mcp", json=INIT, headers={**HEADERS, "Authorization": f"Bearer {KEY}", "Host": "evil.example"}
    )
    assert response.status_code == 421


@pytest.mark.slow
def test_health_and_metrics_stay_open(server: str) -> None:
    assert httpx2.get(f"{server}/healthz").status_code == 200
    assert httpx2.get(f"{server}/readyz").json()["status"] == "ready"


@pytest.mark.slow
async def test_right_token_lists_tools_and_calls_one(server: str) -> None:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {KEY}"}) as http:
        async with Client(streamable_http_client(f"{server}/mcp", http_client=http)) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert "shopify_list_products" in names
            result = await client.call_tool("shopify_list_products", {"limit": 3})
    assert not result.is_error
    assert len(answer(result)["data"]["items"]) == 3
    assert answer(result)["meta"]["mode"] == "mock"


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


@pytest.mark.slow
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
