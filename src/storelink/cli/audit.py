"""``storelink audit``: the write audit log, newest first.

Wire it with ``app.command("audit")(audit)``. Reads the one trail in PostgreSQL when
``STORELINK_DATABASE_URL`` is set, else the embedded store under ``STORELINK_DATA_DIR``, without
opening connectors, so it works while writes are off and with no
credentials. Nothing it prints is secret: the log holds no URL, header or credential.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from typing import Annotated

import typer
from pydantic import ValidationError

from storelink.audit import AuditCall, embedded_trail
from storelink.cli.output import Table, console
from storelink.database.audit import postgres_trail
from storelink.database.postgres import Database
from storelink.errors import ConnectorError
from storelink.settings import Settings, load_settings
from storelink.store import EmbeddedStore
from storelink.stores import DEFAULT_STORE

__all__ = ["audit", "describe_outcome"]

_COLOURS = {"ok": "green", "failed": "yellow", "unknown": "red"}


def _when(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def describe_outcome(call: AuditCall) -> str:
    """``unknown`` while in flight reads differently from ``unknown`` after the fact."""
    if not call.finished:
        return "in flight (unknown)"
    return call.outcome


def stored_key(key: str | None, store: str | None) -> str | None:
    """A key as the log keeps it: another store's behind its id (connectors/writes.py)."""
    if key is None or store in (None, DEFAULT_STORE):
        return key
    return f"{store}|{key}"


def audit(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON: calls with their attempts.")] = False,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many calls, newest first.")] = 20,
    connector: Annotated[str | None, typer.Option("--connector", "-c", help="Only this connector.")] = None,
    key: Annotated[str | None, typer.Option("--key", "-k", help="Only this idempotency key.")] = None,
    store: Annotated[str | None, typer.Option("--store", help="Only this store's writes.")] = None,
) -> None:
    """Show the audit log of write operations: every call, every attempt, and its outcome."""
    err = console(stderr=True)
    try:
        settings = load_settings()
    except ValidationError as exc:
        err.print(f"[red]Invalid configuration:[/red] {exc.error_count()} problem(s); see `storelink config`.")
        raise typer.Exit(2) from None
    if settings.database_url is not None:  # the one trail every replica writes
        try:
            calls = asyncio.run(_recent_in_postgres(settings, limit=limit, connector=connector, key=key, store=store))
        except ConnectorError as exc:
            err.print(f"[red]{exc.message}[/red]", soft_wrap=True)
            raise typer.Exit(1) from None
        _show(calls, as_json=as_json, filtered=bool(connector or key or store))
        return
    path = settings.data_dir / "storelink.db"
    if not path.exists():
        if as_json:
            print("[]")
        else:
            err.print(f"No audit log yet: nothing has been written ({path} does not exist).")
        return
    db = EmbeddedStore(path)
    try:
        trail = embedded_trail(db)
        calls = asyncio.run(trail.recent(limit=limit, connector=connector, key=stored_key(key, store), store=store))
    finally:
        db.close()
    _show(calls, as_json=as_json, filtered=bool(connector or key or store))


async def _recent_in_postgres(
    settings: Settings, *, limit: int, connector: str | None, key: str | None, store: str | None
) -> list[AuditCall]:
    assert settings.database_url is not None
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)  # the error below says it once
    database = Database(settings.database_url.get_secret_value(), schema=settings.database_schema)
    await database.open()
    try:
        trail = postgres_trail(database)
        return await trail.recent(limit=limit, connector=connector, key=stored_key(key, store), store=store)
    finally:
        await database.close()


def _show(calls: list[AuditCall], *, as_json: bool, filtered: bool) -> None:
    err = console(stderr=True)
    if as_json:
        print(json.dumps([c.model_dump(mode="json") for c in calls], indent=2))
        return
    if not calls:
        err.print("No write calls recorded" + (" for that filter." if filtered else "."))
        return
    table = Table("started (UTC)", "operation", "mode", "outcome", "attempts", "what", "idempotency key / error")
    for call in calls:
        colour = _COLOURS.get(call.outcome, "white")
        attempts = ", ".join(a.outcome + (f" {a.status}" if a.status else "") for a in call.attempts) or "none sent"
        if call.replays:
            attempts += f"; {call.replays} replay(s)"
        note = call.idempotency_key + (f"\n{call.error_message}" if call.error_message else "")
        table.add_row(
            _when(call.started_at),
            f"{call.connector}.{call.operation}",
            call.mode,
            f"[{colour}]{describe_outcome(call)}[/]",
            attempts,
            call.summary,
            note,
        )
    console().print(table)
