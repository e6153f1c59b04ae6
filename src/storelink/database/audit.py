"""The write audit log in PostgreSQL: one trail for every replica (issue 17).

The statements are :mod:`storelink.audit`'s own, which SQLite and PostgreSQL both take, so the two
backends cannot drift apart; only the placeholder differs (``?`` there, ``%s`` here). The claim is
an ``INSERT … ON CONFLICT DO NOTHING`` on the key: the same logical write arriving at two replicas
is claimed by exactly one, and the other reads the claim (a replay, or "still in progress").
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from storelink.audit import (
    BEGIN_ATTEMPT,
    CLAIM,
    DETAIL_MAX,
    END_ATTEMPT,
    FINISH,
    NOTE_REPLAY,
    RERUN,
    SELECT_ATTEMPTS,
    SELECT_CALL,
    AuditAttempt,
    AuditCall,
    Outcome,
    attempt_of,
    call_of,
    finish_args,
    select_recent,
)
from storelink.database.postgres import Database
from storelink.stores import DEFAULT_STORE

__all__ = ["PostgresAuditTrail"]


@cache
def _pg(statement: str) -> str:
    return statement.replace("?", "%s")


class PostgresAuditTrail:
    """:class:`~storelink.audit.AuditTrail` over a :class:`Database`; each method is one or two
    statements on a pooled connection in autocommit."""

    backend = "postgresql"

    def __init__(self, db: Database, *, wall: Callable[[], float] = time.time) -> None:
        self.db = db
        self.wall = wall

    async def _execute(self, statement: str, args: Sequence[Any]) -> int:
        await self.db.ensure_migrated()
        async with self.db.connection() as conn:
            cursor = await conn.execute(_pg(statement), args)
            return cursor.rowcount

    async def _fetchall(self, statement: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        await self.db.ensure_migrated()
        async with self.db.connection() as conn:
            cursor = await conn.execute(_pg(statement), args)
            return list(await cursor.fetchall())

    async def claim(
        self,
        *,
        key: str,
        connector: str,
        operation: str,
        mode: str,
        params_digest: str,
        summary: str,
        store: str = DEFAULT_STORE,
    ) -> AuditCall | None:
        args = (key, connector, operation, mode, params_digest, summary[:DETAIL_MAX], self.wall(), store)
        if await self._execute(CLAIM, args) == 1:
            return None
        return await self.call(key)

    async def rerun(self, key: str, *, mode: str, summary: str) -> None:
        await self._execute(RERUN, (self.wall(), mode, summary[:DETAIL_MAX], key))

    async def finish(
        self,
        key: str,
        outcome: Outcome,
        *,
        error_kind: str | None = None,
        error_message: str | None = None,
        result: Any = None,
    ) -> None:
        await self._execute(FINISH, finish_args(key, outcome, error_kind, error_message, result, self.wall()))

    async def note_replay(self, key: str) -> None:
        await self._execute(NOTE_REPLAY, (key,))

    async def call(self, key: str, *, with_attempts: bool = False) -> AuditCall | None:
        rows = await self._fetchall(SELECT_CALL, (key,))
        if not rows:
            return None
        call = call_of(rows[0])
        if with_attempts:
            call.attempts = await self.attempts(key)
        return call

    async def recent(
        self, *, limit: int = 50, connector: str | None = None, key: str | None = None, store: str | None = None
    ) -> list[AuditCall]:
        statement, args = select_recent(limit=limit, connector=connector, key=key, store=store, order="seq")
        calls = [call_of(row) for row in await self._fetchall(statement, args)]
        for call in calls:
            call.attempts = await self.attempts(call.idempotency_key)
        return calls

    async def attempts(self, key: str) -> list[AuditAttempt]:
        return [attempt_of(row) for row in await self._fetchall(SELECT_ATTEMPTS, (key,))]

    async def begin_attempt(self, *, key: str, connector: str, operation: str) -> int:
        [(attempt_id,)] = await self._fetchall(BEGIN_ATTEMPT, (key, connector, operation, self.wall()))
        return int(attempt_id)

    async def end_attempt(
        self,
        attempt_id: int,
        outcome: Outcome,
        *,
        status: int | None = None,
        error_kind: str | None = None,
        detail: str | None = None,
        request_id: str | None = None,
    ) -> None:
        detail = detail[:DETAIL_MAX] if detail else None
        await self._execute(END_ATTEMPT, (outcome, status, error_kind, detail, request_id, self.wall(), attempt_id))
