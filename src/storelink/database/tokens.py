"""OAuth tokens kept in PostgreSQL for every replica, sealed (issue 17).

A token is a credential: it is written only sealed with ``STORELINK_SECRET_KEY``
(:class:`~storelink.database.keyring.Keyring`), and without a key it is not written at all. The
row's key is the store, the provider and a fingerprint of the credential identity
(:func:`storelink.auth.tokens.fingerprint`), never a secret, so the table can be listed safely.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from storelink.auth.tokens import CachedToken
from storelink.database.keyring import Keyring
from storelink.database.postgres import Database
from storelink.errors import ConnectorError, ErrorKind

__all__ = ["SealedTokenCache", "StoredToken", "TokenVault"]

log = logging.getLogger("storelink.database")

_PUT = (
    "INSERT INTO oauth_tokens (store, provider, identity, access_token, refresh_token, expires_at, scope, updated_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (store, provider, identity) DO UPDATE SET "
    "access_token = excluded.access_token, refresh_token = excluded.refresh_token, "
    "expires_at = excluded.expires_at, scope = excluded.scope, updated_at = excluded.updated_at"
)
_GET = (
    "SELECT access_token, refresh_token, expires_at, scope FROM oauth_tokens "
    "WHERE store = %s AND provider = %s AND identity = %s"
)


@dataclass(frozen=True, slots=True)
class StoredToken:
    access_token: str
    refresh_token: str | None
    expires_at: float  # epoch seconds
    scope: str


class TokenVault:
    """Sealed OAuth tokens by store, provider and identity."""

    def __init__(self, db: Database, keyring: Keyring | None, *, wall: Callable[[], float] = time.time) -> None:
        self.db = db
        self.keyring = keyring
        self.wall = wall

    def _keys(self) -> Keyring:
        if self.keyring is None:
            raise ConnectorError(
                ErrorKind.NOT_CONFIGURED,
                "Tokens are not written to the shared database without a key to seal them: set "
                "STORELINK_SECRET_KEY (the same on every replica) to a key from `storelink db new-key`.",
            )
        return self.keyring

    async def put(self, *, store: str, provider: str, identity: str, token: StoredToken) -> None:
        keys = self._keys()
        refresh = keys.seal(token.refresh_token) if token.refresh_token is not None else None
        args = (store, provider, identity, keys.seal(token.access_token), refresh, token.expires_at, token.scope)
        await self.db.ensure_migrated()
        async with self.db.connection() as conn:
            await conn.execute(_PUT, (*args, self.wall()))

    async def get(self, *, store: str, provider: str, identity: str) -> StoredToken | None:
        keys = self._keys()
        await self.db.ensure_migrated()
        async with self.db.connection() as conn:
            cursor = await conn.execute(_GET, (store, provider, identity))
            row = await cursor.fetchone()
        if row is None:
            return None
        access, refresh, expires_at, scope = row
        return StoredToken(
            keys.open(str(access)),
            keys.open(str(refresh)) if refresh is not None else None,
            float(str(expires_at)),
            str(scope),
        )

    async def forget(self, *, store: str, provider: str | None = None, identity: str | None = None) -> int:
        """Delete a store's tokens (all, one provider's, or one identity's); returns how many."""
        where, args = ["store = %s"], [store]
        for column, value in (("provider", provider), ("identity", identity)):
            if value is not None:
                where.append(f"{column} = %s")
                args.append(value)
        await self.db.ensure_migrated()
        async with self.db.connection() as conn:
            cursor = await conn.execute(f"DELETE FROM oauth_tokens WHERE {' AND '.join(where)}", args)  # noqa: S608  (fixed columns)
            return cursor.rowcount

    async def reseal(self) -> int:
        """Seal every token again with the newest key, in one transaction; returns how many rows.
        Run after putting a new key first: once it returns, the old key can be dropped."""
        keys = self._keys()
        await self.db.ensure_migrated()
        async with self.db.connection() as conn, conn.transaction():
            cursor = await conn.execute(
                "SELECT store, provider, identity, access_token, refresh_token FROM oauth_tokens FOR UPDATE"
            )
            rows = await cursor.fetchall()
            for store, provider, identity, access, refresh in rows:
                await conn.execute(
                    "UPDATE oauth_tokens SET access_token = %s, refresh_token = %s "
                    "WHERE store = %s AND provider = %s AND identity = %s",
                    (
                        keys.reseal(str(access)),
                        keys.reseal(str(refresh)) if refresh is not None else None,
                        store,
                        provider,
                        identity,
                    ),
                )
        return len(rows)


class SealedTokenCache:
    """A connector's access tokens in the vault, for every replica and every restart: a
    :class:`~storelink.auth.tokens.TokenStore` for one store and provider.

    A cache, not the source of truth: while the database does not answer, a read finds nothing (the
    connector asks the token endpoint, as on a cold start) and a write is skipped, so reads that
    need no database keep working."""

    def __init__(self, vault: TokenVault, *, store: str, provider: str) -> None:
        self.vault = vault
        self.store = store
        self.provider = provider

    async def get(self, key: str) -> CachedToken | None:
        try:
            found = await self.vault.get(store=self.store, provider=self.provider, identity=key)
        except (ConnectorError, psycopg.Error) as err:
            log.warning("tokens: %s token of store %s not read from the database: %s", self.provider, self.store, err)
            return None
        return CachedToken(found.access_token, found.expires_at, found.scope) if found else None

    async def put(self, key: str, token: CachedToken) -> None:
        stored = StoredToken(token.access_token, None, token.expires_at, token.scope)
        try:
            await self.vault.put(store=self.store, provider=self.provider, identity=key, token=stored)
        except (ConnectorError, psycopg.Error) as err:
            log.warning("tokens: %s token of store %s not kept in the database: %s", self.provider, self.store, err)

    async def delete(self, key: str) -> None:
        try:
            await self.vault.forget(store=self.store, provider=self.provider, identity=key)
        except (ConnectorError, psycopg.Error) as err:
            log.warning("tokens: %s token of store %s not deleted: %s", self.provider, self.store, err)
