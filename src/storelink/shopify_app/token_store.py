"""Where an installed shop's tokens live, sealed with ``STORELINK_SECRET_KEY``.

:class:`VaultRecords` keeps them in PostgreSQL's ``oauth_tokens`` (:class:`TokenVault`, provider
``shopify_app``, identity the shop) for every replica, and :meth:`exclusive` takes a transaction-level
advisory lock keyed on the shop, so one replica at a time refreshes a shop's token and the others,
once they have the lock, read what it wrote. :class:`MemoryRecords` is the same for a deployment
without a database (one process; installs last until it stops), sealed all the same.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

from storelink.database.keyring import Keyring
from storelink.database.postgres import Database
from storelink.database.tokens import StoredToken, TokenVault
from storelink.errors import ConnectorError, ErrorKind

__all__ = ["PROVIDER", "MemoryRecords", "TokenRecords", "VaultRecords", "no_key", "shop_lock_key"]

PROVIDER = "shopify_app"


def no_key() -> ConnectorError:
    return ConnectorError(
        ErrorKind.NOT_CONFIGURED,
        "Installing storelink on a shop keeps the shop's tokens sealed with STORELINK_SECRET_KEY, which is "
        "not set: set it to a key from `storelink db new-key` (the same on every replica) and install again.",
    )


def shop_lock_key(shop: str) -> int:
    """A signed 64-bit advisory-lock key for ``shop``'s token refresh (a hash: stable across replicas)."""
    digest = hashlib.sha256(f"storelink:shopify-refresh:{shop}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class TokenRecords(Protocol):
    async def read(self, store: str, shop: str) -> StoredToken | None: ...

    async def write(self, store: str, shop: str, token: StoredToken) -> None: ...

    async def forget(self, store: str) -> int:
        """Delete the store's tokens; returns how many."""
        ...

    def exclusive(self, shop: str) -> AbstractAsyncContextManager[None]:
        """Held while a shop's token is read, refreshed and written: one holder at a time."""
        ...


class VaultRecords:
    def __init__(self, database: Database, keyring: Keyring | None, *, wall: Callable[[], float] = time.time) -> None:
        self.database = database
        self.vault = TokenVault(database, keyring, wall=wall)
        # A holder of a shop's lock keeps one pooled connection and needs another to read and write:
        # bounding the holders keeps many shops refreshing at once (all stale after a restart) from
        # taking every connection and then waiting for one.
        self._holders = asyncio.Semaphore(max(1, database.pool.max_size // 3))

    async def read(self, store: str, shop: str) -> StoredToken | None:
        return await self.vault.get(store=store, provider=PROVIDER, identity=shop)

    async def write(self, store: str, shop: str, token: StoredToken) -> None:
        await self.vault.put(store=store, provider=PROVIDER, identity=shop, token=token)

    async def forget(self, store: str) -> int:
        return await self.vault.forget(store=store, provider=PROVIDER)

    @asynccontextmanager
    async def exclusive(self, shop: str) -> AsyncIterator[None]:
        # The lock lives as long as this transaction; the vault reads and writes on connections of
        # its own (autocommitted), so what is written is visible to the next holder.
        await self.database.ensure_migrated()
        async with self._holders, self.database.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (shop_lock_key(shop),))
            yield


class MemoryRecords:
    def __init__(self, keyring: Keyring | None) -> None:
        self.keyring = keyring
        self._rows: dict[tuple[str, str], tuple[str, str | None, float, str]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def _keys(self) -> Keyring:
        if self.keyring is None:  # the same rule as the vault's: no token is kept unsealed
            raise no_key()
        return self.keyring

    async def read(self, store: str, shop: str) -> StoredToken | None:
        row = self._rows.get((store, shop))
        if row is None:
            return None
        keys = self._keys()
        access, refresh, expires_at, scope = row
        return StoredToken(keys.open(access), keys.open(refresh) if refresh else None, expires_at, scope)

    async def write(self, store: str, shop: str, token: StoredToken) -> None:
        keys = self._keys()
        refresh = keys.seal(token.refresh_token) if token.refresh_token else None
        self._rows[(store, shop)] = (keys.seal(token.access_token), refresh, token.expires_at, token.scope)

    async def forget(self, store: str) -> int:
        gone = [key for key in self._rows if key[0] == store]
        for key in gone:
            del self._rows[key]
        return len(gone)

    @asynccontextmanager
    async def exclusive(self, shop: str) -> AsyncIterator[None]:
        async with self._locks.setdefault(shop, asyncio.Lock()):
            yield
