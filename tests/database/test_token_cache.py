"""Access tokens kept sealed in PostgreSQL for every replica (issue 17): a replica that starts after
another reuses the token it got instead of asking Zoho again (Zoho caps token requests); nothing in
the table is readable without the key; without a key, or while the database is down, tokens stay on
the machine and calls keep working."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from storelink.connectors.zoho.auth import StoreTokenCache
from storelink.connectors.zoho.client import ZohoConnector
from storelink.database.keyring import new_key
from storelink.database.tokens import SealedTokenCache
from storelink.fakes.zoho import ZohoFake
from storelink.store import EmbeddedStore
from tests.connectors.zoho.conftest import CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, live_zoho, loop_clock
from tests.support.postgres_server import SHARED_POSTGRES_URL, postgres_answers

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not postgres_answers(), reason="no PostgreSQL at 127.0.0.1:5432 (.ci/run starts one)"),
]


def zoho_fake() -> ZohoFake:
    return ZohoFake(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, refresh_token=REFRESH_TOKEN, clock=loop_clock)


def rows(schema: str) -> list[tuple[object, ...]]:
    with psycopg.connect(SHARED_POSTGRES_URL) as conn:
        return conn.execute(f'SELECT * FROM "{schema}".oauth_tokens').fetchall()  # noqa: S608


def token_cache_of(connector: object) -> object:
    assert isinstance(connector, ZohoConnector)
    cache = connector.oauth.cache
    assert isinstance(cache, StoreTokenCache)
    return cache.tokens


async def test_a_replica_started_later_reuses_the_sealed_token(tmp_path: Path, schema: str) -> None:
    fake = zoho_fake()
    database: dict[str, Any] = {"database_url": SHARED_POSTGRES_URL, "database_schema": schema, "secret_key": new_key()}
    async with live_zoho(fake, tmp_path / "one", **database) as first:
        await first.registry.get("zoho").call("list_accounts", {})
        assert isinstance(token_cache_of(first.registry.get("zoho")), SealedTokenCache)
    kept = rows(schema)
    # Another replica (its own embedded store, no Redis): the token comes from PostgreSQL.
    async with live_zoho(fake, tmp_path / "two", store=EmbeddedStore(None), **database) as second:
        await second.registry.get("zoho").call("list_accounts", {})
    assert fake.token_requests == 1
    assert len(kept) == 1
    issued = next(iter(fake.tokens))
    assert all(issued not in str(column) for column in kept[0])  # sealed: no token text at rest


async def test_without_a_key_the_token_stays_on_the_machine(
    tmp_path: Path, schema: str, caplog: pytest.LogCaptureFixture
) -> None:
    fake = zoho_fake()
    async with live_zoho(fake, tmp_path, database_url=SHARED_POSTGRES_URL, database_schema=schema) as rt:
        await rt.registry.get("zoho").call("list_accounts", {})
        assert not isinstance(token_cache_of(rt.registry.get("zoho")), SealedTokenCache)
    assert rows(schema) == []
    assert "set STORELINK_SECRET_KEY" in caplog.text


async def test_a_database_that_does_not_answer_costs_only_the_cache(tmp_path: Path) -> None:
    fake = zoho_fake()
    nowhere: dict[str, Any] = {"database_url": "postgresql://postgres@127.0.0.1:9/none", "secret_key": new_key()}
    async with live_zoho(fake, tmp_path, **nowhere) as rt:
        accounts = await rt.registry.get("zoho").call("list_accounts", {})
    assert accounts.data.items and fake.token_requests == 1
