"""The shops that installed storelink as a Shopify app, each served as a store.

A shop's first install gives it a store id (its name, ``acme`` for ``acme.myshopify.com``; ``shop-acme``
when a configured store already has that id) that it keeps when it installs again. Its store has
the Shopify connector for the shop (:class:`InstalledShopSettings`, the tokens from the install,
kept sealed) and the other connectors off: the shop granted storelink its Shopify data, nothing else.

With PostgreSQL (``STORELINK_DATABASE_URL``) installations live in ``shopify_installations``
(migration 0005) and the tokens in ``oauth_tokens``, for every replica and across restarts
(:meth:`Installations.restore` puts them back in the fleet at start). Without it they live in this
process only. Either way a token is never kept unsealed: without ``STORELINK_SECRET_KEY`` an install
is refused with what to set.

An uninstalled shop keeps its row (``uninstalled_at``) and its store, disabled: its tokens are
deleted and its tools answer ``disabled``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

from pydantic import SecretStr

from storelink.connectors.shopify.auth import InstalledShopSettings
from storelink.database.keyring import Keyring
from storelink.database.postgres import Database
from storelink.runtime import Fleet
from storelink.settings import Settings
from storelink.shopify_app.grants import Grant
from storelink.shopify_app.offline_tokens import OfflineTokens
from storelink.shopify_app.shops import shop_name
from storelink.shopify_app.token_store import MemoryRecords, TokenRecords, VaultRecords, no_key
from storelink.stores import ConnectorSettings, GoogleAccount, GoogleSettings, StoreConfig, environment_store

__all__ = ["Installation", "Installations"]


@dataclass(frozen=True, slots=True)
class Installation:
    shop: str
    store: str
    scope: str
    installed_at: float  # epoch seconds, of the latest install
    uninstalled_at: float | None
    seq: int  # the order of first installs (mock mode serves each its own demo data by it)

    @property
    def active(self) -> bool:
        return self.uninstalled_at is None


class _Rows(Protocol):
    async def get(self, shop: str) -> Installation | None: ...

    async def all(self) -> list[Installation]: ...

    async def put(self, shop: str, store: str, scope: str, now: float) -> Installation: ...

    async def uninstalled(self, shop: str, now: float) -> Installation | None: ...


def _row(row: tuple[object, ...]) -> Installation:
    shop, store, scope, installed_at, uninstalled_at, seq = row
    gone = float(str(uninstalled_at)) if uninstalled_at is not None else None
    return Installation(str(shop), str(store), str(scope), float(str(installed_at)), gone, int(str(seq)))


class _PostgresRows:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def _fetch(self, query: str, args: tuple[object, ...] = ()) -> list[Installation]:
        await self.database.ensure_migrated()
        async with self.database.connection() as conn:
            cursor = await conn.execute(query.encode(), args)
            return [_row(row) for row in await cursor.fetchall()]

    async def get(self, shop: str) -> Installation | None:
        found = await self._fetch(
            "SELECT shop, store, scope, installed_at, uninstalled_at, seq FROM shopify_installations WHERE shop = %s",
            (shop,),
        )
        return found[0] if found else None

    async def all(self) -> list[Installation]:
        return await self._fetch(
            "SELECT shop, store, scope, installed_at, uninstalled_at, seq FROM shopify_installations ORDER BY seq"
        )

    async def put(self, shop: str, store: str, scope: str, now: float) -> Installation:
        # A reinstall keeps the store id of the first install.
        found = await self._fetch(
            "INSERT INTO shopify_installations (shop, store, scope, installed_at) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (shop) DO UPDATE SET scope = excluded.scope, installed_at = excluded.installed_at, "
            "uninstalled_at = NULL RETURNING shop, store, scope, installed_at, uninstalled_at, seq",
            (shop, store, scope, now),
        )
        return found[0]

    async def uninstalled(self, shop: str, now: float) -> Installation | None:
        found = await self._fetch(
            "UPDATE shopify_installations SET uninstalled_at = %s WHERE shop = %s "
            "RETURNING shop, store, scope, installed_at, uninstalled_at, seq",
            (now, shop),
        )
        return found[0] if found else None


class _MemoryRows:
    def __init__(self) -> None:
        self._rows: dict[str, Installation] = {}

    async def get(self, shop: str) -> Installation | None:
        return self._rows.get(shop)

    async def all(self) -> list[Installation]:
        return sorted(self._rows.values(), key=lambda row: row.seq)

    async def put(self, shop: str, store: str, scope: str, now: float) -> Installation:
        old = self._rows.get(shop)
        row = (
            replace(old, scope=scope, installed_at=now, uninstalled_at=None)
            if old is not None
            else Installation(shop, store, scope, now, None, len(self._rows) + 1)
        )
        self._rows[shop] = row
        return row

    async def uninstalled(self, shop: str, now: float) -> Installation | None:
        old = self._rows.get(shop)
        if old is not None:
            self._rows[shop] = replace(old, uninstalled_at=now)
        return self._rows.get(shop)


class Installations:
    """The installed shops, their tokens and their stores in ``fleet`` (when the app serves one)."""

    def __init__(
        self,
        settings: Settings,
        *,
        database: Database | None = None,
        fleet: Fleet | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.fleet = fleet
        self.wall = wall
        self.keyring = Keyring(settings.secret_key) if settings.secret_key is not None else None
        self.records: TokenRecords = (
            VaultRecords(database, self.keyring, wall=wall) if database is not None else MemoryRecords(self.keyring)
        )
        self._rows: _Rows = _PostgresRows(database) if database is not None else _MemoryRows()

    # -- the contract ---------------------------------------------------------------------------------
    async def store_for(self, shop: str) -> str | None:
        """The store id of ``shop`` while it has the app installed (None otherwise)."""
        row = await self._rows.get(shop)
        return row.store if row is not None and row.active else None

    async def store_of(self, shop: str) -> str | None:
        """The store id ``shop`` has, or had before it uninstalled (its row is kept: the compliance
        webhook ``shop/redact`` comes 48 hours after the uninstall)."""
        row = await self._rows.get(shop)
        return row.store if row is not None else None

    async def installed(self) -> list[Installation]:
        """The shops that have the app installed now, in the order they first installed it."""
        return [row for row in await self._rows.all() if row.active]

    async def uninstall(self, shop: str) -> None:
        """``shop`` removed the app: its tokens are deleted and its store's tools answer ``disabled``."""
        row = await self._rows.uninstalled(shop, self.wall())
        if row is None:
            return
        await self.records.forget(row.store)
        if self.fleet is not None:
            await self.fleet.put(self.store_config(row))

    # -- installing -----------------------------------------------------------------------------------
    def require_key(self) -> None:
        """Refuse (``not_configured``) before anything is asked of Shopify when tokens could not be kept."""
        if self.keyring is None:
            raise no_key()

    async def record(self, shop: str, grant: Grant) -> Installation:
        """``shop`` granted ``grant``: keep its tokens sealed and serve it as a store."""
        self.require_key()
        existing = await self._rows.get(shop)
        store = existing.store if existing is not None else await self._new_store_id(shop)
        now = self.wall()
        await self.records.write(store, shop, grant.stored(now))
        row = await self._rows.put(shop, store, grant.scope, now)
        if self.fleet is not None:
            await self.fleet.put(self.store_config(row))
        return row

    async def restore(self) -> list[Installation]:
        """Put every shop that ever installed into the fleet (at start: installs outlive restarts)."""
        rows = await self._rows.all()
        if self.fleet is not None:
            for row in rows:
                await self.fleet.put(self.store_config(row))
        return rows

    async def _new_store_id(self, shop: str) -> str:
        name = shop_name(shop)
        taken = set(self.fleet.ids()) if self.fleet is not None else set()
        return name if name not in taken else f"shop-{name}"

    # -- its store ------------------------------------------------------------------------------------
    def tokens_for(self, row: Installation) -> OfflineTokens:
        return OfflineTokens(
            store=row.store,
            shop=row.shop,
            records=self.records,
            client_id=self.settings.shopify_api_key or "",
            client_secret=self.settings.shopify_api_secret or SecretStr(""),
            wall=self.wall,
        )

    def store_config(self, row: Installation) -> StoreConfig:
        """``row``'s store: Shopify for the shop (off once uninstalled), every other connector off."""
        settings = self.settings
        base = environment_store(settings)
        connectors: dict[str, ConnectorSettings] = {}
        for name, config in base.connectors.items():
            off = config.knobs.model_copy(update={"enabled": False})
            if name == "shopify":
                connectors[name] = InstalledShopSettings(
                    store=row.store,
                    knobs=config.knobs if row.active else off,
                    allow_writes=settings.allow_writes,
                    shop=row.shop,
                    tokens=self.tokens_for(row),
                )
            else:
                google = (
                    {"google": GoogleAccount(token_url=config.google.token_url)}
                    if isinstance(config, GoogleSettings)
                    else {}
                )
                connectors[name] = type(config)(store=row.store, knobs=off, **google)
        return StoreConfig(id=row.store, name=row.shop, connectors=connectors, demo_index=row.seq)
