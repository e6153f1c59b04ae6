"""The MCP endpoint inside the ``storelink serve`` app: streamable HTTP at ``/mcp``, stateless, so
replicas behind a load balancer need no sticky sessions."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

import httpx2
from mcp.server.auth.settings import AuthSettings
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import AnyHttpUrl
from starlette.routing import BaseRoute, Mount
from starlette.types import ASGIApp

from storelink.connectors.base import Connector
from storelink.errors import ConfigurationError
from storelink.mcp_server.auth import READ_SCOPE, BearerKeyMiddleware, JwtVerifier
from storelink.mcp_server.server import build_server
from storelink.runtime import Runtime
from storelink.settings import Settings

__all__ = ["McpEndpoint", "check_exposure", "is_loopback", "mcp_endpoint"]


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(settings: Settings, host: str) -> None:
    """Refuse to serve MCP beyond loopback with nobody checking who calls."""
    if settings.enable_mcp and not is_loopback(host) and not (settings.mcp_api_key or settings.mcp_oauth_issuer):
        raise ConfigurationError(
            f"Refusing to serve MCP on {host}, beyond loopback, without authentication: set MCP_API_KEY "
            "(a bearer key) or MCP_OAUTH_ISSUER (an OAuth issuer), or bind to 127.0.0.1, or set ENABLE_MCP=false."
        )


def resource_url(settings: Settings, host: str, port: int) -> str:
    return settings.mcp_resource_url or f"http://{host}:{port}/mcp"


def allowed_hosts(settings: Settings) -> list[str]:
    hosts = ["127.0.0.1", "127.0.0.1:*", "localhost", "localhost:*", "[::1]", "[::1]:*"]
    for extra in filter(None, (h.strip() for h in settings.allowed_hosts.split(","))):
        hosts += [extra, f"{extra}:*"]
    return hosts


@dataclass
class McpEndpoint:
    routes: list[BaseRoute]
    lifespan: Callable[[], AbstractAsyncContextManager[None]]


def mcp_endpoint(
    settings: Settings,
    get_runtime: Callable[[], Runtime],
    connector_classes: Sequence[type[Connector]],
    *,
    host: str,
    port: int,
) -> McpEndpoint:
    check_exposure(settings, host)
    http = httpx2.AsyncClient(timeout=10.0)
    resource = resource_url(settings, host, port)
    verifier = None
    auth = None
    if settings.mcp_oauth_issuer:
        verifier = JwtVerifier(
            issuer=settings.mcp_oauth_issuer,
            audience=resource,
            http=http,
            static_key=settings.mcp_api_key.get_secret_value() if settings.mcp_api_key else None,
        )
        auth = AuthSettings(
            issuer_url=AnyHttpUrl(settings.mcp_oauth_issuer),
            resource_server_url=AnyHttpUrl(resource),
            required_scopes=[READ_SCOPE],
            validate_token_resource=True,
        )
    server = build_server(settings, get_runtime, connector_classes, token_verifier=verifier, auth=auth)
    hosts = allowed_hosts(settings)
    app: ASGIApp = server.streamable_http_app(
        streamable_http_path="/mcp",
        stateless_http=True,
        transport_security=TransportSecuritySettings(
            allowed_hosts=hosts,
            allowed_origins=[f"http://{h}" for h in hosts] + [f"https://{h}" for h in hosts],
        ),
    )
    if settings.mcp_api_key and not settings.mcp_oauth_issuer:
        app = BearerKeyMiddleware(app, settings.mcp_api_key.get_secret_value())

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        async with server.session_manager.run():
            try:
                yield
            finally:
                await http.aclose()

    return McpEndpoint(routes=[Mount("/", app=app)], lifespan=lifespan)
