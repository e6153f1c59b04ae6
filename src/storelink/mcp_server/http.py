"""The MCP endpoint inside the ``storelink serve`` app: streamable HTTP at ``/mcp``, stateless, so
replicas behind a load balancer need no sticky sessions.

Exposure fails closed: only a literal loopback address (``127.0.0.1``, ``::1``) counts as
loopback; an empty, wildcard or unparseable ``STORELINK_HOST`` needs ``MCP_API_KEY``,
``STORELINK_MCP_KEYS_FILE`` or ``MCP_OAUTH_ISSUER``. ``Host`` and ``Origin`` must name an allowed
host and port exactly. ``GET`` streams (server-to-client SSE) are bounded by :class:`GetStreamLimits`.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

import anyio
import httpx2
from mcp.server.auth.settings import AuthSettings
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import AnyHttpUrl
from starlette.routing import BaseRoute, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storelink.connectors.base import Connector
from storelink.errors import ConfigurationError
from storelink.keys import load_keys_file
from storelink.mcp_server.auth import READ_SCOPE, BearerKeyMiddleware, JwtVerifier
from storelink.mcp_server.server import build_server
from storelink.runtime import StoreDirectory
from storelink.settings import Settings

__all__ = [
    "DEFAULT_GET_STREAMS",
    "GetStreamLimits",
    "McpEndpoint",
    "allowed_hosts",
    "check_exposure",
    "is_loopback",
    "mcp_endpoint",
]

_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")

log = logging.getLogger("storelink")


def is_loopback(host: str) -> bool:
    """True only for a literal loopback address: a name may resolve anywhere, and an empty or
    wildcard address binds every interface."""
    try:
        return ipaddress.ip_address(host.removeprefix("[").removesuffix("]")).is_loopback
    except ValueError:
        return False


def check_exposure(settings: Settings, host: str) -> None:
    """Refuse to serve MCP beyond loopback with nobody checking who calls."""
    authenticated = settings.mcp_api_key or settings.mcp_keys_file or settings.mcp_oauth_issuer
    if settings.enable_mcp and not is_loopback(host) and not authenticated:
        shown = repr(host) if host.strip() else "every interface (empty host)"
        raise ConfigurationError(
            f"Refusing to serve MCP on {shown}, not a loopback address, without authentication: set MCP_API_KEY "
            "(a bearer key), STORELINK_MCP_KEYS_FILE (keys per store) or MCP_OAUTH_ISSUER (an OAuth issuer), "
            "or bind to 127.0.0.1, or set ENABLE_MCP=false."
        )


def resource_url(settings: Settings, host: str, port: int) -> str:
    return settings.mcp_resource_url or f"http://{host}:{port}/mcp"


def allowed_hosts(settings: Settings, port: int) -> list[str]:
    """Exact ``Host`` values: each loopback name and each ``STORELINK_ALLOWED_HOSTS`` entry, bare (the
    scheme's default port, as behind a proxy) or with the bound ``port``; an entry that names its
    own port (``mcp.example.com:8443``) is taken as it is. No wildcards: the SDK matches ``name:*``
    by prefix, which lets ``127.0.0.1:8765@evil.example`` through."""
    hosts: list[str] = []
    extras = [h.strip().lower() for h in settings.allowed_hosts.split(",") if h.strip()]
    for name in (*_LOOPBACK_HOSTS, *extras):
        has_port = name.rpartition(":")[2].isdigit() and (not name.startswith("[") or "]:" in name)
        hosts += [name] if has_port else [name, f"{name}:{port}"]
    return list(dict.fromkeys(hosts))


@dataclass(frozen=True, slots=True, kw_only=True)
class GetStreamLimits:
    """Bounds on ``GET /mcp``, the long-lived SSE stream a legacy client opens for server-initiated
    messages. The server is stateless and sends nothing on it, so a stream is only held open;
    clients reconnect when it ends.

    ``max_streams``: concurrent GET streams per process; one more gets 503 with ``Retry-After``.
    ``max_lifetime_s``: a stream is ended cleanly after this long.
    """

    max_streams: int = 32
    max_lifetime_s: float = 300.0


DEFAULT_GET_STREAMS = GetStreamLimits()


class GetStreamLimiter:
    """ASGI middleware enforcing :class:`GetStreamLimits` on ``GET`` requests to the MCP path."""

    def __init__(self, app: ASGIApp, limits: GetStreamLimits, path: str = "/mcp") -> None:
        self.app = app
        self.limits = limits
        self.path = path
        self.open = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"].rstrip("/") != self.path:
            await self.app(scope, receive, send)
            return
        if self.open >= self.limits.max_streams:
            await _busy(send, self.limits)
            return
        self.open += 1
        started = finished = False

        async def tracking(message: Message) -> None:
            nonlocal started, finished
            started = started or message["type"] == "http.response.start"
            finished = finished or (message["type"] == "http.response.body" and not message.get("more_body"))
            await send(message)

        try:
            with anyio.move_on_after(self.limits.max_lifetime_s):
                await self.app(scope, receive, tracking)
            if started and not finished:  # lifetime reached: end the stream, the client reconnects
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            elif not started:
                await _busy(send, self.limits)
        finally:
            self.open -= 1


async def _busy(send: Send, limits: GetStreamLimits) -> None:
    body = json.dumps(
        {"error": f"Too many open GET streams on /mcp (at most {limits.max_streams}); retry later."}
    ).encode()
    retry = str(max(1, round(min(limits.max_lifetime_s, 30.0))))
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", retry.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


@dataclass
class McpEndpoint:
    routes: list[BaseRoute]
    lifespan: Callable[[], AbstractAsyncContextManager[None]]


def mcp_endpoint(
    settings: Settings,
    get_stores: Callable[[], StoreDirectory],
    connector_classes: Sequence[type[Connector]],
    *,
    host: str,
    port: int,
    get_streams: GetStreamLimits = DEFAULT_GET_STREAMS,
) -> McpEndpoint:
    check_exposure(settings, host)
    keys = load_keys_file(settings.mcp_keys_file) if settings.mcp_keys_file else None
    if keys is not None:
        log.info("MCP keys file: %d key(s): %s", len(keys), ", ".join(keys.names()))
    static_key = settings.mcp_api_key.get_secret_value() if settings.mcp_api_key else None
    http = httpx2.AsyncClient(timeout=10.0)
    resource = resource_url(settings, host, port)
    verifier = None
    auth = None
    if settings.mcp_oauth_issuer:
        verifier = JwtVerifier(
            issuer=settings.mcp_oauth_issuer, audience=resource, http=http, static_key=static_key, keys=keys
        )
        auth = AuthSettings(
            issuer_url=AnyHttpUrl(settings.mcp_oauth_issuer),
            resource_server_url=AnyHttpUrl(resource),
            required_scopes=[READ_SCOPE],
            validate_token_resource=True,
        )
    server = build_server(settings, get_stores, connector_classes, token_verifier=verifier, auth=auth)
    hosts = allowed_hosts(settings, port)
    app: ASGIApp = server.streamable_http_app(
        streamable_http_path="/mcp",
        stateless_http=True,
        transport_security=TransportSecuritySettings(
            allowed_hosts=hosts,
            allowed_origins=[f"http://{h}" for h in hosts] + [f"https://{h}" for h in hosts],
        ),
    )
    # Inside the bearer check, so only authenticated callers take a stream's place.
    app = GetStreamLimiter(app, get_streams)
    if (static_key or keys is not None) and not settings.mcp_oauth_issuer:
        app = BearerKeyMiddleware(app, static_key, keys, resource=resource)

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        async with server.session_manager.run():
            try:
                yield
            finally:
                await http.aclose()

    return McpEndpoint(routes=[Mount("/", app=app)], lifespan=lifespan)
