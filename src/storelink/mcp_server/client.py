"""A small client for a storelink MCP endpoint (``MCP_API_URL``), for the dashboard and tests.

Credentials: a static ``MCP_API_KEY``, or OAuth (``MCP_CLIENT_ID`` + ``MCP_REFRESH_TOKEN``). With
OAuth the token endpoint is found through the server's protected-resource metadata (RFC 9728) and
the issuer's metadata (RFC 8414); the access token is refreshed ahead of expiry by the client
itself, one refresh at a time, and a rotated refresh token is kept in the embedded store so the
next start uses it. ``storelink mcp-login`` mints those credentials (authorization code + PKCE
with a loopback redirect).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from storelink.errors import ConfigurationError, ConnectorError, ErrorKind
from storelink.settings import Settings
from storelink.store import EmbeddedStore

__all__ = ["OAuthEndpoints", "RefreshingAuth", "TokenStore", "connect", "discover", "login"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS mcp_client_tokens (
    server TEXT NOT NULL, client_id TEXT NOT NULL, refresh_token TEXT NOT NULL, updated_at REAL NOT NULL,
    PRIMARY KEY (server, client_id)
)"""


class TokenStore:
    """Rotated refresh tokens, kept in the embedded store (a 0600 file)."""

    def __init__(self, store: EmbeddedStore) -> None:
        self._db = store.db
        self._db.execute(_SCHEMA)

    def load(self, server: str, client_id: str) -> str | None:
        row = self._db.execute(
            "SELECT refresh_token FROM mcp_client_tokens WHERE server = ? AND client_id = ?", (server, client_id)
        ).fetchone()
        return str(row[0]) if row else None

    def save(self, server: str, client_id: str, refresh_token: str) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO mcp_client_tokens VALUES (?, ?, ?, ?)",
            (server, client_id, refresh_token, time.time()),
        )


@dataclass(frozen=True)
class OAuthEndpoints:
    resource: str
    issuer: str
    token_endpoint: str
    authorization_endpoint: str | None


async def discover(http: httpx2.AsyncClient, mcp_url: str) -> OAuthEndpoints:
    """RFC 9728 then RFC 8414: from the MCP URL to its issuer's token endpoint."""
    parts = urlsplit(mcp_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    try:
        resource_meta = (await http.get(f"{origin}/.well-known/oauth-protected-resource{parts.path}")).json()
        issuer = str(resource_meta["authorization_servers"][0]).rstrip("/")
        issuer_meta = (await http.get(f"{issuer}/.well-known/oauth-authorization-server")).json()
        return OAuthEndpoints(
            resource=str(resource_meta.get("resource", mcp_url)),
            issuer=issuer,
            token_endpoint=str(issuer_meta["token_endpoint"]),
            authorization_endpoint=issuer_meta.get("authorization_endpoint"),
        )
    except (httpx2.HTTPError, ValueError, KeyError, IndexError) as exc:
        raise ConnectorError(
            ErrorKind.NOT_CONFIGURED,
            f"{mcp_url} publishes no usable OAuth metadata ({type(exc).__name__}); use MCP_API_KEY instead, "
            "or check MCP_API_URL.",
        ) from None


class RefreshingAuth(httpx2.Auth):
    """Bearer tokens from a refresh token, renewed ``margin_s`` before they expire."""

    def __init__(
        self,
        *,
        endpoints: OAuthEndpoints,
        client_id: str,
        refresh_token: str,
        http: httpx2.AsyncClient,
        on_rotate: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.time,
        margin_s: float = 60.0,
    ) -> None:
        self.endpoints = endpoints
        self.client_id = client_id
        self._refresh_token = refresh_token
        self._http = http
        self._on_rotate = on_rotate
        self._clock = clock
        self._margin = margin_s
        self._access: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self.refreshes = 0

    async def token(self, *, force: bool = False) -> str:
        if force or self._access is None or self._clock() >= self._expires_at - self._margin:
            async with self._lock:
                if force or self._access is None or self._clock() >= self._expires_at - self._margin:
                    await self._refresh()
        assert self._access is not None
        return self._access

    async def _refresh(self) -> None:
        self.refreshes += 1
        response = await self._http.post(
            self.endpoints.token_endpoint,
            data={
                "grant_type": "refresh_token",
                "refresh_token": self._refresh_token,
                "client_id": self.client_id,
                "resource": self.endpoints.resource,
            },
        )
        if response.status_code != 200:
            raise ConnectorError(
                ErrorKind.UNAUTHORIZED,
                f"The authorization server refused the refresh token ({response.status_code}): run "
                "`storelink mcp-login` to mint new credentials.",
            )
        body = response.json()
        self._access = str(body["access_token"])
        self._expires_at = self._clock() + float(body.get("expires_in", 3600))
        rotated = body.get("refresh_token")
        if rotated and rotated != self._refresh_token:
            self._refresh_token = str(rotated)
            if self._on_rotate is not None:
                self._on_rotate(self._refresh_token)

    async def async_auth_flow(self, request: httpx2.Request) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        request.headers["Authorization"] = f"Bearer {await self.token()}"
        response = yield request
        if response.status_code == 401:  # revoked early: one fresh token, one retry
            request.headers["Authorization"] = f"Bearer {await self.token(force=True)}"
            yield request


@asynccontextmanager
async def connect(settings: Settings, *, store: EmbeddedStore | None = None) -> AsyncIterator[Client]:
    """An MCP client session to ``MCP_API_URL`` with whichever credentials are configured."""
    url = settings.mcp_api_url
    if not url:
        raise ConfigurationError("Set MCP_API_URL to a storelink MCP endpoint, e.g. http://127.0.0.1:8765/mcp.")
    async with httpx2.AsyncClient(timeout=30.0) as side:
        auth: httpx2.Auth | None = None
        headers: dict[str, str] = {}
        if settings.mcp_client_id and settings.mcp_refresh_token:
            endpoints = await discover(side, url)
            tokens = TokenStore(store) if store is not None else None
            stored = tokens.load(url, settings.mcp_client_id) if tokens else None
            refresh_token = stored or settings.mcp_refresh_token.get_secret_value()
            client_id = settings.mcp_client_id
            auth = RefreshingAuth(
                endpoints=endpoints,
                client_id=client_id,
                refresh_token=refresh_token,
                http=side,
                on_rotate=(lambda t: tokens.save(url, client_id, t)) if tokens else None,
            )
        elif settings.mcp_api_key:
            headers["Authorization"] = f"Bearer {settings.mcp_api_key.get_secret_value()}"
        async with httpx2.AsyncClient(auth=auth, headers=headers, timeout=60.0) as http:
            async with Client(streamable_http_client(url, http_client=http)) as client:
                yield client


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


async def login(
    mcp_url: str,
    client_id: str,
    *,
    open_url: Callable[[str], Awaitable[None]],
    scope: str = "storelink:read",
    timeout_s: float = 300.0,
) -> str:
    """Authorization code + PKCE with a loopback redirect; returns the refresh token.

    ``open_url`` shows the authorization URL to the person (the CLI prints it and tries a browser);
    the issuer redirects back to a one-shot server on 127.0.0.1."""
    code_future: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()

    async def on_redirect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = (await reader.readline()).decode("latin-1")
        query = urlsplit(line.split(" ")[1] if " " in line else "/").query
        params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nstorelink: you may close this tab.\n")
        await writer.drain()
        writer.close()
        if not code_future.done():
            code_future.set_result(params)

    server = await asyncio.start_server(on_redirect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    redirect = f"http://127.0.0.1:{port}/callback"
    verifier, challenge = _pkce()
    state = secrets.token_urlsafe(12)
    async with httpx2.AsyncClient(timeout=30.0) as http, server:
        endpoints = await discover(http, mcp_url)
        if not endpoints.authorization_endpoint:
            raise ConfigurationError(f"{endpoints.issuer} publishes no authorization endpoint.")
        query = urlencode(
            {
                "response_type": "code",
                "client_id": client_id,
                "redirect_uri": redirect,
                "scope": scope,
                "state": state,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                "resource": endpoints.resource,
            }
        )
        await open_url(f"{endpoints.authorization_endpoint}?{query}")
        params = await asyncio.wait_for(code_future, timeout_s)
        if params.get("state") != state or "code" not in params:
            raise ConnectorError(ErrorKind.UNAUTHORIZED, "The authorization was refused or its state did not match.")
        response = await http.post(
            endpoints.token_endpoint,
            data={
                "grant_type": "authorization_code",
                "code": params["code"],
                "code_verifier": verifier,
                "client_id": client_id,
                "redirect_uri": redirect,
                "resource": endpoints.resource,
            },
        )
        if response.status_code != 200:
            raise ConnectorError(ErrorKind.UNAUTHORIZED, f"The token exchange failed ({response.status_code}).")
        return str(response.json()["refresh_token"])
