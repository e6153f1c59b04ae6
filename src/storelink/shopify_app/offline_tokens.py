"""The Shopify connector's credentials for an installed shop: its expiring offline token.

:class:`OfflineTokenAuth` is an ``Authenticator`` (resilience/pipeline.py) like
``ClientCredentialsAuth``: the header goes only on requests to the shop's own host. The token lasts
an hour; it is refreshed :data:`REFRESH_MARGIN_S` before it expires, and after a 401.

- **Once per process**: one refresh at a time (an ``asyncio.Lock``, re-checked inside), however
  many calls find the token stale at once.
- **Once across replicas**: the refresh runs while holding the shop's lock in the token store (a
  PostgreSQL advisory lock, token_store.py) and first re-reads the stored token: a replica that
  waited finds the token another refreshed and uses it instead of refreshing again. (Refreshing
  twice would not only cost a call: each refresh replaces the refresh token.)
- **A lost answer**: when a refresh got no answer, Shopify may have rotated the tokens all the same,
  but it keeps the refresh token it replaced valid until the replacement is first used. The stored
  token is therefore still good: the refresh is tried again with it (:data:`REFRESH_ATTEMPTS`), and
  the tokens Shopify answers then are the ones kept.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx2
from pydantic import SecretStr

from storelink.connectors.shopify.auth import HEADER
from storelink.database.tokens import StoredToken
from storelink.errors import ConnectorError, ErrorKind
from storelink.shopify_app.grants import Grant, Grants
from storelink.shopify_app.token_store import TokenRecords

__all__ = ["REFRESH_ATTEMPTS", "REFRESH_MARGIN_S", "OfflineTokenAuth", "OfflineTokens"]

REFRESH_MARGIN_S = 300.0  # Shopify: refresh "a few minutes before they expire"
REFRESH_ATTEMPTS = 3


@dataclass(frozen=True)
class OfflineTokens:
    """An installed shop's token source: where its tokens are kept and the app's credentials. The
    Shopify connector builds its auth from it (``InstalledShopSettings.tokens``)."""

    store: str
    shop: str
    records: TokenRecords
    client_id: str
    client_secret: SecretStr
    wall: Callable[[], float] = time.time

    def auth(self, *, client: httpx2.AsyncClient) -> OfflineTokenAuth:
        grants = Grants(client_id=self.client_id, client_secret=self.client_secret, client=client)
        return OfflineTokenAuth(self, grants)


class OfflineTokenAuth:
    def __init__(self, source: OfflineTokens, grants: Grants, *, margin_s: float = REFRESH_MARGIN_S) -> None:
        self._source = source
        self._grants = grants
        self._margin = margin_s
        self._token: StoredToken | None = None
        self._lock = asyncio.Lock()
        self.refreshes = 0  # refresh grants this object asked for (tests, metrics)

    def _fresh(self, token: StoredToken | None) -> bool:
        return token is not None and self._source.wall() < token.expires_at - self._margin

    async def token(self) -> str:
        if not self._fresh(self._token):
            async with self._lock:
                if not self._fresh(self._token):  # another call may have renewed it while we waited
                    self._token = await self._renew(rejected=None)
        assert self._token is not None
        return self._token.access_token

    async def apply(self, request: httpx2.Request) -> None:
        if request.url.host == self._source.shop:
            request.headers[HEADER] = await self.token()

    async def refresh(self, rejected: httpx2.Request) -> bool:
        sent = rejected.headers.get(HEADER)
        async with self._lock:
            if self._token is None or sent == self._token.access_token:  # else: renewed since it was sent
                self._token = await self._renew(rejected=sent)
        return True

    async def _renew(self, *, rejected: str | None) -> StoredToken:
        source = self._source
        async with source.records.exclusive(source.shop):
            stored = await source.records.read(source.store, source.shop)
            if stored is None:
                # Every install writes its tokens first, and an uninstall deletes them on every replica's
                # behalf: no token is the uninstall, seen from a replica that did not handle the webhook.
                raise ConnectorError(
                    ErrorKind.DISABLED,
                    f"{source.shop} has no token: the app was uninstalled there, so its Shopify tools are off. "
                    f"Install it again at /shopify/install?shop={source.shop}.",
                    connector="shopify",
                    retryable=False,
                )
            if stored.access_token != rejected and self._fresh(stored):
                return stored  # another replica (or this one, earlier) refreshed it
            if stored.refresh_token is None:
                raise ConnectorError(
                    ErrorKind.UNAUTHORIZED,
                    f"{source.shop}'s token expired and came without a refresh token. Open the app from the shop's "
                    "admin to get a new one.",
                    connector="shopify",
                    retryable=False,
                )
            renewed = (await self._refresh_grant(stored.refresh_token)).stored(source.wall())
            await source.records.write(source.store, source.shop, renewed)
            return renewed

    async def _refresh_grant(self, refresh_token: str) -> Grant:
        for attempt in range(1, REFRESH_ATTEMPTS + 1):
            self.refreshes += 1
            try:
                return await self._grants.refresh(self._source.shop, refresh_token)
            except ConnectorError as err:
                # No answer (or a 5xx): the refresh may have happened, and the refresh token we hold
                # stays valid until its replacement is used, so asking again with it is safe.
                if err.kind is not ErrorKind.UNAVAILABLE or attempt == REFRESH_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")
