"""OAuth tokens kept in PostgreSQL for every replica, sealed (issue 17).

A token is a credential: it is written only sealed with ``STORELINK_SECRET_KEY``
(:class:`~storelink.database.keyring.Keyring`), and without a key it is not written at all. The
row's key is the store, the provider and a fingerprint of the credential identity
(:func:`storelink.auth.tokens.fingerprint`), never a secret, so the table can be listed safely.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from storelink.database.keyring import Keyring
from storelink.database.postgres import Database
from storelink.errors import ConnectorError, ErrorKind

__all__ = ["StoredToken", "TokenVault"]

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

    async def forget(self, *, store: str, provider: str | None = None) -> int:
        """Delete a store's tokens (one provider's, or all); returns how many."""
        await self.db.ensure_migrated()
        async with self.db.connection() as conn:
            if provider is None:
                cursor = await conn.execute("DELETE FROM oauth_tokens WHERE store = %s", (store,))
            else:
                cursor = await conn.execute(
                    "DELETE FROM oauth_tokens WHERE store = %s AND provider = %s", (store, provider)
                )
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
