"""Compliance topics over everything storelink keeps: the test reads every table the databases list
(their catalogues, not a list kept here) and finds none of the redacted customer."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
import redis

from storelink.audit import embedded_trail
from storelink.database.postgres import Database
from storelink.fakes.data.entities import Customer
from storelink.resilience.redis_cache import RedisResponseCache
from storelink.resilience.redis_health import RedisHealth
from storelink.runtime import Runtime, open_runtime
from storelink.shopify_app.compliance import REDACTED, Compliance, customer_needles
from storelink.store import EmbeddedStore
from tests.conftest import make_settings
from tests.support.redis_server import SHARED_REDIS_URL, drop_prefix, redis_answers

needs_redis = pytest.mark.skipif(not redis_answers(SHARED_REDIS_URL), reason="no Redis answers on 127.0.0.1:6379")


@dataclass
class Kept:
    runtime: Runtime
    customer: Customer
    other: Customer

    @property
    def payload(self) -> dict[str, Any]:
        c = self.customer
        return {"shop_domain": "north.myshopify.com", "customer": {"id": c.id, "email": c.email, "phone": c.phone}}

    @property
    def needles(self) -> list[str]:
        return customer_needles(self.payload)


@pytest.fixture
async def kept(tmp_path: Path) -> AsyncIterator[Kept]:
    """A store that read its customers and orders (cached), wrote an audit row naming a customer,
    and holds a table compliance has never heard of."""
    async with open_runtime(make_settings(tmp_path, mcp_force_mocks=True)) as runtime:
        shopify = runtime.registry.get("shopify")
        fake = runtime.fakes["shopify"]
        customer = next(c for c in fake.store.customers if c.phone)  # type: ignore[attr-defined]
        other = next(c for c in fake.store.customers if c.id != customer.id)  # type: ignore[attr-defined]
        await shopify.call("shop_info", {})  # a real cached read (no customer in it)
        for key, store, who in (("k-north", runtime.config.id, customer), ("k-south", "south", other)):
            # A cached customers read, as Shopify answers it (today's operations cache no customer
            # read, but the cache is a place the data could be, so redaction must look there).
            node = {"id": f"gid://shopify/Customer/{who.id}", "email": who.email, "phone": who.phone}
            body = json.dumps({"data": {"customers": {"edges": [{"node": node}]}}}).encode()
            runtime.cache.put(
                key, connector="shopify", response=httpx2.Response(200, content=body), ttl_s=300, store=store
            )
        runtime.cache.flush()
        trail = embedded_trail(runtime.store)
        await trail.claim(  # what a write about the customer leaves in the audit
            key="k-1",
            connector="shopify",
            operation="tag_customer",
            mode="mock",
            params_digest="d",
            summary=f"tag {customer.email} ({customer.phone}) vip",
            store=runtime.config.id,
        )
        runtime.store.db.execute("CREATE TABLE notes (store TEXT, body TEXT)")  # a table added later
        runtime.store.db.execute(
            "INSERT INTO notes VALUES (?, ?), (?, ?)",
            (runtime.config.id, f"call {customer.email}", runtime.config.id, f"call {other.email}"),
        )
        yield Kept(runtime, customer, other)


def occurrences(db: sqlite3.Connection, needles: list[str]) -> dict[str, int]:
    """Every table and column of the embedded store holding any of ``needles`` (from sqlite_master)."""
    found: dict[str, int] = {}
    for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"):
        for column in [row[1] for row in db.execute(f'PRAGMA table_info("{table}")')]:
            for needle in needles:
                rows = db.execute(
                    f'SELECT count(*) FROM "{table}" WHERE instr(CAST("{column}" AS TEXT), ?) > 0',  # noqa: S608
                    (needle,),
                ).fetchone()[0]
                if rows:
                    found[f"{table}.{column}"] = found.get(f"{table}.{column}", 0) + rows
    return found


async def test_customers_redact_leaves_none_of_the_customer_in_any_table(kept: Kept) -> None:
    db = kept.runtime.store.db
    before = occurrences(db, kept.needles)
    assert {"http_cache.body", "write_calls.summary", "notes.body"} <= set(before)  # the test can fail
    compliance = Compliance(kept.runtime.store, kept.runtime.cache)
    done = await compliance.redact_customer(kept.runtime.config.id, kept.payload)
    assert occurrences(db, kept.needles) == {}
    assert done.rows >= 3
    assert db.execute("SELECT summary FROM write_calls").fetchone()[0] == f"tag {REDACTED} ({REDACTED}) vip"
    assert occurrences(db, [kept.other.email])  # the other customer is still there


async def test_data_request_reports_where_the_customer_is_and_changes_nothing(kept: Kept) -> None:
    db = kept.runtime.store.db
    before = occurrences(db, kept.needles)
    compliance = Compliance(kept.runtime.store, kept.runtime.cache)
    payload = {**kept.payload, "data_request": {"id": 9}}
    found = await compliance.data_request("north.myshopify.com", kept.runtime.config.id, payload)
    assert {"http_cache.body", "write_calls.summary", "notes.body"} <= set(found.places)
    report = db.execute("SELECT value FROM storelink_state WHERE key = 'compliance:data_request:north.myshopify.com:9'")
    assert json.loads(report.fetchone()[0])["found"] == found.places
    assert {k: v for k, v in occurrences(db, kept.needles).items() if not k.startswith("storelink_state")} == before


async def test_shop_redact_deletes_the_store_s_rows_and_keeps_other_stores(kept: Kept) -> None:
    db = kept.runtime.store.db
    db.execute("INSERT INTO notes VALUES ('south', 'kept')")
    compliance = Compliance(kept.runtime.store, kept.runtime.cache)
    await compliance.redact_shop(kept.runtime.config.id)
    store = kept.runtime.config.id
    for table in ("http_cache", "write_calls", "notes"):
        assert db.execute(f"SELECT count(*) FROM {table} WHERE store = ?", (store,)).fetchone() == (0,)  # noqa: S608
    assert db.execute("SELECT body FROM notes").fetchall() == [("kept",)]


@pytest.mark.slow
async def test_customers_redact_in_postgresql_leaves_none_in_any_table(kept: Kept, database: Database) -> None:
    await database.migrate()
    email, phone = kept.customer.email, kept.customer.phone or ""
    async with database.connection() as conn:
        await conn.execute(
            "INSERT INTO write_calls (idempotency_key, connector, operation, mode, params_digest, summary, outcome, "
            "started_at, store, result) VALUES ('k-1', 'shopify', 'tag_customer', 'mock', 'd', %s, 'ok', 0, %s, %s)",
            (f"tag {email}", kept.runtime.config.id, json.dumps({"email": email, "phone": phone})),
        )
        await conn.execute(
            "INSERT INTO write_attempts (idempotency_key, connector, operation, started_at, outcome, detail) "
            "VALUES ('k-1', 'shopify', 'tag_customer', 0, 'ok', %s)",
            (f"sent for {email}",),
        )
    compliance = Compliance(kept.runtime.store, kept.runtime.cache, database)
    await compliance.redact_customer(kept.runtime.config.id, kept.payload)
    async with database.connection() as conn:
        columns = await (
            await conn.execute(
                "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s "
                "AND data_type IN ('text', 'character varying')",
                (database.schema,),
            )
        ).fetchall()
        assert ("write_calls", "summary") in columns and ("write_attempts", "detail") in columns
        for table, column in columns:
            for needle in kept.needles:
                row = await (
                    await conn.execute(
                        f'SELECT count(*) FROM "{table}" WHERE strpos("{column}", %s) > 0',  # noqa: S608
                        (needle,),
                    )
                ).fetchone()
                assert row == (0,), f"{table}.{column} still holds the customer"
    assert occurrences(kept.runtime.store.db, kept.needles) == {}


@needs_redis
async def test_with_replicas_sharing_redis_the_cache_is_redacted_and_expired_per_store(
    prefix: str, clients: list[redis.Redis]
) -> None:
    """Replica a redacts and expires; replica b, reading Redis, no longer finds the customer and
    finds only that store's entries stale."""
    a, b = replica_cache(prefix, clients), replica_cache(prefix, clients)
    email = "ada@example.org"
    holding = json.dumps({"data": {"customers": {"edges": [{"node": {"email": email}}]}}}).encode()
    a.put("north-1", connector="shopify", response=httpx2.Response(200, content=holding), ttl_s=300, store="north")
    a.put("north-2", connector="shopify", response=httpx2.Response(200, content=b"{}"), ttl_s=300, store="north")
    a.put("south-1", connector="shopify", response=httpx2.Response(200, content=holding), ttl_s=300, store="south")
    a.flush()
    payload = {"customer": {"id": 1, "email": email}}
    await Compliance(EmbeddedStore(None), a).redact_customer("north", payload)
    assert b.get("north-1") is None  # gone from Redis, for every replica
    assert b.get("north-2") is not None and b.get("south-1") is not None  # other entries, other stores
    a.expire("shopify", store="south")
    south, north = b.get("south-1"), b.get("north-2")
    assert south is not None and not south.fresh(b.now())
    assert north is not None and north.fresh(b.now())
    await Compliance(EmbeddedStore(None), a).redact_shop("south")
    assert b.get("south-1") is None


@pytest.fixture
def prefix() -> Iterator[str]:
    prefix = f"storelink-test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    drop_prefix(SHARED_REDIS_URL, prefix)


@pytest.fixture
def clients() -> Iterator[list[redis.Redis]]:
    opened: list[redis.Redis] = []
    yield opened
    for client in opened:
        client.close()


def replica_cache(prefix: str, clients: list[redis.Redis]) -> RedisResponseCache:
    """One replica's cache: its own client, its own embedded fallback."""
    client = redis.Redis.from_url(SHARED_REDIS_URL, socket_timeout=0.25, socket_connect_timeout=0.25)
    clients.append(client)
    return RedisResponseCache(EmbeddedStore(None), client, health=RedisHealth(), prefix=prefix)
