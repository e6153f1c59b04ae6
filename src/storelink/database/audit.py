"""The write audit log in PostgreSQL: one trail for every replica (issue 17).

:class:`~storelink.audit.AuditTrail` runs the same statements on either backend (SQLite and
PostgreSQL both take them); here they run on a pooled connection in autocommit, with ``%s`` for
``?``. The claim is an ``INSERT … ON CONFLICT DO NOTHING`` on the key: the same logical write
arriving at two replicas is claimed by exactly one, and the other reads the claim (a replay, or
"still in progress").
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from storelink.audit import AuditTrail
from storelink.database.postgres import Database

__all__ = ["PostgresStatements", "postgres_trail"]


@cache
def _pg(statement: str) -> str:
    return statement.replace("?", "%s")


class PostgresStatements:
    """:class:`~storelink.audit.Statements` over a :class:`Database`, migrated before first use."""

    backend = "postgresql"
    insertion_order = "seq"

    def __init__(self, db: Database) -> None:
        self.db = db

    async def execute(self, statement: str, args: Sequence[Any]) -> int:
        await self.db.ensure_migrated()
        async with self.db.connection() as conn:
            cursor = await conn.execute(_pg(statement), args)
            return cursor.rowcount

    async def fetchall(self, statement: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        await self.db.ensure_migrated()
        async with self.db.connection() as conn:
            cursor = await conn.execute(_pg(statement), args)
            return list(await cursor.fetchall())


def postgres_trail(db: Database, *, wall: Callable[[], float] = time.time) -> AuditTrail:
    """The audit trail every replica shares."""
    return AuditTrail(PostgresStatements(db), wall=wall)
