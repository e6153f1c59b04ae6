"""Where an installed shop's tokens live: sealed (unreadable without STORELINK_SECRET_KEY), and, in
PostgreSQL, refreshed once however many replicas find the token stale at the same moment."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx2
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from storelink.database.keyring import Keyring
from storelink.database.postgres import Database
from storelink.database.tokens import StoredToken
from storelink.errors import ConnectorError, ErrorKind
from storelink.fakes.base import InProcessTransport
from storelink.fakes.shopify import ShopifyFake
from storelink.shopify_app.offline_tokens import OfflineTokens
from storelink.shopify_app.token_store import MemoryRecords, VaultRecords, shop_lock_key
from tests.shopify_app.app_support import API_KEY, API_SECRET, SECRET_KEY, Clock, fake_for, install_grant
from tests.support.postgres_server import SHARED_POSTGRES_URL

SHOP = "acme.myshopify.com"
TOKEN = StoredToken("shpat_secret_access", "shprt_secret_refresh", 1_800_003_600.0, "read_orders")


async def test_memory_records_keep_tokens_sealed() -> None:
    records = MemoryRecords(Keyring(SecretStr(SECRET_KEY)))
    await records.write("acme", SHOP, TOKEN)
    assert await records.read("acme", SHOP) == TOKEN
    assert "shpat_secret_access" not in repr(records.__dict__)
    assert await records.forget("acme") == 1 and await records.read("acme", SHOP) is None


async def test_without_a_key_no_token_is_kept() -> None:
    with pytest.raises(ConnectorError) as caught:
        await MemoryRecords(None).write("acme", SHOP, TOKEN)
    assert caught.value.kind is ErrorKind.NOT_CONFIGURED
    assert "STORELINK_SECRET_KEY" in caught.value.message and "storelink db new-key" in caught.value.message


def test_each_shop_has_its_own_lock_key() -> None:
    keys = {shop_lock_key(f"shop{n}.myshopify.com") for n in range(1000)}
    assert len(keys) == 1000
    assert all(-(2**63) <= key < 2**63 for key in keys)
    assert shop_lock_key(SHOP) == shop_lock_key(SHOP)


# -- PostgreSQL -----------------------------------------------------------------------------------


@pytest.fixture
async def databases(schema: str) -> AsyncIterator[list[Database]]:
    """Three replicas' pools on one schema."""
    dbs = [Database(SHARED_POSTGRES_URL, schema=schema) for _ in range(3)]
    for db in dbs:
        await db.open()
    yield dbs
    for db in dbs:
        await db.close()


@pytest.mark.slow
async def test_vault_tokens_are_unreadable_without_the_key(databases: list[Database]) -> None:
    db = databases[0]
    await VaultRecords(db, Keyring(SecretStr(SECRET_KEY))).write("acme", SHOP, TOKEN)
    async with db.connection() as conn:
        row = await (await conn.execute("SELECT access_token, refresh_token FROM oauth_tokens")).fetchone()
    assert row is not None and "shpat_secret_access" not in str(row) and "shprt_secret_refresh" not in str(row)
    for keyring in (None, Keyring(SecretStr(Fernet.generate_key().decode()))):
        with pytest.raises(ConnectorError) as caught:
            await VaultRecords(db, keyring).read("acme", SHOP)
        assert caught.value.kind is ErrorKind.NOT_CONFIGURED
        assert "STORELINK_SECRET_KEY" in caught.value.message
    assert await VaultRecords(db, Keyring(SecretStr(SECRET_KEY))).read("acme", SHOP) == TOKEN


class HeldRefreshes(httpx2.AsyncBaseTransport):
    """The wire to the fake; refresh requests wait for ``gate`` (so the replicas overlap for sure)."""

    def __init__(self, fake: ShopifyFake, gate: asyncio.Event) -> None:
        self.inner = InProcessTransport(fake.app)
        self.gate = gate

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if b'"refresh_token"' in request.content:
            await self.gate.wait()
        return await self.inner.handle_async_request(request)


async def lock_waiters(db: Database, shop: str) -> int:
    key = shop_lock_key(shop) & 0xFFFFFFFFFFFFFFFF
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND classid::bigint = %s AND objid::bigint = %s",
            (key >> 32, key & 0xFFFFFFFF),
        )
        row = await cursor.fetchone()
    return int(str(row[0])) if row else 0


@pytest.mark.slow
async def test_three_replicas_at_expiry_make_one_refresh(databases: list[Database]) -> None:
    clock = Clock()
    fake = fake_for(clock)
    keyring = Keyring(SecretStr(SECRET_KEY))
    records = [VaultRecords(db, keyring, wall=clock) for db in databases]
    grant = await install_grant(fake, SHOP)
    await records[0].write("acme", SHOP, grant.stored(clock()))
    clock.now += 3600
    gate = asyncio.Event()
    async with httpx2.AsyncClient(transport=HeldRefreshes(fake, gate)) as client:
        auths = [
            OfflineTokens(
                store="acme", shop=SHOP, records=r, client_id=API_KEY, client_secret=SecretStr(API_SECRET), wall=clock
            ).auth(client=client)
            for r in records
        ]
        calls = [asyncio.create_task(auth.token()) for auth in auths for _ in range(20)]
        # One replica holds the shop's lock with its refresh in flight; the two others wait for it.
        for _ in range(500):
            if await lock_waiters(databases[0], SHOP) == 2:
                break
            await asyncio.sleep(0.01)
        assert await lock_waiters(databases[0], SHOP) == 2
        gate.set()
        tokens = await asyncio.gather(*calls)
    assert fake.oauth.counts.refreshes == 1
    assert sum(auth.refreshes for auth in auths) == 1
    assert len(set(tokens)) == 1 and tokens[0] != grant.access_token
    stored = await records[2].read("acme", SHOP)
    assert stored is not None and stored.access_token == tokens[0]


@pytest.mark.slow
async def test_many_shops_refreshing_at_once_do_not_exhaust_the_pool(schema: str) -> None:
    clock = Clock()
    fake = fake_for(clock)
    db = Database(SHARED_POSTGRES_URL, schema=schema, max_size=3, timeout_s=1.0)
    await db.open()
    try:
        records = VaultRecords(db, Keyring(SecretStr(SECRET_KEY)), wall=clock)
        shops = [f"shop{n}.myshopify.com" for n in range(6)]
        for shop in shops:
            await records.write(shop, shop, (await install_grant(fake, shop)).stored(clock()))
        clock.now += 3600  # every token stale at once, as after a restart
        async with httpx2.AsyncClient(transport=InProcessTransport(fake.app)) as client:
            auths = [
                OfflineTokens(
                    store=shop,
                    shop=shop,
                    records=records,
                    client_id=API_KEY,
                    client_secret=SecretStr(API_SECRET),
                    wall=clock,
                ).auth(client=client)
                for shop in shops
            ]
            tokens = await asyncio.gather(*(auth.token() for auth in auths))
        assert len(set(tokens)) == 6 and fake.oauth.counts.refreshes == 6
    finally:
        await db.close()
