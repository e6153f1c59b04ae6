"""Where OAuth access tokens are kept between processes: a :class:`TokenStore`.

Access tokens live an hour; keeping them lets a restarted process reuse the one it had instead of
asking the token endpoint again (Zoho caps how often it may be asked). Two stores: this module's
:class:`TokenCache`, in the embedded store (table ``oauth_tokens``, files at mode 0600: an access
token is a credential), and, with PostgreSQL and ``STORELINK_SECRET_KEY``, the sealed table every
replica shares (:class:`storelink.database.tokens.SealedTokenCache`). Only access tokens are kept
here, never refresh tokens, client secrets or keys; rows are keyed by a fingerprint of the
credential identity, so a new refresh token never picks up an old token.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from storelink.store import EmbeddedStore
from storelink.store_calendar import WallClock  # re-exported: token expiry reads the one wall clock

__all__ = ["CachedToken", "TokenCache", "TokenStore", "WallClock", "fingerprint"]

_SCHEMA = """
    CREATE TABLE IF NOT EXISTS oauth_tokens (
        key           TEXT PRIMARY KEY,
        provider      TEXT NOT NULL,
        access_token  TEXT NOT NULL,
        expires_at    REAL NOT NULL,
        scope         TEXT NOT NULL,
        updated_at    REAL NOT NULL
    )
"""


def fingerprint(*parts: str) -> str:
    """A short, one-way name for a credential identity (a cache key, a partition): never the secret."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:24]


@dataclass(frozen=True, slots=True)
class CachedToken:
    access_token: str
    expires_at: float  # epoch seconds
    scope: str


class TokenStore(Protocol):
    """Access tokens by key (a fingerprint of the credential identity)."""

    async def get(self, key: str) -> CachedToken | None: ...

    async def put(self, key: str, token: CachedToken) -> None: ...

    async def delete(self, key: str) -> None: ...


class TokenCache:
    """Access tokens by key in the embedded store. ``store=None`` (or an in-memory store) keeps them
    in this process only. A :class:`TokenStore`; each call is one short SQLite statement."""

    def __init__(self, store: EmbeddedStore | None, *, provider: str = "google") -> None:
        self.store = store
        self.provider = provider
        self._memory: dict[str, CachedToken] = {}
        if store is not None:
            store.db.execute(_SCHEMA)
            self._restrict()

    async def get(self, key: str) -> CachedToken | None:
        if self.store is None:
            return self._memory.get(key)
        row = self.store.db.execute(
            "SELECT access_token, expires_at, scope FROM oauth_tokens WHERE key = ?", (key,)
        ).fetchone()
        return CachedToken(str(row[0]), float(row[1]), str(row[2])) if row else None

    async def put(self, key: str, token: CachedToken) -> None:
        if self.store is None:
            self._memory[key] = token
            return
        self.store.db.execute(
            "INSERT INTO oauth_tokens (key, provider, access_token, expires_at, scope, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET access_token = excluded.access_token, "
            "expires_at = excluded.expires_at, scope = excluded.scope, updated_at = excluded.updated_at",
            (key, self.provider, token.access_token, token.expires_at, token.scope, time.time()),
        )
        self._restrict()

    async def delete(self, key: str) -> None:
        self._memory.pop(key, None)
        if self.store is not None:
            self.store.db.execute("DELETE FROM oauth_tokens WHERE key = ?", (key,))

    def _restrict(self) -> None:
        """0600 on the database and the files SQLite keeps beside it (WAL, shared memory)."""
        path = self.store.path if self.store is not None else None
        if path is None:
            return
        for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
            try:
                if candidate.exists() and (candidate.stat().st_mode & 0o777) != 0o600:
                    os.chmod(candidate, 0o600)
            except OSError:
                continue  # a sibling removed between the check and the chmod
