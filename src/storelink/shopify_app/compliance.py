"""Shopify's mandatory compliance topics, done to everything storelink keeps about a store.

What storelink keeps of a shop's customers: upstream responses in the response cache (embedded
SQLite and Redis), which every insight is computed from (insights keep no table of their own); the
write audit (``write_calls`` summaries and results, ``write_attempts`` details), in the embedded
store and in PostgreSQL; nothing else on purpose. Rather than a list of those places, which would
go stale as tables are added, redaction walks every table of both databases (their catalogues) and
every text column in them:

``customers/redact``
    the customer's identifiers (e-mail, phone, ``gid://shopify/Customer/<id>`` and the gids of
    ``orders_to_redact``) are replaced by ``[redacted]`` wherever they occur, in rows of that store
    where a table has a ``store`` column and in every row of a table without one; cache entries of
    that store holding any of them are deleted (a cache can refetch; half a response cannot serve).
``shop/redact``
    every row of that store is deleted from every table with a ``store`` column, and its cache.
``customers/data_request``
    the same walk, reading instead of writing: a report of where the customer's identifiers occur
    (table, column, rows), logged and kept as JSON in ``storelink_state`` under
    ``compliance:data_request:<shop>:<request id>``, for the merchant to be sent on request
    (Shopify asks the app to provide the data to the merchant; it does not say how).

Bare numeric ids are never searched for: ``123`` would match unrelated numbers everywhere.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg import sql

from storelink.database.postgres import Database
from storelink.resilience.cache import ResponseCache
from storelink.store import EmbeddedStore

__all__ = ["REDACTED", "Compliance", "Found", "customer_needles"]

log = logging.getLogger("storelink.shopify_app")

REDACTED = "[redacted]"
CACHE_TABLE = "http_cache"
_TEXT_SQLITE = ("", "TEXT", "CHAR", "CLOB", "BLOB")  # declared types whose values may hold text
_TEXT_PG = ("text", "character varying")
_STATE = "CREATE TABLE IF NOT EXISTS storelink_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)"


def customer_needles(payload: Mapping[str, Any]) -> list[str]:
    """The strings that identify the customer of a compliance payload (never bare numbers)."""
    customer = payload.get("customer") or {}
    found: list[str] = []
    for name in ("email", "phone"):
        value = customer.get(name) if isinstance(customer, Mapping) else None
        if isinstance(value, str) and len(value.strip()) >= 5:
            found.append(value.strip())
    customer_id = customer.get("id") if isinstance(customer, Mapping) else None
    if isinstance(customer_id, int | str) and str(customer_id).strip():
        found.append(f"gid://shopify/Customer/{customer_id}")
    for key in ("orders_to_redact", "orders_requested"):
        for order in payload.get(key) or []:
            if isinstance(order, int | str) and str(order).strip():
                found.append(f"gid://shopify/Order/{order}")
    return found


@dataclass
class Found:
    """Where a customer's identifiers occur: ``table.column`` -> rows."""

    places: dict[str, int] = field(default_factory=dict)

    def add(self, where: str, rows: int) -> None:
        if rows:
            self.places[where] = self.places.get(where, 0) + rows

    @property
    def rows(self) -> int:
        return sum(self.places.values())


class Compliance:
    """Does the compliance topics to the embedded store, the response cache and PostgreSQL."""

    def __init__(self, store: EmbeddedStore, cache: ResponseCache, database: Database | None = None) -> None:
        self.store = store
        self.cache = cache
        self.database = database

    # -- the topics ---------------------------------------------------------------------------
    async def data_request(self, shop: str, store_id: str, payload: Mapping[str, Any]) -> Found:
        needles = customer_needles(payload)
        found = Found()
        self.cache.flush()
        for table, columns, scoped in _sqlite_tables(self.store.db):
            for column in columns:
                found.add(f"{table}.{column}", _sqlite_count(self.store.db, table, column, needles, store_id, scoped))
        if self.database is not None:
            await self._postgres(needles, store_id, found, write=False)
        request = payload.get("data_request") or {}
        request_id = request.get("id", "") if isinstance(request, Mapping) else ""
        report = {"shop": shop, "store": store_id, "request": request_id, "found": found.places}
        self.store.db.execute(_STATE)
        self.store.db.execute(
            "INSERT OR REPLACE INTO storelink_state (key, value) VALUES (?, ?)",
            (f"compliance:data_request:{shop}:{request_id}", json.dumps(report)),
        )
        log.info("customers/data_request for %s (store %s): %d row(s) hold the customer", shop, store_id, found.rows)
        return found

    async def redact_customer(self, store_id: str, payload: Mapping[str, Any]) -> Found:
        needles = customer_needles(payload)
        found = Found()
        if not needles:
            return found
        found.add(CACHE_TABLE, self.cache.forget(store_id, containing=needles))
        for table, columns, scoped in _sqlite_tables(self.store.db):
            if table == CACHE_TABLE:
                continue
            for column in columns:
                found.add(f"{table}.{column}", _sqlite_redact(self.store.db, table, column, needles, store_id, scoped))
        if self.database is not None:
            await self._postgres(needles, store_id, found, write=True)
        log.info("customers/redact for store %s: %d value(s) redacted", store_id, found.rows)
        return found

    async def redact_shop(self, store_id: str) -> Found:
        found = Found()
        found.add(CACHE_TABLE, self.cache.forget(store_id))
        for table, _, scoped in _sqlite_tables(self.store.db):
            if scoped and table != CACHE_TABLE:
                cursor = self.store.db.execute(f'DELETE FROM "{table}" WHERE store = ?', (store_id,))  # noqa: S608
                found.add(table, cursor.rowcount)
        if self.database is not None:
            await self.database.ensure_migrated()
            async with self.database.connection() as conn:
                for table, _, scoped in await _postgres_tables(conn, self.database.schema):
                    if scoped:
                        query = sql.SQL("DELETE FROM {} WHERE store = %s").format(sql.Identifier(table))
                        found.add(f"pg:{table}", (await conn.execute(query, (store_id,))).rowcount)
        log.info("shop/redact for store %s: %d row(s) deleted", store_id, found.rows)
        return found

    async def _postgres(self, needles: Sequence[str], store_id: str, found: Found, *, write: bool) -> None:
        assert self.database is not None
        await self.database.ensure_migrated()
        async with self.database.connection() as conn:
            for table, columns, scoped in await _postgres_tables(conn, self.database.schema):
                for column in columns:
                    for needle in needles:
                        where = sql.SQL("strpos({}, %s) > 0").format(sql.Identifier(column))
                        args: list[object] = [needle]
                        if scoped:
                            where = sql.SQL("{} AND store = %s").format(where)
                            args.append(store_id)
                        if write:
                            query = sql.SQL("UPDATE {} SET {} = replace({}, %s, %s) WHERE {}").format(
                                sql.Identifier(table), sql.Identifier(column), sql.Identifier(column), where
                            )
                            cursor = await conn.execute(query, (needle, REDACTED, *args))
                            found.add(f"pg:{table}.{column}", cursor.rowcount)
                        else:
                            query = sql.SQL("SELECT count(*) FROM {} WHERE {}").format(sql.Identifier(table), where)
                            row = await (await conn.execute(query, args)).fetchone()
                            found.add(f"pg:{table}.{column}", int(row[0]) if row else 0)  # type: ignore[call-overload]


# -- the catalogues ----------------------------------------------------------------------------
def _sqlite_tables(db: sqlite3.Connection) -> Iterable[tuple[str, list[str], bool]]:
    """Every table of the embedded store: its name, its text-holding columns, whether it has ``store``."""
    names = [
        n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    ]
    for name in names:
        info = list(db.execute(f'PRAGMA table_info("{name}")'))
        columns = [row[1] for row in info if any(t in str(row[2]).upper() for t in _TEXT_SQLITE if t) or not row[2]]
        yield name, [c for c in columns if c != "store"], any(row[1] == "store" for row in info)


def _sqlite_where(column: str, needles: Sequence[str], store_id: str, scoped: bool) -> tuple[str, list[object]]:
    # CAST: a BLOB column (a cached body) is searched as text, as it was written.
    match = " OR ".join(f'instr(CAST("{column}" AS TEXT), ?) > 0' for _ in needles)
    args: list[object] = list(needles)
    where = f"({match})"
    if scoped:
        where += " AND store = ?"
        args.append(store_id)
    return where, args


def _sqlite_count(
    db: sqlite3.Connection, table: str, column: str, needles: Sequence[str], store_id: str, scoped: bool
) -> int:
    if not needles:
        return 0
    where, args = _sqlite_where(column, needles, store_id, scoped)
    row = db.execute(f'SELECT count(*) FROM "{table}" WHERE {where}', args).fetchone()  # noqa: S608
    return int(row[0]) if row else 0


def _sqlite_redact(
    db: sqlite3.Connection, table: str, column: str, needles: Sequence[str], store_id: str, scoped: bool
) -> int:
    changed = 0
    for needle in needles:
        where, args = _sqlite_where(column, [needle], store_id, scoped)
        cursor = db.execute(
            f'UPDATE "{table}" SET "{column}" = replace(CAST("{column}" AS TEXT), ?, ?) WHERE {where}',  # noqa: S608
            [needle, REDACTED, *args],
        )
        changed += cursor.rowcount
    return changed


async def _postgres_tables(conn: Any, schema: str) -> list[tuple[str, list[str], bool]]:
    """Every table of the schema, from ``information_schema``: name, text columns, has ``store``."""
    cursor = await conn.execute(
        "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c "
        "JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name "
        "WHERE c.table_schema = %s AND t.table_type = 'BASE TABLE' ORDER BY c.table_name, c.ordinal_position",
        (schema,),
    )
    tables: dict[str, tuple[list[str], bool]] = {}
    for table, column, data_type in await cursor.fetchall():
        columns, scoped = tables.get(table, ([], False))
        if column == "store":
            scoped = True
        elif data_type in _TEXT_PG:
            columns.append(column)
        tables[table] = (columns, scoped)
    return [(name, columns, scoped) for name, (columns, scoped) in tables.items()]
