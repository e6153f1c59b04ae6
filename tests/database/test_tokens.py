"""OAuth tokens kept in PostgreSQL: sealed at rest (nothing in clear, unreadable without the key),
refused without a key, and a key rotation that keeps every store's tokens readable throughout."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from storelink.cli.app import app
from storelink.database.keyring import Keyring, new_key
from storelink.database.postgres import Database
from storelink.database.tokens import StoredToken, TokenVault
from storelink.errors import ConnectorError, ErrorKind
from tests.support.postgres_server import SHARED_POSTGRES_URL, postgres_answers

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not postgres_answers(), reason="no PostgreSQL at 127.0.0.1:5432 (.ci/run starts one)"),
]

ACCESS, REFRESH = "ya29.access-secret-0001", "1//refresh-secret-0001"


def keys(*listed: str) -> Keyring:
    return Keyring(SecretStr(",".join(listed)))


def token(n: int) -> StoredToken:
    return StoredToken(f"{ACCESS}-{n}", f"{REFRESH}-{n}", 1_800_000_000.0 + n, "scope-a")


def raw_rows(database: Database) -> list[tuple[object, ...]]:
    with psycopg.connect(SHARED_POSTGRES_URL) as conn:
        return conn.execute(f'SELECT * FROM "{database.schema}".oauth_tokens').fetchall()  # noqa: S608


async def test_tokens_are_sealed_at_rest_and_unreadable_without_the_key(database: Database) -> None:
    old = new_key()
    vault = TokenVault(database, keys(old))
    for n, store in enumerate(("north", "south")):
        await vault.put(store=store, provider="google", identity="fp-1", token=token(n))
    assert await vault.get(store="south", provider="google", identity="fp-1") == token(1)

    stored = " ".join(str(value) for row in raw_rows(database) for value in row)
    assert ACCESS not in stored and REFRESH not in stored  # only sealed text in the table

    stranger = TokenVault(database, keys(new_key()))
    with pytest.raises(ConnectorError) as info:
        await stranger.get(store="north", provider="google", identity="fp-1")
    assert info.value.kind is ErrorKind.NOT_CONFIGURED and "rotate-key" in info.value.message
    assert old not in info.value.message


async def test_without_a_key_nothing_is_written_and_the_message_says_what_to_set(database: Database) -> None:
    vault = TokenVault(database, None)
    with pytest.raises(ConnectorError) as info:
        await vault.put(store="north", provider="zoho", identity="fp-1", token=token(0))
    assert "STORELINK_SECRET_KEY" in info.value.message and "storelink db new-key" in info.value.message
    await database.ensure_migrated()
    assert raw_rows(database) == []


async def test_rotating_the_key_keeps_every_store_readable(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = new_key(), new_key()
    stores = [f"store-{n}" for n in range(5)]
    before = TokenVault(database, keys(old))
    for n, store in enumerate(stores):
        await before.put(store=store, provider="google", identity="fp-1", token=token(n))

    # Step 1: the new key first, the old one after it. Old tokens open; new writes use the new key.
    during = TokenVault(database, keys(new, old))
    for n, store in enumerate(stores):
        assert await during.get(store=store, provider="google", identity="fp-1") == token(n)
    await during.put(store="store-0", provider="google", identity="fp-1", token=token(9))
    assert await TokenVault(database, keys(new)).get(store="store-0", provider="google", identity="fp-1") == token(9)

    # Step 2: `storelink db rotate-key` reseals every row with the new key.
    monkeypatch.setenv("STORELINK_DATABASE_URL", SHARED_POSTGRES_URL)
    monkeypatch.setenv("STORELINK_DATABASE_SCHEMA", database.schema)
    monkeypatch.setenv("STORELINK_SECRET_KEY", f"{new},{old}")
    rotated = await asyncio.to_thread(CliRunner().invoke, app, ["db", "rotate-key"])  # it runs its own loop
    assert rotated.exit_code == 0 and "Resealed 5 token row(s)" in rotated.stdout, rotated.output
    assert old not in rotated.output and new not in rotated.output

    # Step 3: the old key dropped. Every store's tokens still open.
    after = TokenVault(database, keys(new))
    assert [await after.get(store=s, provider="google", identity="fp-1") for s in stores] == [token(9)] + [
        token(n) for n in range(1, 5)
    ]
    assert await after.forget(store="store-1") == 1
    assert await after.get(store="store-1", provider="google", identity="fp-1") is None


def test_a_secret_key_that_is_not_a_fernet_key_is_refused_without_echoing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORELINK_SECRET_KEY", f"{new_key()},not-a-key-hunter2")
    result = CliRunner().invoke(app, ["db", "status"])
    assert result.exit_code == 2
    assert "key 2 is not a Fernet key" in result.output and "hunter2" not in result.output
