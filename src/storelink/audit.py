"""The audit log of write operations: :class:`AuditTrail`, in the embedded store or PostgreSQL.

Two tables, so that what was *asked* and what was *sent* are both on record:

``write_calls``
    one row per idempotency key: the logical call (connector, operation, a secret-free summary,
    a digest of its parameters), its final outcome and, when it succeeded, the result a replay
    returns. ``uses`` counts the times the key came back (replays and re-runs of a failed call).
``write_attempts``
    one row per request that reached the wire. It is written *before* the request is sent, with
    outcome ``unknown``, and settled after it; a process that dies mid-request therefore leaves
    ``unknown`` behind, which is the truth.

Outcomes mean the same in both tables:

* ``ok``: the upstream acted;
* ``failed``: the upstream certainly did not act (it refused: 4xx, 429, a local refusal, a
  connection that never opened);
* ``unknown``: it may have acted (a timeout, a 5xx, a connection that broke, a reply that did not
  parse). Such a call is never retried or replayed blindly.

Nothing here stores a URL, a header or a credential: Bing's API key travels in its URLs, and the
log must be safe to show (``storelink audit``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from storelink.store import EmbeddedStore
from storelink.stores import DEFAULT_STORE

__all__ = [
    "AuditAttempt",
    "AuditCall",
    "AuditTrail",
    "EmbeddedStatements",
    "Outcome",
    "Statements",
    "embedded_trail",
]

Outcome = Literal["ok", "failed", "unknown"]

_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS write_calls (
        idempotency_key  TEXT PRIMARY KEY,
        connector        TEXT NOT NULL,
        operation        TEXT NOT NULL,
        mode             TEXT NOT NULL,
        params_digest    TEXT NOT NULL,
        summary          TEXT NOT NULL,
        outcome          TEXT NOT NULL,
        error_kind       TEXT,
        error_message    TEXT,
        result           TEXT,
        started_at       REAL NOT NULL,
        finished_at      REAL,
        uses             INTEGER NOT NULL DEFAULT 1,
        replays          INTEGER NOT NULL DEFAULT 0,
        store            TEXT NOT NULL DEFAULT 'default'
    )
    """,
    "CREATE INDEX IF NOT EXISTS write_calls_started ON write_calls (started_at)",
    """
    CREATE TABLE IF NOT EXISTS write_attempts (
        id               INTEGER PRIMARY KEY AUTOINCREMENT,
        idempotency_key  TEXT NOT NULL,
        connector        TEXT NOT NULL,
        operation        TEXT NOT NULL,
        started_at       REAL NOT NULL,
        finished_at      REAL,
        outcome          TEXT NOT NULL,
        status           INTEGER,
        error_kind       TEXT,
        detail           TEXT,
        request_id       TEXT
    )
    """,
    "CREATE INDEX IF NOT EXISTS write_attempts_key ON write_attempts (idempotency_key)",
)

# The statements, in SQL that SQLite (3.35+) and PostgreSQL both take, `?` for parameters (the
# PostgreSQL trail swaps in `%s`): one text for both backends, so they cannot drift apart.
_CALL_COLUMNS = (
    "idempotency_key, connector, operation, mode, params_digest, summary, outcome, error_kind, "
    "error_message, result, started_at, finished_at, uses, replays, store"
)
_ATTEMPT_COLUMNS = (
    "id, idempotency_key, connector, operation, started_at, finished_at, outcome, status, error_kind, "
    "detail, request_id"
)
DETAIL_MAX = 500
# The primary key settles races between processes (and replicas): one claim wins, the others see it.
CLAIM = (
    "INSERT INTO write_calls (idempotency_key, connector, operation, mode, params_digest, summary, outcome, "
    "started_at, store) VALUES (?, ?, ?, ?, ?, ?, 'unknown', ?, ?) ON CONFLICT (idempotency_key) DO NOTHING"
)
RERUN = (
    "UPDATE write_calls SET outcome = 'unknown', error_kind = NULL, error_message = NULL, result = NULL, "
    "finished_at = NULL, started_at = ?, mode = ?, summary = ?, uses = uses + 1 WHERE idempotency_key = ?"
)
FINISH = (
    "UPDATE write_calls SET outcome = ?, error_kind = ?, error_message = ?, result = ?, finished_at = ? "
    "WHERE idempotency_key = ?"
)
NOTE_REPLAY = "UPDATE write_calls SET replays = replays + 1, uses = uses + 1 WHERE idempotency_key = ?"
SELECT_CALL = f"SELECT {_CALL_COLUMNS} FROM write_calls WHERE idempotency_key = ?"  # noqa: S608  (fixed columns)
BEGIN_ATTEMPT = (
    "INSERT INTO write_attempts (idempotency_key, connector, operation, started_at, outcome) "
    "VALUES (?, ?, ?, ?, 'unknown') RETURNING id"
)
END_ATTEMPT = (
    "UPDATE write_attempts SET outcome = ?, status = ?, error_kind = ?, detail = ?, request_id = ?, "
    "finished_at = ? WHERE id = ?"
)
SELECT_ATTEMPTS = f"SELECT {_ATTEMPT_COLUMNS} FROM write_attempts WHERE idempotency_key = ? ORDER BY id"  # noqa: S608


def finish_args(
    key: str, outcome: Outcome, error_kind: str | None, error_message: str | None, result: Any, now: float
) -> tuple[Any, ...]:
    return (
        outcome,
        error_kind,
        error_message[:DETAIL_MAX] if error_message else None,
        json.dumps(result, separators=(",", ":")) if result is not None else None,
        now,
        key,
    )


def select_recent(
    *, limit: int, connector: str | None, key: str | None, store: str | None, order: str
) -> tuple[str, tuple[Any, ...]]:
    """The latest calls first; ``order`` breaks ties of ``started_at`` by insertion (SQLite's
    ``rowid``, PostgreSQL's ``seq``)."""
    where, args = [], []
    for column, value in (("store", store), ("connector", connector), ("idempotency_key", key)):
        if value:
            where.append(f"{column} = ?")
            args.append(value)
    clause = f"WHERE {' AND '.join(where)} " if where else ""
    statement = f"SELECT {_CALL_COLUMNS} FROM write_calls {clause}ORDER BY started_at DESC, {order} DESC LIMIT ?"  # noqa: S608  (fixed strings)
    return statement, (*args, limit)


class AuditAttempt(BaseModel):
    """One request of a write that reached the wire."""

    id: int
    idempotency_key: str
    connector: str
    operation: str
    started_at: float = Field(description="Wall-clock seconds since the epoch, written before sending.")
    finished_at: float | None = Field(description="None while in flight (or if the process died mid-request).")
    outcome: Outcome
    status: int | None = None
    error_kind: str | None = None
    detail: str | None = None
    request_id: str | None = None


class AuditCall(BaseModel):
    """One logical write call: everything done under one idempotency key."""

    store: str = DEFAULT_STORE
    idempotency_key: str
    connector: str
    operation: str
    mode: str
    params_digest: str
    summary: str
    outcome: Outcome
    error_kind: str | None = None
    error_message: str | None = None
    result: Any = None
    started_at: float
    finished_at: float | None = None
    uses: int = 1
    replays: int = 0
    attempts: list[AuditAttempt] = Field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.finished_at is not None


def ensure_tables(store: EmbeddedStore) -> None:
    """The two audit tables in the embedded store, created or brought up to date."""
    for statement in _SCHEMA:
        store.db.execute(statement)
    columns = {row[1] for row in store.db.execute("PRAGMA table_info(write_calls)")}
    if "store" not in columns:  # a log written before stores: every call was the default store's
        store.db.execute("ALTER TABLE write_calls ADD COLUMN store TEXT NOT NULL DEFAULT 'default'")


def call_of(row: Sequence[Any]) -> AuditCall:
    (
        key,
        connector,
        operation,
        mode,
        digest,
        summary,
        outcome,
        kind,
        message,
        result,
        started,
        finished,
        uses,
        replays,
        store,
    ) = row
    return AuditCall(
        store=store,
        idempotency_key=key,
        connector=connector,
        operation=operation,
        mode=mode,
        params_digest=digest,
        summary=summary,
        outcome=outcome,
        error_kind=kind,
        error_message=message,
        result=json.loads(result) if result else None,
        started_at=started,
        finished_at=finished,
        uses=uses,
        replays=replays,
    )


def attempt_of(row: Sequence[Any]) -> AuditAttempt:
    (attempt_id, key, connector, operation, started, finished, outcome, status, kind, detail, request_id) = row
    return AuditAttempt(
        id=attempt_id,
        idempotency_key=key,
        connector=connector,
        operation=operation,
        started_at=started,
        finished_at=finished,
        outcome=outcome,
        status=status,
        error_kind=kind,
        detail=detail,
        request_id=request_id,
    )


class Statements(Protocol):
    """Where an :class:`AuditTrail` runs its statements: the embedded SQLite store
    (:class:`EmbeddedStatements`) or PostgreSQL (:class:`~storelink.database.audit.PostgresStatements`).
    One that cannot reach its database raises a ``ConnectorError`` (``unavailable``)."""

    backend: str
    insertion_order: str  # the column that orders rows as inserted: ``rowid`` or ``seq``

    async def execute(self, statement: str, args: Sequence[Any]) -> int:
        """Run ``statement`` (``?`` placeholders); the number of rows it changed."""
        ...

    async def fetchall(self, statement: str, args: Sequence[Any]) -> list[tuple[Any, ...]]: ...


class EmbeddedStatements:
    """The embedded store's SQLite: statements take microseconds on the event loop's thread."""

    backend = "sqlite"
    insertion_order = "rowid"

    def __init__(self, store: EmbeddedStore) -> None:
        ensure_tables(store)
        self.db = store.db

    async def execute(self, statement: str, args: Sequence[Any]) -> int:
        return self.db.execute(statement, tuple(args)).rowcount

    async def fetchall(self, statement: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        return list(self.db.execute(statement, tuple(args)).fetchall())


class AuditTrail:
    """The audit log as writes use it (async), whichever database keeps it: one implementation, the
    statements above, and a :class:`Statements` per backend, so SQLite and PostgreSQL cannot drift
    apart and the same tests run on both (``tests/database/``)."""

    def __init__(self, statements: Statements, *, wall: Callable[[], float] = time.time) -> None:
        self.statements = statements
        self.wall = wall

    @property
    def backend(self) -> str:
        return self.statements.backend

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
        if await self.statements.execute(CLAIM, args) == 1:
            return None
        return await self.call(key)

    async def rerun(self, key: str, *, mode: str, summary: str) -> None:
        await self.statements.execute(RERUN, (self.wall(), mode, summary[:DETAIL_MAX], key))

    async def finish(
        self,
        key: str,
        outcome: Outcome,
        *,
        error_kind: str | None = None,
        error_message: str | None = None,
        result: Any = None,
    ) -> None:
        await self.statements.execute(FINISH, finish_args(key, outcome, error_kind, error_message, result, self.wall()))

    async def note_replay(self, key: str) -> None:
        await self.statements.execute(NOTE_REPLAY, (key,))

    async def call(self, key: str, *, with_attempts: bool = False) -> AuditCall | None:
        rows = await self.statements.fetchall(SELECT_CALL, (key,))
        if not rows:
            return None
        call = call_of(rows[0])
        if with_attempts:
            call.attempts = await self.attempts(key)
        return call

    async def recent(
        self, *, limit: int = 50, connector: str | None = None, key: str | None = None, store: str | None = None
    ) -> list[AuditCall]:
        """The latest calls first, each with its attempts."""
        order = self.statements.insertion_order
        statement, args = select_recent(limit=limit, connector=connector, key=key, store=store, order=order)
        calls = [call_of(row) for row in await self.statements.fetchall(statement, args)]
        for call in calls:
            call.attempts = await self.attempts(call.idempotency_key)
        return calls

    async def attempts(self, key: str) -> list[AuditAttempt]:
        return [attempt_of(row) for row in await self.statements.fetchall(SELECT_ATTEMPTS, (key,))]

    async def count_attempts(self, *, connector: str | None = None, operation: str | None = None) -> int:
        where, args = [], []
        for column, value in (("connector", connector), ("operation", operation)):
            if value:
                where.append(f"{column} = ?")
                args.append(value)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        [(count,)] = await self.statements.fetchall(f"SELECT COUNT(*) FROM write_attempts{clause}", args)  # noqa: S608
        return int(count)

    async def begin_attempt(self, *, key: str, connector: str, operation: str) -> int:
        """Written before the request is sent: outcome ``unknown`` until :meth:`end_attempt`."""
        [(attempt_id,)] = await self.statements.fetchall(BEGIN_ATTEMPT, (key, connector, operation, self.wall()))
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
        args = (outcome, status, error_kind, detail, request_id, self.wall(), attempt_id)
        await self.statements.execute(END_ATTEMPT, args)


def embedded_trail(store: EmbeddedStore, *, wall: Callable[[], float] = time.time) -> AuditTrail:
    """The audit trail in the embedded store (one process, or replicas without PostgreSQL)."""
    return AuditTrail(EmbeddedStatements(store), wall=wall)
