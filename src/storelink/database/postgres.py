"""The PostgreSQL pool, the schema's migrations, and the database's state for health and pages.

Migrations are plain numbered SQL files (``migrations/NNNN_name.sql``) applied in order, each in
its own transaction, the applied versions kept in ``schema_migrations``. Why not Alembic:
storelink has no ORM and a few tables, so Alembic would bring SQLAlchemy for what a version table
and a loop do, and SQL files are reviewed exactly as they run. Replicas that start together take
one advisory lock, so one applies a migration and the others find it applied.

The pool opens without waiting for the database: a replica starts while PostgreSQL is down, what
needs the database is refused with a clear error meanwhile (:meth:`Database.connection`), and the
pool reconnects by itself when it answers again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import psycopg
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from psycopg import sql
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from storelink.errors import ConnectorError, ErrorKind
from storelink.observability.metrics import Metrics
from storelink.settings import Settings

__all__ = ["CONNECT_TIMEOUT_S", "Database", "DatabaseStatus", "Migration", "migrations", "open_database"]

log = logging.getLogger("storelink.database")

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# How long a caller waits for a connection before it is told the database is unavailable: short,
# because what waits is a request (a write refused is better than a write that hangs).
CONNECT_TIMEOUT_S = 2.0
# After a failure, how long what can go without the database (session checks) does not wait for it.
FAIL_FAST_S = 10.0
# pg_advisory_xact_lock key for migrations ("storelink" as a number): one replica migrates at a time.
_MIGRATION_LOCK = 0x73746F72656C6E6B
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


@cache
def migrations() -> tuple[Migration, ...]:
    """Every migration shipped with the package, in order."""
    found = []
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise RuntimeError(f"migration file {path.name} is not named NNNN_name.sql")
        found.append(Migration(int(match.group(1)), match.group(2), path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations must be numbered 1..N without gaps; found {versions}")
    return tuple(found)


@dataclass(frozen=True, slots=True)
class DatabaseStatus:
    """What health, metrics and the dashboard say about the database. Never carries the URL."""

    reachable: bool
    schema: str
    version: int | None = None  # the latest migration applied; None when unreachable or never migrated
    latest: int = field(default_factory=lambda: len(migrations()))
    error: str | None = None

    @property
    def pending(self) -> list[str]:
        applied = self.version or 0
        return [f"{m.version:04d}_{m.name}" for m in migrations() if m.version > applied]

    @property
    def ready(self) -> bool:
        return self.reachable and not self.pending

    @property
    def message(self) -> str:
        if not self.reachable:
            return f"PostgreSQL: not answering; writes are refused until it does. {self.error or ''}".strip()
        if self.pending:
            return f"PostgreSQL: answering, schema {self.schema} lacks {', '.join(self.pending)}."
        return f"PostgreSQL: answering, schema {self.schema} at version {self.version}."

    def to_json(self) -> dict[str, object]:
        return {
            "reachable": self.reachable,
            "schema": self.schema,
            "version": self.version,
            "pending": self.pending,
            "error": self.error,
        }


class Database:
    """A pool of connections to one schema of one PostgreSQL database."""

    def __init__(
        self,
        url: str,
        *,
        schema: str,
        min_size: int = 1,
        max_size: int = 8,
        timeout_s: float = CONNECT_TIMEOUT_S,
    ) -> None:
        self.schema = schema
        self.timeout_s = timeout_s
        self._migrated = False
        self._migrating = asyncio.Lock()
        # What the last use found, for health, metrics and pages without a round trip of their own.
        self.answering: bool | None = None
        self.failures = 0
        self.last_error: str | None = None
        self._failed_at = float("-inf")  # monotonic
        self.pool = AsyncConnectionPool(
            url,
            open=False,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout_s,
            # A connection the database dropped (a restart) is found at checkout, not by a request.
            check=AsyncConnectionPool.check_connection,
            kwargs={
                "autocommit": True,
                "connect_timeout": max(1, round(timeout_s)),
                "options": f"-c search_path={schema}",
            },
            name="storelink",
        )

    async def open(self) -> None:
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.pool.close()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[tuple[object, ...]]]:
        """A connection, or ``ConnectorError(unavailable)`` saying the database did not answer."""
        try:
            async with self.pool.connection() as conn:
                self.answering = True
                yield conn
        except (PoolTimeout, psycopg.OperationalError) as exc:
            error = self.unavailable(exc)
            self.answering, self.last_error = False, error.message
            self.failures += 1
            self._failed_at = time.monotonic()
            raise error from None

    def fail_fast(self, within_s: float = FAIL_FAST_S) -> None:
        """Raise at once if the database did not answer within the last ``within_s``: for what runs
        on every page view and may go without it, rather than wait for a connection each time."""
        if self.answering is False and time.monotonic() - self._failed_at < within_s:
            raise ConnectorError(
                ErrorKind.UNAVAILABLE, self.last_error or "PostgreSQL is not answering.", retryable=True
            )

    def unavailable(self, exc: BaseException) -> ConnectorError:
        # psycopg's messages name host and port, never the password; the class says enough.
        reason = "no connection within the time limit" if isinstance(exc, PoolTimeout) else type(exc).__name__
        return ConnectorError(
            ErrorKind.UNAVAILABLE,
            f"PostgreSQL (STORELINK_DATABASE_URL) did not answer ({reason}). Check that it is running and "
            "reachable; storelink reconnects by itself when it answers.",
            retryable=True,
        )

    # -- migrations --------------------------------------------------------------------------------
    async def ensure_migrated(self) -> list[str]:
        """Apply pending migrations once per process: at start when the database answers, else before
        its first use. Returns what this call applied."""
        if self._migrated:
            return []
        async with self._migrating:
            if self._migrated:
                return []
            applied = await self.migrate()
            self._migrated = True
            return applied

    async def migrate(self) -> list[str]:
        """Apply every migration not yet applied; returns their names."""
        applied: list[str] = []
        async with self.connection() as conn:
            schema = sql.Identifier(self.schema)
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                await conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema))
                await conn.execute(
                    sql.SQL(
                        "CREATE TABLE IF NOT EXISTS {}.schema_migrations (version integer PRIMARY KEY, "
                        "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
                    ).format(schema)
                )
                current = await self._version(conn)
                for migration in migrations():
                    if migration.version <= current:
                        continue
                    async with conn.transaction():  # a savepoint: a failing file leaves nothing half done
                        await conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(schema))
                        await conn.execute(migration.sql.encode())
                        await conn.execute(
                            sql.SQL("INSERT INTO {}.schema_migrations (version, name) VALUES (%s, %s)").format(schema),
                            (migration.version, migration.name),
                        )
                    applied.append(f"{migration.version:04d}_{migration.name}")
        return applied

    async def _version(self, conn: psycopg.AsyncConnection[tuple[object, ...]]) -> int:
        cursor = await conn.execute(
            sql.SQL("SELECT coalesce(max(version), 0) FROM {}.schema_migrations").format(sql.Identifier(self.schema))
        )
        row = await cursor.fetchone()
        return int(str(row[0])) if row else 0

    def last_known(self) -> DatabaseStatus:
        """The state as the last use found it (no round trip): for pages and metrics polled often."""
        version = len(migrations()) if self._migrated else None
        return DatabaseStatus(
            reachable=self.answering is not False,
            schema=self.schema,
            version=version,
            error=self.last_error if self.answering is False else None,
        )

    async def status(self) -> DatabaseStatus:
        try:
            async with self.connection() as conn:
                cursor = await conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{self.schema}.schema_migrations",))
                row = await cursor.fetchone()
                version = await self._version(conn) if row and row[0] else 0
        except ConnectorError as err:
            return DatabaseStatus(reachable=False, schema=self.schema, error=err.message)
        return DatabaseStatus(reachable=True, schema=self.schema, version=version)

    async def applied(self) -> list[tuple[int, str, dt.datetime]]:
        """The migrations recorded as applied, oldest first."""
        async with self.connection() as conn:
            cursor = await conn.execute(
                sql.SQL("SELECT version, name, applied_at FROM {}.schema_migrations ORDER BY version").format(
                    sql.Identifier(self.schema)
                )
            )
            rows = await cursor.fetchall()
        return [(int(str(v)), str(n), a) for v, n, a in rows if isinstance(a, dt.datetime)]


class DatabaseCollector(Collector):
    """Exports :meth:`Database.last_known` at scrape time."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def collect(self) -> Iterable[Metric]:
        status = self.database.last_known()
        up = GaugeMetricFamily(
            "storelink_database_up", "1 while PostgreSQL answered its last use; 0 while writes are refused."
        )
        up.add_metric([], 1.0 if status.reachable else 0.0)
        failures = CounterMetricFamily(
            "storelink_database_failures", "Uses of PostgreSQL that found it not answering, since start."
        )
        failures.add_metric([], float(self.database.failures))
        yield from (up, failures)


@asynccontextmanager
async def open_database(settings: Settings, *, metrics: Metrics | None = None) -> AsyncIterator[Database | None]:
    """The deployment's PostgreSQL, migrated, when ``STORELINK_DATABASE_URL`` is set (else None). A
    database that does not answer at start is not fatal: it is migrated on first use."""
    url = settings.database_url
    if url is None:
        yield None
        return
    database = Database(url.get_secret_value(), schema=settings.database_schema)
    collector = DatabaseCollector(database)
    if metrics is not None:
        metrics.registry.register(collector)
    await database.open()
    try:
        try:
            applied = await database.ensure_migrated()
        except ConnectorError as err:
            log.warning("%s Writes that need the audit log are refused until it does.", err.message)
        else:
            if applied:
                log.info("PostgreSQL schema %s: applied %s", database.schema, ", ".join(applied))
        yield database
    finally:
        if metrics is not None:
            metrics.registry.unregister(collector)
        await database.close()
