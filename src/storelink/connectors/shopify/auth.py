"""Shopify credentials: a static Admin API token, or client credentials exchanged for
short-lived tokens.

The exchanged token is refreshed ahead of expiry, one refresh at a time however many calls wait
(a lock around the exchange, re-checked inside). The header is only ever put on requests to the
shop's own host: bulk results are downloaded from a storage host that must never see the token.
A shop that installed storelink as an app (``InstalledShopSettings``) brings its own token source
(storelink.shopify_app.offline_tokens: expiring offline tokens kept sealed for every replica).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import httpx2
from pydantic import ConfigDict, Field, SecretStr

from storelink.errors import ConnectorError, ErrorKind
from storelink.resilience.pipeline import Authenticator
from storelink.stores import ShopifySettings

__all__ = ["ClientCredentialsAuth", "InstalledShopSettings", "StaticTokenAuth", "TokenSource"]

HEADER = "X-Shopify-Access-Token"


@runtime_checkable
class TokenSource(Protocol):
    def auth(self, *, client: httpx2.AsyncClient) -> Authenticator:
        """The auth for the shop's requests; ``client`` reaches the shop's token endpoint."""
        ...


class InstalledShopSettings(ShopifySettings):
    """A shop that installed storelink as an app: no token in the settings, ``tokens`` gives them."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    tokens: TokenSource = Field(exclude=True, repr=False)


class StaticTokenAuth:
    def __init__(self, token: SecretStr, *, shop_host: str) -> None:
        self._token = token
        self._host = shop_host

    async def apply(self, request: httpx2.Request) -> None:
        if request.url.host == self._host:
            request.headers[HEADER] = self._token.get_secret_value()

    async def refresh(self, rejected: httpx2.Request) -> bool:
        return False  # a static token cannot be renewed by us


class ClientCredentialsAuth:
    """``POST /admin/oauth/access_token`` with ``grant_type=client_credentials``."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: SecretStr,
        shop_host: str,
        client: httpx2.AsyncClient,
        clock: Callable[[], float],
        refresh_margin_s: float = 300.0,
    ) -> None:
        self._client_id = client_id
        self._secret = client_secret
        self._host = shop_host
        self._client = client
        self._clock = clock
        self._margin = refresh_margin_s
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self.exchanges = 0

    def _valid(self) -> bool:
        return self._token is not None and self._clock() < self._expires_at - self._margin

    async def token(self) -> str:
        if self._valid():
            assert self._token is not None
            return self._token
        async with self._lock:
            if not self._valid():  # another caller may have refreshed while we waited
                await self._exchange()
        assert self._token is not None
        return self._token

    async def _exchange(self) -> None:
        self.exchanges += 1
        try:
            response = await self._client.post(
                f"https://{self._host}/admin/oauth/access_token",
                json={
                    "client_id": self._client_id,
                    "client_secret": self._secret.get_secret_value(),
                    "grant_type": "client_credentials",
                },
            )
        except httpx2.HTTPError as exc:
            raise ConnectorError(
                ErrorKind.UNAVAILABLE,
                f"Could not reach Shopify to exchange client credentials ({type(exc).__name__}); retry later.",
            ) from None
        if response.status_code != 200:
            raise ConnectorError(
                ErrorKind.UNAUTHORIZED,
                f"Shopify refused the client credentials ({response.status_code}). Check SHOPIFY_CLIENT_ID "
                "and SHOPIFY_CLIENT_SECRET, and that the app is installed on SHOPIFY_SHOP.",
                status=response.status_code,
                retryable=False,
            )
        body = response.json()
        self._token = str(body["access_token"])
        self._expires_at = self._clock() + float(body.get("expires_in", 86_399))

    async def apply(self, request: httpx2.Request) -> None:
        if request.url.host == self._host:
            request.headers[HEADER] = await self.token()

    async def refresh(self, rejected: httpx2.Request) -> bool:
        async with self._lock:
            if self._token is None or rejected.headers.get(HEADER) == self._token:
                await self._exchange()  # else: someone refreshed since this request was sent
        return True
